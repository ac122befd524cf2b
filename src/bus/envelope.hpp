// The bus envelope: one message of the host's stream as a CloudEvents 1.0
// JSON event, version 1 (docs/protocol.md defines it with a JSON Schema).
//
//   {"specversion":"1.0","immpversion":1,"id":"42","source":"irc/#immp",
//    "type":"message","time":"2026-12-01T10:00:00.000Z","subject":"<message id>",
//    "datacontenttype":"application/json","data":{...the message...}}
//
// `data` is the message as src/core/message_json writes it (one
// serialisation for outboxes and the bus), plus `plain` (the text without
// formatting, for operators that want no more) and `raw` (the network's
// payload, when the plug kept one that is JSON or text).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "immp/host.hpp"
#include "immp/message.hpp"

namespace immp::bus {

inline constexpr int kEnvelopeVersion = 1;

// What happened, as the envelope's `type` says it.
enum class Kind : std::uint8_t { message, edit, remove, join, part, reaction };
inline constexpr std::size_t kKinds = 6;
// "message", "edit", "delete", "join", "part", "reaction".
std::string_view kind_name(Kind kind);
std::optional<Kind> kind_from_name(std::string_view name);
// The kind of a message: a deletion, a reaction, an edit, people joining
// or leaving, else a message.
Kind kind_of(const Message& msg);

// "plug/source": the envelope's `source` for a channel.
std::string source_of(const Channel& channel);

// The envelope of one message of the stream. `seq` is the bus's number for
// it (the event id, and a subscriber's resume cursor).
boost::json::object to_envelope(const SentMessage& sent, std::uint64_t seq,
                                const boost::json::storage_ptr& sp = {});

// A problem with what an operator sent: the field (a dotted path from the
// frame, "event.data.text[0].bold") and what is wrong with it.
struct FieldError {
  std::string field;
  std::string problem;
  // "event.data.text[0].bold: expected a boolean"
  std::string str() const { return field.empty() ? problem : field + ": " + problem; }
};

// An envelope an operator sent, checked.
struct Incoming {
  std::string id;      // the operator's own id for it (echoed in the receipt)
  std::string source;  // "plug/source" or a channel name from the config
  std::string type;    // a kind's name, or (emitted events only) any dotted name
  std::optional<Kind> kind;
  std::string subject;
  boost::json::value data;  // checked against the message shape
};

// Checks `envelope` (the value of a frame's `event`, whose path is
// `where`) against the schema of docs/protocol.md: required attributes,
// their types, and the shape of `data` as a message. A `type` other than a
// kind is accepted only when `any_type` (events emitted into the stream).
// Returns the first problem.
std::optional<FieldError> check_envelope(const boost::json::value& envelope, std::string_view where,
                                         bool any_type, Incoming* out = nullptr);

// Checks a message in the shape message_json reads (`where` names it in
// errors): every field it knows has the right JSON type.
std::optional<FieldError> check_message(const boost::json::value& data, const std::string& where);

// The channel an envelope's `source` names: a channel declared in the
// config by that name, else "plug/source" with an existing plug. nullopt
// when neither.
std::optional<Channel> resolve_source(const Host& host, std::string_view source);

}  // namespace immp::bus
