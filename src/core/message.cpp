#include "immp/message.hpp"

#include <algorithm>

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

RichText::RichText(std::string plain) {
  mutate().emplace_back().text = std::move(plain);  // built in place: no Segment moved
}

RichText::RichText(std::vector<Segment> segments) {
  if (segments.empty()) return;
  Segments& mine = mutate();
  mine.reserve(segments.size());
  for (auto& s : segments) mine.push_back(std::move(s));
}

RichText::Segments& RichText::mutate() {
  if (!segments_) {
    segments_ = std::make_shared<Segments>();
  } else if (segments_.use_count() > 1) {
    segments_ = std::make_shared<Segments>(*segments_);
  }
  return *segments_;
}

RichText& RichText::push(Segment segment) {
  mutate().push_back(std::move(segment));
  return *this;
}

bool RichText::operator==(const RichText& other) const {
  auto a = segments();
  auto b = other.segments();
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

bool RichText::empty() const {
  for (const auto& s : segments()) {
    if (!s.text.empty()) return false;
  }
  return true;
}

std::string RichText::plain() const {
  auto all = segments();
  if (all.size() == 1) return all.front().text;
  std::string out;
  for (const auto& s : all) out += s.text;
  return out;
}

RichText& RichText::append(Segment segment) {
  if (segment.text.empty()) return *this;
  auto all = segments();
  if (!all.empty() && all.back().same_format(segment)) {
    mutate().back().text += segment.text;
  } else {
    mutate().push_back(std::move(segment));
  }
  return *this;
}

RichText& RichText::append(const RichText& other) {
  if (&other == this) {
    RichText again = other;  // shares the segments we are about to change
    return append(again);
  }
  for (const auto& s : other.segments()) append(s);
  return *this;
}

RichText RichText::normalised() const {
  RichText out;
  for (const auto& s : segments()) out.append(s);
  return out;
}

std::string Message::plain() const {
  if (!text) return {};
  if (action && user) return "* " + user->display_name() + " " + text->plain();
  return text->plain();
}

std::vector<UserPtr> Message::mentions() const {
  std::vector<UserPtr> out;
  if (!text) return out;
  for (const auto& s : text->segments()) {
    if (!s.mention) continue;
    // One user may be mentioned through several User objects.
    auto same = [&](const UserPtr& u) {
      return u == s.mention ||
             (!u->id.empty() && u->id == s.mention->id && u->handle == s.mention->handle);
    };
    if (std::find_if(out.begin(), out.end(), same) == out.end()) out.push_back(s.mention);
  }
  return out;
}

std::string Channel::repr() const {
  return (handle ? handle->name() : std::string("?")) + ":" + source;
}

}  // namespace immp
