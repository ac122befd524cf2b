// Messages as JSON: for durable outboxes and the operator bus. `raw` is not
// carried (it is network-specific and often not serialisable).
#pragma once

#include <boost/json/value.hpp>

#include "immp/host.hpp"
#include "immp/message.hpp"

namespace immp {

// `sp`: where the JSON's memory comes from (e.g. a monotonic buffer for
// JSON that is serialised at once and dropped).
boost::json::object user_to_json(const User& user, const boost::json::storage_ptr& sp = {});
boost::json::object message_to_json(const Message& msg, const boost::json::storage_ptr& sp = {});
// Includes the receipt fields (id, channel, at, revision, deleted).
boost::json::object sent_to_json(const SentMessage& sent, const boost::json::storage_ptr& sp = {});

// The reverse; plugs are found by name in `host`. A channel or user whose
// plug no longer exists keeps a null plug. Throws std::invalid_argument for
// JSON that is not a message.
UserPtr user_from_json(const boost::json::value& value, const Host& host);
Message message_from_json(const boost::json::value& value, const Host& host);
SentMessage sent_from_json(const boost::json::value& value, const Host& host);

}  // namespace immp
