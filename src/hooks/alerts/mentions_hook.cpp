#include "hooks/alerts/mentions_hook.hpp"

#include <algorithm>
#include <map>

#include "immp/host.hpp"
#include "immp/plug.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frames of large
// coroutines: they are allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::hooks {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// `text` with the byte range [start, end) of its plain text marked as a
// mention of `user`; segments are split where the range cuts them.
RichText marked(const RichText& text, std::size_t start, std::size_t end, const UserPtr& user) {
  RichText out;
  std::size_t pos = 0;
  for (const Segment& seg : text.segments()) {
    std::size_t from = pos;
    std::size_t to = pos + seg.text.size();
    pos = to;
    if (to <= start || from >= end) {
      out.push(seg);
      continue;
    }
    std::size_t a = std::max(start, from) - from;
    std::size_t b = std::min(end, to) - from;
    if (a > 0) {
      Segment head = seg;
      head.text = seg.text.substr(0, a);
      out.push(std::move(head));
    }
    Segment mid = seg;
    mid.text = seg.text.substr(a, b - a);
    mid.mention = user;
    out.push(std::move(mid));
    if (b < seg.text.size()) {
      Segment tail = seg;
      tail.text = seg.text.substr(b);
      out.push(std::move(tail));
    }
  }
  return out;
}

}  // namespace

SpecPtr MentionsHook::schema() {
  std::vector<Field> fields = base_fields();
  fields.push_back({"usernames", boolean(), true, "match network usernames"});
  fields.push_back({"real-names", boolean(), false, "match real (display) names"});
  fields.push_back({"ambiguous", boolean(), false, "alert everyone an ambiguous mention may mean"});
  return object(std::move(fields));
}

MentionsHook::MentionsHook(const Init& init)
    : AlertHookBase(init),
      usernames_(config().at("usernames").as_bool()),
      real_names_(config().at("real-names").as_bool()),
      ambiguous_(config().at("ambiguous").as_bool()) {}

std::vector<std::pair<std::size_t, std::size_t>> MentionsHook::find_mentions(
    std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t i = text.find('@'); i != std::string_view::npos; i = text.find('@', i)) {
    std::size_t end = i + 1;
    while (end < text.size() && !is_space(text[end])) ++end;
    if (end > i + 1) out.emplace_back(i, end);
    i = end;
  }
  return out;
}

// Python's \w for ASCII; every non-ASCII byte is kept (letters of other
// scripts are word characters to Python too).
std::string MentionsHook::clean(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u) || c == '_') {
      out += static_cast<char>(u < 0x80 ? std::tolower(u) : u);
    }
  }
  return out;
}

std::vector<UserPtr> MentionsHook::match(std::string_view mention,
                                         const std::vector<UserPtr>& members) const {
  std::string name = clean(mention);
  if (name.empty()) return {};
  std::vector<UserPtr> exact;
  std::vector<UserPtr> partial;
  for (const UserPtr& m : members) {
    if (usernames_ && !m->username.empty() && clean(m->username) == name) return {m};
    if (real_names_ && !m->real_name.empty()) {
      std::string real = clean(m->real_name);
      if (real == name) exact.push_back(m);
      if (real.starts_with(name)) partial.push_back(m);
    }
  }
  if (!exact.empty()) return exact;
  if (partial.size() == 1 || ambiguous_) return partial;
  return {};
}

bool MentionsHook::wants(const Received& r) const {
  if (!r.primary || !r.source->text) return false;
  for (const Segment& s : r.source->text->segments()) {
    if (s.mention || s.text.find('@') != std::string::npos) return true;
  }
  return false;
}

Task<SentPtr> MentionsHook::before_receive(const Received& r) {
  if (!r.sent->text || r.sent->text->plain().find('@') == std::string::npos) co_return r.sent;
  std::optional<Audience> audience = co_await this->audience(r);
  if (!audience) co_return r.sent;
  RichText text = *r.sent->text;
  bool changed = false;
  std::string plain = text.plain();
  for (auto [start, end] : find_mentions(plain)) {
    std::vector<UserPtr> found = match(std::string_view(plain).substr(start, end - start),
                                       audience->members);
    if (found.size() != 1) continue;
    text = marked(text, start, end, found.front());
    changed = true;
  }
  if (!changed) co_return r.sent;
  auto copy = std::make_shared<SentMessage>(*r.sent);
  copy->text = std::move(text);
  co_return copy;
}

Task<> MentionsHook::on_receive(const Received& r) {
  std::optional<Audience> audience = co_await this->audience(r);
  if (!audience) co_return;
  const Message& source = *r.source;
  std::map<UserKey, UserPtr> mentioned;
  std::string plain = source.text->plain();
  for (auto [start, end] : find_mentions(plain)) {
    for (UserPtr& u : match(std::string_view(plain).substr(start, end - start),
                            audience->members)) {
      mentioned.emplace(UserKey::of(*u), std::move(u));
    }
  }
  for (const Segment& s : source.text->segments()) {
    if (!s.mention) continue;
    for (const UserPtr& m : audience->members) {
      if (UserKey::of(*m) == UserKey::of(*s.mention)) mentioned.emplace(UserKey::of(*m), m);
    }
  }
  if (mentioned.empty()) co_return;
  RichText what(" mentioned you");
  RichText anonymous("You were mentioned");
  RichText text = co_await alert_text(*r.sent, source, std::move(what), std::move(anonymous));
  for (const auto& [key, user] : mentioned) {
    if (source.user && UserKey::of(*source.user) == key) continue;
    Plug* plug = r.sent->channel.plug();
    if (!plug) co_return;
    co_await alert(*plug, *user, text);
  }
}

}  // namespace immp::hooks
