#include "bus/envelope.hpp"

#include <any>
#include <array>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "core/message_json.hpp"
#include "immp/config.hpp"

namespace immp::bus {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, kKinds> kKindNames = {"message", "edit", "delete",
                                                             "join",    "part", "reaction"};

// RFC 3339 in UTC with milliseconds, as CloudEvents wants `time`.
// "2026-12-02T11:28:56.123Z": civil-date arithmetic, not gmtime_r, which
// takes the time zone lock at every call.
std::string rfc3339(Clock::time_point at) {
  using namespace std::chrono;
  auto ms = floor<milliseconds>(at.time_since_epoch());
  sys_days day = floor<days>(sys_time<milliseconds>(ms));
  year_month_day ymd(day);
  auto in_day = ms - duration_cast<milliseconds>(day.time_since_epoch());
  hh_mm_ss<milliseconds> hms(in_day);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     hms.hours().count(), hms.minutes().count(), hms.seconds().count(),
                     hms.subseconds().count());
}

// The network's payload, when it is something JSON can carry.
std::optional<json::value> raw_json(const std::any& raw) {
  if (!raw.has_value()) return std::nullopt;
  if (const auto* v = std::any_cast<json::value>(&raw)) return *v;
  if (const auto* o = std::any_cast<json::object>(&raw)) return json::value(*o);
  if (const auto* s = std::any_cast<std::string>(&raw)) return json::value(*s);
  return std::nullopt;
}

std::string_view json_kind(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "?";
}

FieldError expected(const std::string& where, std::string_view what, const json::value& got) {
  return {where, fmt::format("expected {}, got {}", what, json_kind(got))};
}

// One key of an object checked by `check`; unknown keys are errors that
// suggest the nearest known one.
struct Rule {
  std::string_view key;
  std::optional<FieldError> (*check)(const json::value&, const std::string&);
};

std::optional<FieldError> is_string(const json::value& v, const std::string& where) {
  if (!v.is_string()) return expected(where, "a string", v);
  return std::nullopt;
}
std::optional<FieldError> is_bool(const json::value& v, const std::string& where) {
  if (!v.is_bool()) return expected(where, "a boolean", v);
  return std::nullopt;
}
std::optional<FieldError> is_number(const json::value& v, const std::string& where) {
  if (!v.is_number()) return expected(where, "a number", v);
  return std::nullopt;
}
std::optional<FieldError> is_integer(const json::value& v, const std::string& where) {
  if (!v.is_int64() && !v.is_uint64()) return expected(where, "an integer", v);
  return std::nullopt;
}
std::optional<FieldError> is_count(const json::value& v, const std::string& where) {
  if (v.is_uint64() || (v.is_int64() && v.as_int64() >= 0)) return std::nullopt;
  return FieldError{where, "expected a whole number of bytes, at least 0"};
}
std::optional<FieldError> anything(const json::value&, const std::string&) { return std::nullopt; }

std::optional<FieldError> check_object(const json::value& v, const std::string& where,
                                       std::span<const Rule> rules,
                                       std::initializer_list<std::string_view> needed = {}) {
  if (!v.is_object()) return expected(where, "an object", v);
  const auto& o = v.as_object();
  for (std::string_view key : needed) {
    if (!o.contains(key)) return FieldError{fmt::format("{}.{}", where, key), "missing"};
  }
  for (const auto& [key, value] : o) {
    std::string at = fmt::format("{}.{}", where, std::string_view(key));
    const Rule* rule = nullptr;
    for (const auto& r : rules) {
      if (r.key == key) rule = &r;
    }
    if (!rule) {
      std::vector<std::string> known;
      for (const auto& r : rules) known.emplace_back(r.key);
      auto near = nearest(key, known);
      return FieldError{at, near ? fmt::format("unknown field (did you mean '{}'?)", *near)
                                 : std::string("unknown field")};
    }
    if (auto e = rule->check(value, at)) return e;
  }
  return std::nullopt;
}

std::optional<FieldError> check_user(const json::value& v, const std::string& where) {
  static constexpr Rule rules[] = {
      {"id", is_string},     {"plug", is_string}, {"username", is_string}, {"real_name", is_string},
      {"avatar", is_string}, {"link", is_string}, {"suggested", is_bool}};
  return check_object(v, where, rules);
}

std::optional<FieldError> check_users(const json::value& v, const std::string& where) {
  if (!v.is_array()) return expected(where, "an array", v);
  std::size_t i = 0;
  for (const auto& u : v.as_array()) {
    if (auto e = check_user(u, fmt::format("{}[{}]", where, i++))) return e;
  }
  return std::nullopt;
}

std::optional<FieldError> check_segment(const json::value& v, const std::string& where) {
  static constexpr Rule rules[] = {
      {"text", is_string},    {"bold", is_bool},   {"italic", is_bool},
      {"underline", is_bool}, {"strike", is_bool}, {"code", is_bool},
      {"pre", is_bool},       {"link", is_string}, {"mention", check_user}};
  return check_object(v, where, rules);
}

