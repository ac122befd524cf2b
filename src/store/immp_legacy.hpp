// IMMP's own sync references, read from the database an IMMP user brings
// along, so that replies and edits to messages bridged before the switch
// still find their copies. Read-only: immp never writes IMMP's table.
//
// IMMP's SyncHook kept one row per copy of a bridged message in the table
// `syncbackref` (the model SyncBackRef, created by Tortoise ORM, or by
// Peewee before IMMP 0.10; same table and column names, TEXT or
// VARCHAR(255)):
//
//   id       integer primary key
//   key      text   the bridged message: shared by all its copies
//   network  text   IMMP's network id of the plug ("irc:<server host>",
//                   "sync:<sync plug name>", "dummy", ...)
//   channel  text   the channel's source ("#room")
//   message  text   the message id the plug gave the copy
//   unique (network, channel, message)
//
// Lookups are as IMMP made them: by (network, channel, message) to the
// key, then every row of the key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "immp/asio.hpp"
#include "immp/channel.hpp"
#include "store/database.hpp"

namespace immp {
class Host;
class Plug;
}  // namespace immp

namespace immp::store {

// One copy as IMMP recorded it.
struct ImmpSyncRow {
  std::string network;  // IMMP's network id
  std::string channel;  // the channel's source
  std::string message;  // the copy's message id
  bool operator==(const ImmpSyncRow&) const = default;
};

// One copy on this host: a channel of a plug configured now, and the id.
struct ImmpSyncCopy {
  Channel channel;
  std::string id;
  bool operator==(const ImmpSyncCopy&) const = default;
};

class ImmpSyncRefs {
 public:
  // Looks for IMMP's table in `db`, which must stay open while this is
  // used. nullopt when there is none (the database never held IMMP's sync
  // data); throws std::runtime_error when a table of that name lacks
  // IMMP's columns.
  static Task<std::optional<ImmpSyncRefs>> open(Database& db);

  // Every copy IMMP recorded together with the message `message` on
  // (`network`, `channel`), that one included, in the order IMMP wrote
  // them (not necessarily the original first). Empty when IMMP never
  // bridged it. Throws std::runtime_error when the database fails.
  Task<std::vector<ImmpSyncRow>> rows_with(std::string network, std::string channel,
                                           std::string message) const;
  // Every copy of IMMP's key (the id of a message on IMMP's virtual sync
  // plug). Empty when unknown.
  Task<std::vector<ImmpSyncRow>> rows_of_key(std::string key) const;

  // rows_with() for a message on one of `host`'s channels, resolved back to
  // the host's channels as IMMP did: a row goes to every plug whose IMMP
  // network id (immp_network_id()) is the row's; rows of networks no plug
  // has now are left out. Empty when IMMP never bridged the message or
  // the channel's plug is gone. `host` must outlive the call.
  Task<std::vector<ImmpSyncCopy>> copies(const Host& host, Channel channel, std::string id) const;

 private:
  explicit ImmpSyncRefs(Database& db) : db_(&db) {}
  Database* db_;
};

// The network id IMMP gave a plug like this one, where it differs from
// ours: "irc:<server host>" for IRC (ours adds nick and port), "dummy" for
// the dummy plug (ours adds its name). Otherwise plug.network_id(), as for
// the sync plug ("sync:<name>" in both).
std::string immp_network_id(const Plug& plug);

}  // namespace immp::store
