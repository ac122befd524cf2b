// Event: one item of the bus stream, made once and shared by every
// subscriber it goes to (the envelope is serialised once, not per
// subscriber).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "bus/envelope.hpp"
#include "immp/channel.hpp"
#include "immp/message.hpp"

namespace immp::bus {

struct Event {
  std::uint64_t seq = 0;           // the bus's number for it: the envelope's id, a resume cursor
  std::optional<Kind> kind;        // unset for events an operator emitted with its own type
  std::string type;                // the envelope's `type`
  std::optional<Channel> channel;  // the channel it happened in, if any
  SentPtr sent;                    // the message, for events of the host's stream
  // What filters match, for events an operator emitted (taken from its
  // data). For the host's stream they are read from `sent` when a filter
  // asks (event_plain() and the rest below): most events meet no filter
  // on text or users, and a message's plain text costs a pass over it.
  std::string plain;  // the text without formatting (what text patterns see)
  std::string user_id;
  std::string username;
  std::string from;  // the operator that emitted it; empty for the host's stream
  // The envelope as one line of JSON (no newline), made on first use by
  // envelope_line(): a message nobody wants is never serialised.
  mutable std::string envelope;
  mutable std::optional<std::string> sent_plain;  // event_plain()'s, for `sent`
};
using EventPtr = std::shared_ptr<const Event>;

// The event's envelope, serialised once (on the host's executor).
const std::string& envelope_line(const Event& event);

// The text without formatting, the author's id and username: what text
// and user filters match (the message's own for the host's stream).
// event_plain() makes a message's plain text on first use, once (on the
// host's executor).
const std::string& event_plain(const Event& event);
std::string_view event_user_id(const Event& event);
std::string_view event_username(const Event& event);

}  // namespace immp::bus