std::optional<FieldError> check_text(const json::value& v, const std::string& where) {
  if (v.is_string()) return std::nullopt;
  if (!v.is_array()) return expected(where, "a string or an array of segments", v);
  std::size_t i = 0;
  for (const auto& s : v.as_array()) {
    if (auto e = check_segment(s, fmt::format("{}[{}]", where, i++))) return e;
  }
  return std::nullopt;
}

std::optional<FieldError> check_channel(const json::value& v, const std::string& where) {
  static constexpr Rule rules[] = {{"plug", is_string}, {"source", is_string}};
  return check_object(v, where, rules);
}

std::optional<FieldError> check_sent(const json::value& v, const std::string& where);

std::optional<FieldError> check_reaction(const json::value& v, const std::string& where) {
  static constexpr Rule rules[] = {{"emoji", is_string}, {"removed", is_bool}, {"on", check_sent}};
  return check_object(v, where, rules, {"emoji"});
}

std::optional<FieldError> check_attachment(const json::value& v, const std::string& where) {
  if (!v.is_object()) return expected(where, "an object", v);
  const json::value* type = v.as_object().if_contains("type");
  if (!type) return FieldError{where + ".type", "missing (file, location or message)"};
  if (!type->is_string()) return expected(where + ".type", "a string", *type);
  std::string_view t = type->as_string();
  if (t == "file") {
    static constexpr Rule rules[] = {
        {"type", anything},  {"kind", is_string}, {"title", is_string}, {"url", is_string},
        {"path", is_string}, {"mime", is_string}, {"size", is_count},   {"origin", is_string},
        {"ref", is_string},  {"image", is_bool}};
    if (auto e = check_object(v, where, rules)) return e;
    if (const auto* k = v.as_object().if_contains("kind")) {
      static constexpr std::string_view kinds[] = {"file",  "image", "video",
                                                   "audio", "voice", "sticker"};
      if (std::find(std::begin(kinds), std::end(kinds), k->as_string()) == std::end(kinds)) {
        return FieldError{where + ".kind",
                          "expected one of file, image, video, audio, voice, sticker"};
      }
    }
    return std::nullopt;
  }
  if (t == "location") {
    static constexpr Rule rules[] = {{"type", anything},
                                     {"latitude", is_number},
                                     {"longitude", is_number},
                                     {"name", is_string},
                                     {"address", is_string}};
    return check_object(v, where, rules, {"latitude", "longitude"});
  }
  if (t == "message") {
    json::object copy = v.as_object();
    copy.erase("type");
    bool sent = false;
    if (const auto* s = copy.if_contains("sent")) {
      if (!s->is_bool()) return expected(where + ".sent", "a boolean", *s);
      sent = s->as_bool();
      copy.erase("sent");
    }
    json::value inner(std::move(copy));
    return sent ? check_sent(inner, where) : check_message(inner, where);
  }
  return FieldError{where + ".type", fmt::format("unknown attachment type '{}' (file, location or "
                                                 "message)",
                                                 t)};
}

std::optional<FieldError> check_attachments(const json::value& v, const std::string& where) {
  if (!v.is_array()) return expected(where, "an array", v);
  std::size_t i = 0;
  for (const auto& a : v.as_array()) {
    if (auto e = check_attachment(a, fmt::format("{}[{}]", where, i++))) return e;
  }
  return std::nullopt;
}

std::optional<FieldError> check_message_rules(const json::value& v, const std::string& where) {
  static constexpr Rule rules[] = {{"text", check_text},
                                   {"plain", is_string},
                                   {"user", check_user},
                                   {"action", is_bool},
                                   {"edited", is_bool},
                                   {"deleted", is_bool},
                                   {"reply_to", check_sent},
                                   {"thread", is_string},
                                   {"reaction", check_reaction},
                                   {"joined", check_users},
                                   {"left", check_users},
                                   {"title", is_string},
                                   {"attachments", check_attachments},
                                   {"raw", anything},
                                   {"id", is_string},
                                   {"channel", check_channel},
                                   {"at", is_integer},
                                   {"revision", is_string},
                                   {"receipt_deleted", is_bool}};
  return check_object(v, where, rules);
}

std::optional<FieldError> check_sent(const json::value& v, const std::string& where) {
  if (auto e = check_message_rules(v, where)) return e;
  if (!v.as_object().contains("id")) return FieldError{where + ".id", "missing"};
  return std::nullopt;
}

bool extension_name(std::string_view name) {
  if (name.empty() || name.size() > 20) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

bool dotted_name(std::string_view name) {
  if (name.empty() || name.size() > 100) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view kind_name(Kind kind) { return kKindNames[static_cast<std::size_t>(kind)]; }

std::optional<Kind> kind_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kKinds; ++i) {
    if (kKindNames[i] == name) return static_cast<Kind>(i);
  }
  return std::nullopt;
}

