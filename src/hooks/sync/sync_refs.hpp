// The sync hook's message-id map: which messages on which channels are
// copies of one another. Persisted in the database resource (when there is
// one) and cached in memory up to a bound, so edits, deletes and replies
// keep working across restarts without memory growing with traffic.
//
// The cache is on the path of every bridged message, so it allocates
// nothing per message beyond the ids themselves: refs live in a ring that
// overwrites the oldest, and the index from (channel, id) to a ref is an
// open-addressing table of hashes whose stale entries are simply reused.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <boost/unordered/unordered_flat_map.hpp>

#include "immp/host.hpp"
#include "store/database.hpp"
#include "store/immp_legacy.hpp"

namespace immp::hooks {

struct Copy {
  Channel channel;
  std::string id;
};

class SyncRefs {
 public:
  // `db` may be null (memory only); it must outlive this map. `owner` is
  // the sync's name in the host's record of posts.
  SyncRefs(const Host& host, store::Database* db, std::size_t capacity, std::string owner);

  // The table: one row per copy, keyed by where the copy is; `key` names
  // the origin ("network \x1f source \x1f id"), so the origin needs no row.
  static std::vector<std::string> migrations(store::Dialect dialect);

  // A new bridged message that started as `id` on `channel`. Returns the
  // record its copies are posted with: our owner name, and the key as the
  // tag (unique across restarts, so a delivery restored from an outbox
  // after a restart still finds its message).
  OriginPtr add_origin(const Channel& channel, const std::string& id);
  // Records a delivered copy of the message `origin` was made for.
  void add_copy(const Origin& origin, const Channel& channel, const std::string& id);
  // The origin a key names; a null plug when that network is gone.
  Copy origin_of(std::string_view key);
  // The key of a message, or nullopt when it was never bridged.
  Task<std::optional<std::string>> key_for(const Channel& channel, const std::string& id);
  // Every known message of a key, origin first.
  Task<std::vector<Copy>> copies(const std::string& key);
  // The record to post further copies of a key with (an edit re-sent as a
  // new message is a copy too).
  OriginPtr origin_for(const std::string& key);

  std::size_t capacity() const { return capacity_; }
  // IMMP's own sync references in the same database (read only): a
  // message this map does not know is looked up there, and what is found
  // is adopted into this map.
  void set_legacy(std::optional<store::ImmpSyncRefs> legacy) { legacy_ = std::move(legacy); }

 private:
  struct Ref {
    std::uint64_t n = 0;  // 0: empty
    OriginPtr origin;     // its tag is the key
    std::uint64_t key_hash = 0;
    // Live copies are the first `count`, origin first. Slots beyond are
    // kept when the ring wraps, so their strings' memory is reused.
    std::vector<Copy> copies;
    std::size_t count = 0;
    const std::string& key() const { return origin->tag; }
    void add(const Channel& channel, std::string_view id);
  };
  struct IndexEntry {
    std::uint64_t hash = 0;
    std::uint64_t n = 0;
  };
  static std::uint64_t hash_of(const Channel& channel, std::string_view id);
  // A fresh ref in the ring (evicting the oldest), with a new record of
  // `key` that carries its number.
  Ref& claim(std::string key);
  bool stale(std::uint64_t n) const;
  std::size_t slot_of(std::uint64_t n) const;
  void grow_index();
  static constexpr std::size_t kFirstIndex = 1024;
  Ref* find_ref(std::uint64_t n);
  Ref* find_key(std::string_view key);
  void index(const Ref& ref, const Copy& copy);
  Ref* lookup(const Channel& channel, std::string_view id);
  const std::string& network_of(const Plug* plug);
  std::string make_key(const Channel& channel, std::string_view id);
  // Takes copies IMMP recorded as one bridged message of ours; its key.
  std::string adopt(const std::vector<store::ImmpSyncCopy>& found);

  const Host& host_;
  store::Database* db_;
  std::size_t capacity_;
  std::string owner_;
  std::vector<Ref> ring_;          // grows to capacity_, then wraps
  std::vector<IndexEntry> index_;  // a power of two, about 4x the ring
  // Key -> ref number, by a hash of the key: edits, deletes and replies find
  // a bridged message's copies without scanning the ring.
  boost::unordered_flat_map<std::uint64_t, std::uint64_t> by_key_;
  std::uint64_t next_n_ = 1;
  std::deque<std::pair<const Plug*, std::string>> networks_;  // stable references
  std::optional<store::ImmpSyncRefs> legacy_;
};

}  // namespace immp::hooks
