#include "immp/message.hpp"

#include "immp/plug.hpp"

namespace immp {

const std::string& User::display_name() const {
  if (!real_name.empty()) return real_name;
  if (!username.empty()) return username;
  return id;
}

bool Segment::same_format(const Segment& o) const {
  return bold == o.bold && italic == o.italic && underline == o.underline && strike == o.strike &&
         code == o.code && pre == o.pre && link == o.link && mention == o.mention;
}

bool RichText::empty() const {
  for (const auto& s : segments_) {
    if (!s.text.empty()) return false;
  }
  return true;
}

std::string RichText::plain() const {
  if (segments_.size() == 1) return segments_.front().text;
  std::string out;
  for (const auto& s : segments_) out += s.text;
  return out;
}

RichText& RichText::append(Segment segment) {
  if (segment.text.empty()) return *this;
  if (!segments_.empty() && segments_.back().same_format(segment)) {
    segments_.back().text += segment.text;
  } else {
    segments_.push_back(std::move(segment));
  }
  return *this;
}

RichText& RichText::append(const RichText& other) {
  for (const auto& s : other.segments_) append(s);
  return *this;
}

RichText RichText::normalised() const {
  RichText out;
  for (const auto& s : segments_) out.append(s);
  return out;
}

std::string Message::plain() const {
  if (!text) return {};
  if (action && user) return "* " + user->display_name() + " " + text->plain();
  return text->plain();
}

std::string Channel::repr() const {
  return (handle ? handle->name() : std::string("?")) + ":" + source;
}

}  // namespace immp
