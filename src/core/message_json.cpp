#include "core/message_json.hpp"

#include <boost/json.hpp>

namespace immp {

namespace json = boost::json;

namespace {

std::string plug_name(const PlugHandle* plug) { return plug ? plug->name() : std::string(); }

// The handle of the plug named there: a plug removed since keeps its name.
const PlugHandle* plug_named(const json::object& o, std::string_view key, const Host& host) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string() || v->as_string().empty()) return nullptr;
  return &host.plug_handle(std::string_view(v->as_string()));
}

std::string text_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool flag(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_bool() && v->as_bool();
}

json::array rich_to_json(const RichText& text, const json::storage_ptr& sp) {
  json::array out(sp);
  out.reserve(text.segments().size());
  for (const auto& s : text.segments()) {
    json::object seg({{"text", s.text}}, sp);
    if (s.bold) seg["bold"] = true;
    if (s.italic) seg["italic"] = true;
    if (s.underline) seg["underline"] = true;
    if (s.strike) seg["strike"] = true;
    if (s.code) seg["code"] = true;
    if (s.pre) seg["pre"] = true;
    if (!s.link.empty()) seg["link"] = s.link;
    if (s.mention) seg["mention"] = user_to_json(*s.mention, sp);
    out.push_back(std::move(seg));
  }
  return out;
}

RichText rich_from_json(const json::value& v, const Host& host) {
  RichText text;
  if (v.is_string()) return RichText(std::string(v.as_string()));
  for (const auto& item : v.as_array()) {
    const auto& o = item.as_object();
    Segment s;
    s.text = text_of(o, "text");
    s.bold = flag(o, "bold");
    s.italic = flag(o, "italic");
    s.underline = flag(o, "underline");
    s.strike = flag(o, "strike");
    s.code = flag(o, "code");
    s.pre = flag(o, "pre");
    s.link = text_of(o, "link");
    if (const auto* m = o.if_contains("mention")) s.mention = user_from_json(*m, host);
    text.push(std::move(s));
  }
  return text;
}

constexpr std::string_view kFileTypes[] = {"file", "image", "video", "audio", "voice", "sticker"};

json::object file_to_json(const File& f, const json::storage_ptr& sp) {
  json::object o({{"type", "file"},
                  {"kind", kFileTypes[static_cast<std::size_t>(f.type)]},
                  {"title", f.title},
                  {"url", f.url},
                  {"path", f.path}},
                 sp);
  if (!f.mime.empty()) o["mime"] = f.mime;
  if (f.size) o["size"] = *f.size;
  if (f.origin) o["origin"] = plug_name(f.origin);
  if (!f.ref.empty()) o["ref"] = f.ref;
  return o;
}

File file_from_json(const json::object& o, const Host& host) {
  File f;
  f.title = text_of(o, "title");
  // Before `kind`, an outbox wrote only whether the file was an image.
  f.type = flag(o, "image") ? File::Type::image : File::Type::unknown;
  std::string kind = text_of(o, "kind");
  for (std::size_t i = 0; i < std::size(kFileTypes); ++i) {
    if (kind == kFileTypes[i]) f.type = static_cast<File::Type>(i);
  }
  f.url = text_of(o, "url");
  f.path = text_of(o, "path");
  f.mime = text_of(o, "mime");
  if (const auto* size = o.if_contains("size")) {
    if (size->is_uint64()) f.size = size->as_uint64();
    if (size->is_int64() && size->as_int64() >= 0)
      f.size = static_cast<std::uint64_t>(size->as_int64());
  }
  f.origin = plug_named(o, "origin", host);
  f.ref = text_of(o, "ref");
  return f;
}

json::object channel_to_json(const Channel& c, const json::storage_ptr& sp) {
  return json::object({{"plug", plug_name(c.handle)}, {"source", c.source}}, sp);
}

Channel channel_from_json(const json::value& v, const Host& host) {
  const auto& o = v.as_object();
  return Channel{plug_named(o, "plug", host), text_of(o, "source")};
}

}  // namespace

json::object user_to_json(const User& u, const json::storage_ptr& sp) {
  json::object o({{"id", u.id}, {"plug", plug_name(u.handle)}}, sp);
  if (!u.username.empty()) o["username"] = u.username;
  if (!u.real_name.empty()) o["real_name"] = u.real_name;
  if (!u.avatar.empty()) o["avatar"] = u.avatar;
  if (!u.link.empty()) o["link"] = u.link;
  if (u.suggested) o["suggested"] = true;
  return o;
}

UserPtr user_from_json(const json::value& v, const Host& host) {
  if (!v.is_object()) return nullptr;
  const auto& o = v.as_object();
  auto u = std::make_shared<User>();
  u->id = text_of(o, "id");
  u->handle = plug_named(o, "plug", host);
  u->username = text_of(o, "username");
  u->real_name = text_of(o, "real_name");
  u->avatar = text_of(o, "avatar");
  u->link = text_of(o, "link");
  u->suggested = flag(o, "suggested");
  return u;
}

