#include "hooks/autorespond/autorespond_hook.hpp"

#include <algorithm>

namespace immp::hooks {

namespace {

constexpr std::string_view kTick = "\xE2\x9C\x85";   // U+2705 WHITE HEAVY CHECK MARK
constexpr std::string_view kCross = "\xE2\x9D\x8C";  // U+274C CROSS MARK
// Remembered cooldowns beyond this are forgotten (the oldest matter least).
constexpr std::size_t kMaxCooldowns = 100000;
constexpr std::size_t kMaxChannels = 10000;

}  // namespace

SpecPtr AutoRespondHook::schema() {
  return object({
      {"groups", list_of(str()), required, "groups whose channels get responses"},
      {"responses", map_of(str()), Node::map(),
       "pattern (Python regular expression, case ignored) -> response ({0}, {} for groups)"},
      {"cooldown", real(), 5.0,
       "seconds a pattern stays quiet in a channel after answering there (0: never; stops "
       "two bots from answering each other forever)"},
  });
}

AutoRespondHook::AutoRespondHook(const Init& init)
    : Hook(init), origin_(std::make_shared<const Origin>(Origin{init.name, "response"})) {
  const Node& c = config();
  for (const Node& g : c.at("groups").as_list()) {
    const Group* group = host().group(g.as_string());
    if (!group) g.fail("no group named '" + g.as_string() + "' (see `groups`)");
    groups_.push_back(group);
  }
  for (const auto& [pattern, response] : c.at("responses").as_map()) {
    responses_.emplace_back(pattern, response.as_string());
  }
  const Node& cooldown = c.at("cooldown");
  if (cooldown.as_double() < 0) cooldown.fail("cannot be negative");
  cooldown_ = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(cooldown.as_double()));
  compile();
  add_command({.name = "ar-add",
               .usage = "<match> <response>",
               .help = "Add a new trigger / response pair.",
               .parser = CommandParser::shlex,
               .run = [this](CommandContext& ctx) { return add(ctx); }});
  add_command({.name = "ar-remove",
               .usage = "<match>",
               .help = "Remove an existing trigger.",
               .parser = CommandParser::shlex,
               .run = [this](CommandContext& ctx) { return remove(ctx); }});
}

void AutoRespondHook::compile() {
  std::vector<std::string> patterns;
  patterns.reserve(responses_.size());
  for (const auto& [pattern, response] : responses_) patterns.push_back(pattern);
  set_ = std::make_unique<PatternSet>(patterns);
  for (const auto& p : set_->problems()) {
    if (p.fallback) {
      log()->warn(
          "pattern '{}' is not RE2 syntax ({}): matched on its own with std::regex, "
          "more slowly",
          p.pattern, p.error);
    } else {
      log()->error("pattern '{}' cannot be used: {} (std::regex: {})", p.pattern, p.error,
                   p.fallback_error);
    }
  }
}

Clock::time_point AutoRespondHook::now() const {
  const auto& clock = host().options().clock;
  return clock ? clock() : Clock::now();
}

bool AutoRespondHook::wants(const Received& r) const {
  const SentMessage& s = *r.sent;
  if (!r.primary || !s.text || s.text->empty() || s.deleted || s.reaction) return false;
  // Never an echo of a post of this host: our own answers, a bridge's
  // copies, another hook's messages.
  if (r.origin || r.source.get() != static_cast<const Message*>(r.sent.get())) return false;
  if (responses_.empty()) return false;
  auto known = membership_.find(s.channel);
  return known == membership_.end() || known->second;
}

Task<bool> AutoRespondHook::in_groups(const Channel& channel) {
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

Task<> AutoRespondHook::on_receive(const Received& r) {
  const SentPtr& sent = r.sent;
  bool in = co_await in_groups(sent->channel);
  if (!in) co_return;
  // One segment (most messages): match its text where it lies.
  auto segments = sent->text->segments();
  std::string joined;
  std::string_view text;
  if (segments.size() == 1) {
    text = segments.front().text;
  } else {
    joined = sent->text->plain();
    text = joined;
  }
  set_->match(text, hits_);
  if (hits_.empty()) co_return;
  // Copied: ar-add/ar-remove may change the table while we post.
  std::vector<std::size_t> hits = hits_;
  Clock::time_point at = now();
  for (std::size_t i : hits) {
    const auto& [pattern, response] = responses_[i];
    if (cooldown_.count() > 0) {
      Key key{sent->channel, pattern};
      auto it = last_.find(key);
      if (it != last_.end() && at - it->second < cooldown_) {
        log()->debug("'{}' answered in {} less than the cooldown ago: quiet", pattern,
                     sent->channel.repr());
        continue;
      }
      if (last_.size() >= kMaxCooldowns) last_.clear();
      last_.insert_or_assign(std::move(key), at);
    }
    std::string answer = response;
    if (response.find('{') != std::string::npos || response.find('}') != std::string::npos) {
      auto groups = set_->groups(i, text);
      std::vector<std::string> args;
      if (groups) args.assign(groups->begin() + 1, groups->end());
      answer = format_positional(response, args);
    }
    log()->debug("'{}' matched in {}", pattern, sent->channel.repr());
    auto msg = std::make_shared<Message>();
    msg->text = RichText(std::move(answer));
    host().post(sent->channel, std::move(msg), origin_);
  }
}

void AutoRespondHook::save() {
  Node c = config();
  NodeMap map;
  for (const auto& [pattern, response] : responses_) map.emplace_back(pattern, Node(response));
  Node responses(std::move(map));
  if (const Node* old = c.find("responses")) responses.set_mark(old->mark());
  c.set("responses", std::move(responses));
  c.repath();
  set_config(std::move(c));
}

Task<> AutoRespondHook::add(CommandContext& ctx) {
  const std::string& match = ctx.args[0];
  const std::string& response = ctx.args[1];
  PatternSet check({match});
  if (!check.problems().empty() && !check.problems().front().fallback) {
    ctx.reply(std::string(kCross) + " Bad pattern: " + check.problems().front().error);
    co_return;
  }
  auto it = std::find_if(responses_.begin(), responses_.end(),
                         [&](const auto& p) { return p.first == match; });
  bool updated = it != responses_.end();
  if (updated) {
    it->second = response;
  } else {
    responses_.emplace_back(match, response);
    compile();
  }
  save();
  ctx.reply(std::string(kTick) + (updated ? " Updated" : " Added"));
}

Task<> AutoRespondHook::remove(CommandContext& ctx) {
  const std::string& match = ctx.args[0];
  auto it = std::find_if(responses_.begin(), responses_.end(),
                         [&](const auto& p) { return p.first == match; });
  if (it == responses_.end()) {
    ctx.reply(std::string(kCross) + " No such response");
    co_return;
  }
  responses_.erase(it);
  compile();
  save();
  ctx.reply(std::string(kTick) + " Removed");
}

}  // namespace immp::hooks
