#include "hooks/filter/filter_hook.hpp"

#include <algorithm>

namespace immp::hooks {

namespace {

constexpr std::size_t kMaxChannels = 10000;

std::unique_ptr<PatternSet> compile(const Node& list_or_map, bool keys, const LoggerPtr& log,
                                    std::vector<std::string>* values) {
  std::vector<std::string> patterns;
  std::vector<const Node*> nodes;
  if (keys) {
    for (const auto& [pattern, value] : list_or_map.as_map()) {
      patterns.push_back(pattern);
      nodes.push_back(&value);
      if (values) values->push_back(value.as_string());
    }
  } else {
    for (const Node& n : list_or_map.as_list()) {
      patterns.push_back(n.as_string());
      nodes.push_back(&n);
    }
  }
  auto set = std::make_unique<PatternSet>(patterns);
  for (const auto& p : set->problems()) {
    if (!p.fallback) {
      nodes[p.index]->fail("pattern '" + p.pattern + "' cannot be used: " + p.error +
                           " (std::regex: " + p.fallback_error + ")");
    }
    log->warn(
        "{}: pattern '{}' is not RE2 syntax ({}): matched on its own with std::regex, "
        "more slowly",
        nodes[p.index]->mark().str(), p.pattern, p.error);
  }
  return set;
}

}  // namespace

SpecPtr FilterHook::schema() {
  return object({
      {"groups", list_of(str()), required, "groups whose channels are filtered"},
      {"users", map_of(list_of(text())), Node::map(),
       "plug -> user ids or usernames whose messages are dropped"},
      {"drop", list_of(str()), Node::list(),
       "patterns (Python regular expressions, case ignored): a message whose text matches one "
       "is dropped"},
      {"replace", map_of(str()), Node::map(),
       "pattern -> replacement (\\1 or \\g<1> for groups), applied in order to the text"},
  });
}

FilterHook::FilterHook(const Init& init) : Hook(init) {
  const Node& c = config();
  for (const Node& g : c.at("groups").as_list()) {
    const Group* group = host().group(g.as_string());
    if (!group) g.fail("no group named '" + g.as_string() + "' (see `groups`)");
    groups_.push_back(group);
  }
  for (const auto& [plug, ids] : c.at("users").as_map()) {
    auto& list = users_[plug];
    for (const Node& id : ids.as_list()) list.push_back(id.as_text());
  }
  drop_ = compile(c.at("drop"), false, log(), nullptr);
  rewrite_ = compile(c.at("replace"), true, log(), &replacements_);
}

bool FilterHook::wants(const Received& r) const {
  if (r.origin || r.source.get() != static_cast<const Message*>(r.sent.get())) return false;
  auto known = membership_.find(r.sent->channel);
  return known == membership_.end() || known->second;
}

Task<bool> FilterHook::in_groups(const Channel& channel) {
  if (auto it = membership_.find(channel); it != membership_.end()) co_return it->second;
  bool in = false;
  for (const Group* g : groups_) {
    in = co_await g->has_channel(host(), channel);
    if (in) break;
  }
  if (membership_.size() >= kMaxChannels) membership_.clear();
  membership_.emplace(channel, in);
  co_return in;
}

bool FilterHook::blocked(const User& user) const {
  if (!user.handle) return false;
  auto it = users_.find(user.handle->name());
  if (it == users_.end()) return false;
  const auto& ids = it->second;
  return std::find(ids.begin(), ids.end(), user.id) != ids.end() ||
         (!user.username.empty() && std::find(ids.begin(), ids.end(), user.username) != ids.end());
}

Task<SentPtr> FilterHook::before_receive(const Received& r) {
  const SentPtr& sent = r.sent;
  bool in = co_await in_groups(sent->channel);
  if (!in) co_return sent;
  if (sent->user && blocked(*sent->user)) {
    ++counts_.dropped_users;
    log()->debug("dropped a message from {} in {}", sent->user->id, sent->channel.repr());
    co_return nullptr;
  }
  if (!sent->text || sent->text->empty()) co_return sent;
  auto segments = sent->text->segments();
  std::string joined;
  std::string_view text;
  if (segments.size() == 1) {
    text = segments.front().text;
  } else {
    joined = sent->text->plain();
    text = joined;
  }
  if (drop_->size() > 0) {
    drop_->match(text, hits_);
    if (!hits_.empty()) {
      ++counts_.dropped_text;
      log()->debug("dropped a message matching a pattern in {}", sent->channel.repr());
      co_return nullptr;
    }
  }
  if (rewrite_->size() == 0) co_return sent;
  rewrite_->match(text, hits_);
  if (hits_.empty()) co_return sent;
  // Each segment is rewritten on its own, so formatting stays where it
  // was; a match across two segments is not rewritten.
  std::vector<Segment> out(segments.begin(), segments.end());
  for (std::size_t i : hits_) {
    for (Segment& s : out) s.text = rewrite_->replace(i, s.text, replacements_[i]);
  }
  ++counts_.rewritten;
  auto copy = std::make_shared<SentMessage>(*sent);
  copy->text = RichText(std::move(out));
  co_return copy;
}

}  // namespace immp::hooks
