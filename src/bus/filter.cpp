#include "bus/filter.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <re2/re2.h>
#include <boost/json.hpp>

namespace immp::bus {

namespace json = boost::json;

Filter::Filter() = default;
Filter::~Filter() = default;
Filter::Filter(Filter&&) noexcept = default;
Filter& Filter::operator=(Filter&&) noexcept = default;

namespace {

std::optional<FieldError> strings(const json::object& o, std::string_view key,
                                  const std::string& where, std::vector<std::string>& out) {
  const json::value* v = o.if_contains(key);
  if (!v) return std::nullopt;
  std::string at = fmt::format("{}.{}", where, key);
  if (v->is_string()) {
    out.emplace_back(v->as_string());
    return std::nullopt;
  }
  if (!v->is_array()) return FieldError{at, "expected a string or an array of strings"};
  std::size_t i = 0;
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) return FieldError{fmt::format("{}[{}]", at, i), "expected a string"};
    out.emplace_back(item.as_string());
    ++i;
  }
  return std::nullopt;
}

template <typename T>
bool any_of(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool any_of(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

std::optional<FieldError> Filter::parse(const json::value& value, const std::string& where,
                                        const Host& host, Filter& out) {
  if (value.is_null()) {
    out = Filter();
    return std::nullopt;
  }
  if (!value.is_object()) return FieldError{where, "expected an object"};
  const auto& o = value.as_object();
  static const std::vector<std::string> known = {"plugs", "channels", "groups",
                                                 "kinds", "users",    "text"};
  for (const auto& [key, v] : o) {
    if (!any_of(known, std::string(key))) {
      auto near = nearest(key, known);
      return FieldError{fmt::format("{}.{}", where, std::string_view(key)),
                        near ? fmt::format("unknown field (did you mean '{}'?)", *near)
                             : "unknown field (plugs, channels, groups, kinds, users, text)"};
    }
  }
  Filter f;
  std::vector<std::string> names;
  if (auto e = strings(o, "plugs", where, f.plugs_)) return e;
  for (std::size_t i = 0; i < f.plugs_.size(); ++i) {
    if (!host.plug(f.plugs_[i])) {
      return FieldError{fmt::format("{}.plugs[{}]", where, i),
                        fmt::format("no plug '{}'", f.plugs_[i])};
    }
  }
  if (auto e = strings(o, "channels", where, names)) return e;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto c = resolve_source(host, names[i]);
    if (!c) {
      return FieldError{
          fmt::format("{}.channels[{}]", where, i),
          fmt::format("no channel '{}' (a name under channels, or plug/source)", names[i])};
    }
    f.channels_.push_back(std::move(*c));
  }
  if (auto e = strings(o, "groups", where, f.groups_)) return e;
  for (std::size_t i = 0; i < f.groups_.size(); ++i) {
    if (!host.group(f.groups_[i])) {
      return FieldError{fmt::format("{}.groups[{}]", where, i),
                        fmt::format("no group '{}'", f.groups_[i])};
    }
  }
  if (auto e = strings(o, "kinds", where, f.types_)) return e;
  if (auto e = strings(o, "users", where, f.users_)) return e;
  if (const json::value* t = o.if_contains("text")) {
    if (!t->is_string()) return FieldError{where + ".text", "expected a string (a pattern)"};
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_unique<RE2>(std::string_view(t->as_string()), options);
    if (!re->ok()) {
      return FieldError{where + ".text", fmt::format("bad pattern: {}", re->error())};
    }
    f.text_ = std::move(re);
  }
  out = std::move(f);
  return std::nullopt;
}

bool Filter::matches_now(const Event& e) const {
  if (!types_.empty() && !any_of(types_, e.type)) return false;
  if (!plugs_.empty()) {
    if (!e.channel || !e.channel->handle || !any_of(plugs_, e.channel->handle->name()))
      return false;
  }
  if (!channels_.empty() && (!e.channel || !any_of(channels_, *e.channel))) return false;
  if (!users_.empty()) {
    std::string_view username = event_username(e);
    if (!any_of(users_, event_user_id(e)) && (username.empty() || !any_of(users_, username))) {
      return false;
    }
  }
  if (text_ && !RE2::PartialMatch(event_plain(e), *text_)) return false;
  return true;
}

Task<bool> Filter::matches(const Host& host, const Event& e) const {
  if (!matches_now(e)) co_return false;
  if (groups_.empty()) co_return true;
  if (!e.channel) co_return false;
  for (const auto& name : groups_) {
    const Group* g = host.group(name);
    if (!g) continue;  // removed by a reload since
    bool in = co_await g->has_channel(host, *e.channel);
    if (in) co_return true;
  }
  co_return false;
}

std::string Filter::describe() const {
  std::string out;
  auto list = [&](std::string_view key, const std::vector<std::string>& v) {
    if (v.empty()) return;
    out += fmt::format("{}{}={}", out.empty() ? "" : " ", key, fmt::join(v, ","));
  };
  list("plugs", plugs_);
  std::vector<std::string> channels;
  for (const auto& c : channels_) channels.push_back(source_of(c));
  list("channels", channels);
  list("groups", groups_);
  list("kinds", types_);
  list("users", users_);
  if (text_) out += fmt::format("{}text=/{}/", out.empty() ? "" : " ", text_->pattern());
  return out.empty() ? "everything" : out;
}

}  // namespace immp::bus
