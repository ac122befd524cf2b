#include "plugs/irc/irc_render.hpp"

#include <cstdio>

#include "text/markup_irc.hpp"
#include "plugs/irc/irc_split.hpp"
#include "text/graphemes.hpp"

namespace immp::irc {

namespace {

// Line breaks as IMMP inlines a quote: each one two spaces.
std::string one_line(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    if (text[i] == '\n' || text[i] == '\r') {
      out += "  ";
    } else {
      out += text[i];
    }
  }
  return out;
}

// `text` with its line breaks made spaces and cut to kQuoteChars
// characters, formatting kept; cut in the plain text, between clusters.
RichText inline_quote(const RichText& text) {
  RichText out;
  std::size_t left = kQuoteChars;
  std::size_t total = unicode::count_graphemes(text.plain());
  // IMMP's trim: a longer text keeps length - 2 characters and gains "...".
  if (total > kQuoteChars) left = kQuoteChars - 2;
  for (const Segment& s : text.segments()) {
    if (left == 0) break;
    Segment piece = s;
    std::string_view kept = unicode::prefix_graphemes(s.text, left);
    left -= unicode::count_graphemes(kept);
    piece.text = one_line(kept);
    out.append(std::move(piece));
  }
  if (total > kQuoteChars) {
    Segment ellipsis;
    ellipsis.text = "...";
    out.append(std::move(ellipsis));
  }
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
  std::string text = fwd->text ? markup::to_irc(*fwd->text) : std::string();
  return "[forwarded] <" + who + "> " + one_line(text);
}

// Builds the lines of one message: every line gets the edit marker and the
// author; a reply's arrow goes on its first line only, later ones indented.
class LineWriter {
 public:
  LineWriter(const RenderOptions& options, bool edited, bool reply)
      : options_(options), edited_(edited), reply_(reply) {}

  // Splits `body` into PRIVMSG texts, each starting with the reply arrow
  // (or indent), the edit marker and then `author`. `as_ctcp_action`: our own
  // action, each text wrapped in "\x01ACTION ...\x01" around all of that.
  void add(std::string_view author, std::string_view body, bool as_ctcp_action = false) {
    std::size_t budget = as_ctcp_action && options_.budget > kActionOverhead
                             ? options_.budget - kActionOverhead
                             : options_.budget;
    // Room for the longest lead (the arrow); later lines use less of it.
    std::size_t longest = lead(false).size() + author.size();
    std::size_t room = budget > longest + 16 ? budget - longest : 16;
    for (auto& part : split_text(body, room)) {
      std::string line = lead(true);
      line.reserve(line.size() + author.size() + part.size());
      line += author;
      line += part;
      out_.push_back(as_ctcp_action ? ctcp_action(line) : std::move(line));
    }
  }

  // A line as it is (the quote), marked as an edit when the message is one.
  void add_quote(std::string_view text) {
    std::string marker = edited_ ? std::string(kEditMarker) : std::string();
    auto parts = split_text(text, options_.budget > marker.size() + 16
                                      ? options_.budget - marker.size()
                                      : 16);
    // One line at most, as IMMP: a quote is a reminder, not a copy.
    if (!parts.empty()) out_.push_back(marker + parts.front());
  }

  std::vector<std::string> take() { return std::move(out_); }

 private:
  // The lead of the next line; `advance` when it is really used.
  std::string lead(bool advance) {
    std::string out;
    if (reply_) {
      if (!options_.quote_reply_to) {
        out += kReplyArrowShort;
      } else {
        out += arrowed_ ? kReplyIndent : kReplyArrow;
        if (advance) arrowed_ = true;
      }
    }
    if (edited_) out += kEditMarker;
    return out;
  }

  const RenderOptions& options_;
  bool edited_;
  bool reply_;
  bool arrowed_ = false;
  std::vector<std::string> out_;
};

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

namespace {
// The parent as far as it is known: the message's own, or the plug's copy.
const Message* parent_of(const Message& msg, const RenderOptions& options) {
  if (!msg.reply_to) return nullptr;
  if (!msg.reply_to->text && options.parent) return options.parent;
  return msg.reply_to.get();
}
}  // namespace

bool quotes_parent(const Message& msg, const RenderOptions& options) {
  const Message* parent = parent_of(msg, options);
  return options.quote_reply_to && !options.reply_is_last && parent && parent->text &&
         !parent->text->empty();
}

std::vector<std::string> render_message(const Message& msg, const RenderOptions& options) {
  auto shown_name = [&](const User& user) {
    std::string name = clean_name(author_name(user));
    return options.colour_nicks ? markup::colour_nick(name) : name;
  };
  bool named = options.with_name && msg.user;
  std::string shown = named ? shown_name(*msg.user) : std::string();
  LineWriter lines(options, msg.edited, msg.reply_to != nullptr);

  // The parent, quoted, unless it is right above: "[<bob> text]".
  if (quotes_parent(msg, options)) {
    const Message& r = *parent_of(msg, options);
    std::string who;
    if (r.user) who = (r.action ? "* " : "<") + shown_name(*r.user) + (r.action ? " " : "> ");
    lines.add_quote("[" + who + markup::to_irc(inline_quote(*r.text)) + "]");
  }

  std::string body = msg.text ? markup::to_irc(*msg.text) : std::string();
  if (!body.empty()) {
    if (msg.action && !named) {
      lines.add("", body, true);
    } else if (msg.action) {
      lines.add("* " + shown + " ", body);
    } else {
      lines.add(named ? "<" + shown + "> " : std::string(), body);
    }
  }
  for (const auto& a : msg.attachments) {
    std::string text = attachment_text(a);
    if (text.empty()) continue;
    lines.add(named ? "<" + shown + "> " : std::string(), text);
  }
  return lines.take();
}

}  // namespace immp::irc
