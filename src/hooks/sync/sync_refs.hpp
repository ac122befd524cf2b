// The sync hook's message-id map: which messages on which channels are
// copies of one another. Persisted in the database resource (when there is
// one) and cached in memory up to a bound, so edits, deletes and replies
// keep working across restarts without memory growing with traffic.
//
// The cache is on the path of every bridged message, so it allocates
// nothing per message beyond the ids themselves: refs live in a ring that
// overwrites the oldest, and one index finds a ref both by (channel, id)
// and by key: an open-addressing table of hashes whose stale entries are
// simply reused. Each hash is computed once, when its copy or key arrives.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <boost/container/small_vector.hpp>

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

  // The table: one row per copy, keyed by where the copy is; its origin's
  // place names the message (the key, "network \x1f source \x1f id"), so
  // the origin needs no row. Channels are numbered in `sync_channels`.
  static std::vector<std::string> migrations(store::Dialect dialect);
  // Numbers `channels` in the database (once for good) and learns every
  // channel's number, so that rows of those channels are written with
  // them: without, a row names its channels and the database looks their
  // numbers up, row by row. After migrations(), before the first message.
  Task<> load(const std::vector<Channel>& channels);

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
    // Its tag is the key. Ours alone once every delivery and echo of its
    // copies is done: then a newer ref in this slot reuses it (no record
    // and no key allocated per message once the ring has wrapped).
    std::shared_ptr<Origin> origin;
    std::uint64_t key_hash = 0;
    // Live copies are the first `count`, origin first, each with its hash
    // (its entry in the index). Slots beyond are kept when the ring wraps,
    // so their strings' memory is reused. Inline for an origin and one
    // copy: a two-way bridge allocates no list per message.
    struct Slot {
      Copy copy;
      std::uint64_t hash = 0;
    };
    boost::container::small_vector<Slot, 2> copies;
    std::size_t count = 0;
    const std::string& key() const { return origin->tag; }
  };
  struct IndexEntry {
    std::uint64_t hash = 0;  // 0: empty
    std::uint64_t n = 0;     // the ref; stale once that number left the ring
  };
  static std::uint64_t hash_of(const Channel& channel, std::string_view id);
  static std::uint64_t hash_of_key(std::string_view key);
  // A fresh ref in the ring (evicting the oldest), with a new record of
  // `key` that carries its number, indexed by its key. `key` must not
  // point into the evicted ref's record.
  Ref& claim(std::string_view key);
  // Appends a copy to `ref` and indexes it.
  void add(Ref& ref, const Channel& channel, std::string_view id);
  bool stale(std::uint64_t n) const;
  std::size_t slot_of(std::uint64_t n) const;
  void grow_index();
  static constexpr std::size_t kFirstIndex = 1024;
  // Index slots per ref: a key and (in a two-way bridge) two copies take
  // three, so the table stays under 40 % full: linear probing crowds out
  // entries (kMaxProbe) when it is fuller.
  static constexpr std::size_t kSlotsPerRef = 8;
  Ref* find_ref(std::uint64_t n);
  Ref* find_key(std::string_view key);
  // Queues an entry and prefetches its bucket; entries go in kPending at
  // a time, or before anything reads the index. The table is megabytes
  // (kSlotsPerRef entries per ref), so nearly every entry's bucket is a
  // cache miss: inserted one by one, each miss waited for the last (a
  // probe loop reads what it compares); queued, they are in flight
  // together, and under the work between them.
  void index(std::uint64_t hash, std::uint64_t n);
  void insert(std::uint64_t hash, std::uint64_t n);
  void flush_index();
  static constexpr std::size_t kPending = 16;
  IndexEntry pending_[kPending];
  std::size_t pending_count_ = 0;
  Ref* lookup(const Channel& channel, std::string_view id);
  const std::string& network_of(const Plug* plug);
  std::string make_key(const Channel& channel, std::string_view id);
  void append_key(std::string& out, const Channel& channel, std::string_view id);
  std::string key_;  // add_origin's key, built in place
  // Takes copies IMMP recorded as one bridged message of ours; its key.
  std::string adopt(const std::vector<store::ImmpSyncCopy>& found);

  // Queues the row of a copy of the message `key` names.
  void write_row(const Channel& channel, std::string_view id, std::string_view key);
  // A channel's number in the database, by its network and source; null
  // while unknown.
  struct Numbered {
    std::string network, source;
    std::string prefix;  // "network \x1f source \x1f", how its keys begin
    std::int64_t id;
  };
  const Numbered* numbered(std::string_view network, std::string_view source) const;
  const Numbered* numbered_key(std::string_view key) const;
  std::vector<Numbered> numbered_;
  // The last found: a bridge's copies mostly go to the same channel, of
  // messages from the same channel.
  const PlugHandle* last_copy_handle_ = nullptr;
  const Numbered* last_copy_ = nullptr;
  const Numbered* last_origin_ = nullptr;

  const Host& host_;
  store::Database* db_;
  const store::Database::KeptSql* insert_copy_;  // in db_'s dialect
  const store::Database::KeptSql* insert_named_;
  std::size_t capacity_;
  std::string owner_;
  // Grows to capacity_, then wraps. Reserved at once, so that it never
  // moves (untouched, the reserve costs address space, not memory).
  std::vector<Ref> ring_;
  // Copies and keys -> ref numbers: edits, deletes and replies find a
  // bridged message's copies without scanning the ring. A power of two,
  // about kSlotsPerRef times the ring.
  std::vector<IndexEntry> index_;
  std::uint64_t next_n_ = 1;
  std::deque<std::pair<const Plug*, std::string>> networks_;  // stable references
  std::optional<store::ImmpSyncRefs> legacy_;
};

}  // namespace immp::hooks
