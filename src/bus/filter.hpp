// Filter: what a subscriber wants from the stream, evaluated by the host
// so that a subscriber never receives what it would discard. Every list
// that is set must match (a list matches when any of its items does);
// an empty filter takes everything.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "bus/envelope.hpp"
#include "bus/event.hpp"
#include "immp/asio.hpp"
#include "immp/host.hpp"

namespace re2 {
class RE2;
}

namespace immp::bus {

class Filter {
 public:
  Filter();
  ~Filter();
  Filter(Filter&&) noexcept;
  Filter& operator=(Filter&&) noexcept;

  // Reads a filter frame field ({"plugs":[...], "channels":[...],
  // "groups":[...], "kinds":[...], "users":[...], "text":"pattern"});
  // `where` names it in errors. Channels are config names or
  // "plug/source"; plugs, channels and groups must exist; `text` is an
  // RE2 pattern searched in the plain text (case-sensitive unless it
  // starts with (?i)). On a problem returns it and leaves `out` untouched.
  static std::optional<FieldError> parse(const boost::json::value& value, const std::string& where,
                                         const Host& host, Filter& out);

  // Whether `event` passes everything but `groups` (no waiting).
  bool matches_now(const Event& event) const;
  // Whether the filter names groups (then match() may have to ask a plug).
  bool has_groups() const { return !groups_.empty(); }
  // The whole filter; asks a plug only for a group's private/shared rule.
  Task<bool> matches(const Host& host, const Event& event) const;

  // For logs: "kinds=message,edit channels=1 text=/hi/".
  std::string describe() const;

 private:
  std::vector<std::string> plugs_;
  std::vector<Channel> channels_;
  std::vector<std::string> groups_;
  std::vector<std::string> types_;
  std::vector<std::string> users_;
  std::unique_ptr<re2::RE2> text_;
};

}  // namespace immp::bus