json::object message_to_json(const Message& m, const json::storage_ptr& sp) {
  json::object o(sp);
  if (m.text) o["text"] = rich_to_json(*m.text, sp);
  if (m.user) o["user"] = user_to_json(*m.user, sp);
  if (m.action) o["action"] = true;
  if (m.edited) o["edited"] = true;
  if (m.deleted) o["deleted"] = true;
  if (m.reply_to) o["reply_to"] = sent_to_json(*m.reply_to, sp);
  if (!m.thread.empty()) o["thread"] = m.thread;
  if (m.reaction) {
    json::object r({{"emoji", m.reaction->emoji}}, sp);
    if (m.reaction->removed) r["removed"] = true;
    if (m.reaction->on) r["on"] = sent_to_json(*m.reaction->on, sp);
    o["reaction"] = std::move(r);
  }
  auto users = [&sp](const std::vector<UserPtr>& list) {
    json::array a(sp);
    for (const auto& u : list) a.push_back(user_to_json(*u, sp));
    return a;
  };
  if (!m.joined.empty()) o["joined"] = users(m.joined);
  if (!m.left.empty()) o["left"] = users(m.left);
  if (m.title) o["title"] = *m.title;
  if (!m.attachments.empty()) {
    json::array a(sp);
    for (const auto& att : m.attachments) {
      if (const auto* f = std::get_if<File>(&att)) {
        a.push_back(file_to_json(*f, sp));
      } else if (const auto* l = std::get_if<Location>(&att)) {
        a.push_back(json::object({{"type", "location"},
                                  {"latitude", l->latitude},
                                  {"longitude", l->longitude},
                                  {"name", l->name},
                                  {"address", l->address}},
                                 sp));
      } else if (const auto* fwd = std::get_if<std::shared_ptr<const Message>>(&att); *fwd) {
        // A forwarded SentMessage keeps its receipt: where, when and as
        // what it was first posted.
        const auto* sent = dynamic_cast<const SentMessage*>(fwd->get());
        json::object f = sent ? sent_to_json(*sent, sp) : message_to_json(**fwd, sp);
        f["type"] = "message";
        if (sent) f["sent"] = true;
        a.push_back(std::move(f));
      }
    }
    o["attachments"] = std::move(a);
  }
  return o;
}

json::object sent_to_json(const SentMessage& s, const json::storage_ptr& sp) {
  json::object o = message_to_json(s, sp);
  o["id"] = s.id;
  o["channel"] = channel_to_json(s.channel, sp);
  o["at"] = std::chrono::duration_cast<std::chrono::milliseconds>(s.at.time_since_epoch()).count();
  if (!s.revision.empty()) o["revision"] = s.revision;
  if (s.Receipt::deleted) o["receipt_deleted"] = true;
  return o;
}

Message message_from_json(const json::value& v, const Host& host) {
  if (!v.is_object()) throw std::invalid_argument("a message must be a JSON object");
  const auto& o = v.as_object();
  Message m;
  if (const auto* t = o.if_contains("text")) m.text = rich_from_json(*t, host);
  if (const auto* u = o.if_contains("user")) m.user = user_from_json(*u, host);
  m.action = flag(o, "action");
  m.edited = flag(o, "edited");
  m.deleted = flag(o, "deleted");
  if (const auto* r = o.if_contains("reply_to"); r && r->is_object()) {
    m.reply_to = std::make_shared<const SentMessage>(sent_from_json(*r, host));
  }
  m.thread = text_of(o, "thread");
  if (const auto* r = o.if_contains("reaction"); r && r->is_object()) {
    const auto& ro = r->as_object();
    Reaction reaction;
    reaction.emoji = text_of(ro, "emoji");
    reaction.removed = flag(ro, "removed");
    if (const auto* on = ro.if_contains("on"); on && on->is_object()) {
      reaction.on = std::make_shared<const SentMessage>(sent_from_json(*on, host));
    }
    m.reaction = std::move(reaction);
  }
  auto users = [&](std::string_view key, std::vector<UserPtr>& out) {
    if (const auto* a = o.if_contains(key); a && a->is_array()) {
      for (const auto& u : a->as_array()) {
        if (auto user = user_from_json(u, host)) out.push_back(std::move(user));
      }
    }
  };
  users("joined", m.joined);
  users("left", m.left);
  if (const auto* t = o.if_contains("title"); t && t->is_string()) {
    m.title = std::string(t->as_string());
  }
  if (const auto* a = o.if_contains("attachments"); a && a->is_array()) {
    for (const auto& item : a->as_array()) {
      const auto& att = item.as_object();
      std::string type = text_of(att, "type");
      if (type == "file") {
        m.attachments.emplace_back(file_from_json(att, host));
      } else if (type == "location") {
        Location l{json::value_to<double>(att.at("latitude")),
                   json::value_to<double>(att.at("longitude")), text_of(att, "name"),
                   text_of(att, "address")};
        m.attachments.emplace_back(std::move(l));
      } else if (type == "message" && flag(att, "sent")) {
        m.attachments.emplace_back(std::make_shared<const SentMessage>(sent_from_json(item, host)));
      } else if (type == "message") {
        m.attachments.emplace_back(std::make_shared<const Message>(message_from_json(item, host)));
      }
    }
  }
  return m;
}

SentMessage sent_from_json(const json::value& v, const Host& host) {
  Message m = message_from_json(v, host);
  const auto& o = v.as_object();
  Receipt r;
  r.id = text_of(o, "id");
  if (const auto* c = o.if_contains("channel")) r.channel = channel_from_json(*c, host);
  if (const auto* at = o.if_contains("at"); at && at->is_int64()) {
    r.at = Clock::time_point(std::chrono::milliseconds(at->as_int64()));
  }
  r.revision = text_of(o, "revision");
  r.deleted = flag(o, "receipt_deleted");
  return SentMessage(std::move(r), std::move(m));
}

}  // namespace immp
