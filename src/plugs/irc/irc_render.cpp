#include "plugs/irc/irc_render.hpp"

#include <cstdio>

#include "plugs/irc/irc_format.hpp"
#include "plugs/irc/irc_split.hpp"

namespace immp::irc {

namespace {

constexpr std::size_t kQuoteChars = 80;

std::string utf8_cut(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && chars++ == max_chars) {
      return std::string(text.substr(0, i)) + "...";
    }
  }
  return std::string(text);
}

std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

// The lines an attachment adds: its URL (with a title when there is one).
std::string attachment_text(const Attachment& a) {
  if (const auto* file = std::get_if<File>(&a)) {
    std::string where = !file->url.empty() ? file->url : file->path;
    if (where.empty()) return file->title.empty() ? "(file)" : "(file: " + file->title + ")";
    if (file->title.empty() || file->title == where) return where;
    return file->title + ": " + where;
  }
  if (const auto* loc = std::get_if<Location>(&a)) {
    char coords[96];
    std::snprintf(coords, sizeof coords, "https://www.google.com/maps/search/?api=1&query=%.6f,%.6f",
                  loc->latitude, loc->longitude);
    std::string label = loc->name;
    if (!loc->address.empty()) label += (label.empty() ? "" : ", ") + loc->address;
    return label.empty() ? std::string(coords) : label + ": " + coords;
  }
  const auto& fwd = std::get<std::shared_ptr<const Message>>(a);
  if (!fwd) return {};
  std::string who = fwd->user ? clean_name(author_name(*fwd->user)) : "someone";
  std::string text = fwd->text ? to_irc(*fwd->text) : std::string();
  return "[forwarded] <" + who + "> " + one_line(text);
}

// Splits `body` into PRIVMSG texts that each start with `lead`.
void add_lines(std::vector<std::string>& out, const std::string& lead, std::string_view body,
               std::size_t budget) {
  std::size_t room = budget > lead.size() + 16 ? budget - lead.size() : 16;
  for (auto& part : split_text(body, room)) out.push_back(lead + part);
}

}  // namespace

std::string clean_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    out += c;
  }
  return out.empty() ? "someone" : out;
}

const std::string& author_name(const User& user) {
  // With neither name, display_name() falls back to the id.
  return user.username.empty() ? user.display_name() : user.username;
}

std::vector<std::string> render_message(const Message& msg, const RenderOptions& options) {
  std::vector<std::string> out;
  std::string name = msg.user ? clean_name(author_name(*msg.user)) : std::string();
  bool named = options.with_name && msg.user;
  std::string shown = named && options.colour_nicks ? colour_nick(name) : name;

  if (options.quote_reply_to && msg.reply_to &&
      (msg.reply_to->text || msg.reply_to->user)) {
    const auto& r = *msg.reply_to;
    std::string who = r.user ? clean_name(author_name(*r.user)) : "someone";
    std::string quoted = r.text ? strip_formatting(to_irc(*r.text)) : std::string();
    std::string quote = (named ? "<" + shown + "> " : std::string()) + "> " + who + ": " +
                        utf8_cut(one_line(quoted), kQuoteChars);
    add_lines(out, "", quote, options.budget);
  }

  std::string body = msg.text ? to_irc(*msg.text) : std::string();
  if (msg.edited && !body.empty()) body += kEditedMarker;
  if (!body.empty()) {
    if (msg.action && !named) {
      for (auto& part : split_action(body, options.budget)) out.push_back(std::move(part));
    } else if (msg.action) {
      add_lines(out, "* " + shown + " ", body, options.budget);
    } else {
      add_lines(out, named ? "<" + shown + "> " : std::string(), body, options.budget);
    }
  }
  for (const auto& a : msg.attachments) {
    std::string text = attachment_text(a);
    if (text.empty()) continue;
    add_lines(out, named ? "<" + shown + "> " : std::string(), text, options.budget);
  }
  return out;
}

}  // namespace immp::irc