Kind kind_of(const Message& msg) {
  if (msg.deleted) return Kind::remove;
  if (msg.reaction) return Kind::reaction;
  if (msg.edited) return Kind::edit;
  if (!msg.joined.empty()) return Kind::join;
  if (!msg.left.empty()) return Kind::part;
  return Kind::message;
}

std::string source_of(const Channel& channel) {
  std::string out = channel.handle ? channel.handle->name() : std::string();
  out += '/';
  out += channel.source;
  return out;
}

json::object to_envelope(const SentMessage& sent, std::uint64_t seq, const json::storage_ptr& sp) {
  json::object data = sent_to_json(sent, sp);
  if (sent.text) data["plain"] = sent.plain();
  if (auto raw = raw_json(sent.raw)) data["raw"] = std::move(*raw);
  json::object e(sp);
  e.reserve(9);
  e["specversion"] = "1.0";
  e["immpversion"] = kEnvelopeVersion;
  e["id"] = std::to_string(seq);
  e["source"] = source_of(sent.channel);
  e["type"] = kind_name(kind_of(sent));
  e["time"] = rfc3339(sent.at);
  e["subject"] = sent.id;
  e["datacontenttype"] = "application/json";
  e["data"] = std::move(data);
  return e;
}

std::optional<FieldError> check_message(const json::value& data, const std::string& where) {
  return check_message_rules(data, where);
}

std::optional<FieldError> check_envelope(const json::value& envelope, std::string_view where,
                                         bool any_type, Incoming* out) {
  std::string base(where);
  if (!envelope.is_object()) return expected(base, "an object (a CloudEvents envelope)", envelope);
  const auto& o = envelope.as_object();
  auto field = [&](std::string_view key) { return fmt::format("{}.{}", base, key); };
  auto need_string = [&](std::string_view key, bool required) -> std::optional<FieldError> {
    const json::value* v = o.if_contains(key);
    if (!v) {
      if (required) return FieldError{field(key), "missing"};
      return std::nullopt;
    }
    if (!v->is_string()) return expected(field(key), "a string", *v);
    if (required && v->as_string().empty()) return FieldError{field(key), "must not be empty"};
    return std::nullopt;
  };
  for (std::string_view key : {"specversion", "id", "source", "type"}) {
    if (auto e = need_string(key, true)) return e;
  }
  if (o.at("specversion").as_string() != "1.0") {
    return FieldError{field("specversion"), "expected \"1.0\" (CloudEvents 1.0)"};
  }
  for (std::string_view key : {"time", "subject", "datacontenttype", "dataschema"}) {
    if (auto e = need_string(key, false)) return e;
  }
  if (const auto* ct = o.if_contains("datacontenttype");
      ct && ct->as_string() != "application/json") {
    return FieldError{field("datacontenttype"), "expected \"application/json\""};
  }
  if (const auto* v = o.if_contains("immpversion")) {
    if (!v->is_int64() || v->as_int64() != kEnvelopeVersion) {
      return FieldError{field("immpversion"),
                        fmt::format("expected {} (this host speaks version {})", kEnvelopeVersion,
                                    kEnvelopeVersion)};
    }
  }
  std::string_view type = o.at("type").as_string();
  std::optional<Kind> kind = kind_from_name(type);
  if (!kind && !(any_type && dotted_name(type))) {
    return FieldError{field("type"),
                      any_type ? fmt::format("'{}' is not a kind (message, edit, delete, join, "
                                             "part, reaction) nor a dotted name of lower-case "
                                             "letters, digits, '.', '_' and '-'",
                                             type)
                               : fmt::format("'{}' is not a kind: expected message, edit, delete, "
                                             "join, part or reaction",
                                             type)};
  }
  for (const auto& [key, value] : o) {
    static constexpr std::string_view known[] = {
        "specversion", "immpversion",     "id",         "source", "type", "time",
        "subject",     "datacontenttype", "dataschema", "data"};
    if (std::find(std::begin(known), std::end(known), std::string_view(key)) != std::end(known)) {
      continue;
    }
    if (!extension_name(key)) {
      return FieldError{field(key),
                        "not a CloudEvents attribute (extension names are 1 to 20 "
                        "lower-case letters or digits)"};
    }
  }
  const json::value* data = o.if_contains("data");
  if (kind) {
    if (!data) return FieldError{field("data"), "missing (the message)"};
    if (auto e = check_message(*data, field("data"))) return e;
  }
  if (out) {
    out->id = o.at("id").as_string();
    out->source = o.at("source").as_string();
    out->type = type;
    out->kind = kind;
    if (const auto* s = o.if_contains("subject")) out->subject = s->as_string();
    out->data = data ? *data : json::value();
  }
  return std::nullopt;
}

std::optional<Channel> resolve_source(const Host& host, std::string_view source) {
  if (auto c = host.channel(source)) return c;
  auto slash = source.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  std::string_view plug = source.substr(0, slash);
  if (!host.plug(plug)) return std::nullopt;
  return Channel{&host.plug_handle(plug), std::string(source.substr(slash + 1))};
}

}  // namespace immp::bus
