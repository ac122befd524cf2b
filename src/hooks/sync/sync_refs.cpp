#include "hooks/sync/sync_refs.hpp"

#include <bit>
#include <cstring>

#include <fmt/format.h>
#include "immp/hash.hpp"

namespace immp::hooks {

namespace {
constexpr std::size_t kMaxProbe = 32;

// Written once per delivered copy: kept, so each write queues no copy of it.
// Its rows may share statements (KeptSql::rows): a busy bridge writes many.
const store::Database::KeptSql kInsertCopy =
    store::Database::KeptSql::rows("INSERT INTO sync_refs (network, channel, message, key) VALUES",
                                   "(?, ?, ?, ?)", "ON CONFLICT DO NOTHING");
// The same for SQLite. Why OR IGNORE: a statement of many rows that could
// abort half-way (ON CONFLICT DO NOTHING leaves NOT NULL to abort) makes
// SQLite keep a statement journal, a copy of each page the statement
// changes, which past 64 KiB goes to a temporary file: 160,000 write()
// calls (320 MB) for the 500,000 rows of the sync bench. OR IGNORE cannot
// abort, so there is no such journal. (Its rows have no nulls.)
const store::Database::KeptSql kInsertCopySqlite = store::Database::KeptSql::rows(
    "INSERT OR IGNORE INTO sync_refs (network, channel, message, key) VALUES", "(?, ?, ?, ?)", "");

}  // namespace

SyncRefs::SyncRefs(const Host& host, store::Database* db, std::size_t capacity, std::string owner)
    : host_(host),
      db_(db),
      insert_copy_(db && db->dialect() == store::Dialect::sqlite ? &kInsertCopySqlite
                                                                 : &kInsertCopy),
      capacity_(std::max<std::size_t>(capacity, 16)),
      owner_(std::move(owner)),
      index_(kFirstIndex) {
  ring_.reserve(capacity_);
}

void SyncRefs::add(Ref& ref, const Channel& channel, std::string_view id) {
  if (ref.count == ref.copies.size()) ref.copies.emplace_back();
  Ref::Slot& s = ref.copies[ref.count++];
  s.copy.channel = channel;
  s.copy.id.assign(id);
  s.hash = hash_of(channel, id);
  index(s.hash, ref.n);
}

std::vector<std::string> SyncRefs::migrations(store::Dialect dialect) {
  // Why WITHOUT ROWID: two B-trees per copy instead of three, on the
  // hot path of every bridged message. PostgreSQL has no such option.
  const std::string without_rowid = dialect == store::Dialect::sqlite ? " WITHOUT ROWID" : "";
  std::string v1 =
      "CREATE TABLE sync_refs (network TEXT NOT NULL, channel TEXT NOT NULL,"
      " message TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (network, channel, message))" +
      without_rowid + "; CREATE INDEX sync_refs_key ON sync_refs (key)";
  // Version 2: the message id leads the primary key. A bridge has a few
  // networks and channels but many messages, so with the network first
  // nearly every comparison in the B-tree found two equal columns before
  // the one that decides (SQLite's record comparison has a fast path only
  // for the first column): about a fifth of an insert's cost.
  std::string v2 =
      "CREATE TABLE sync_refs_v2 (message TEXT NOT NULL, channel TEXT NOT NULL,"
      " network TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (message, channel, network))" +
      without_rowid +
      "; INSERT INTO sync_refs_v2 (message, channel, network, key)"
      " SELECT message, channel, network, key FROM sync_refs"
      "; DROP TABLE sync_refs"
      "; ALTER TABLE sync_refs_v2 RENAME TO sync_refs"
      "; CREATE INDEX sync_refs_key ON sync_refs (key)";
  return {v1, v2};
}

std::string SyncRefs::make_key(const Channel& channel, std::string_view id) {
  std::string key;
  append_key(key, channel, id);
  return key;
}

void SyncRefs::append_key(std::string& out, const Channel& channel, std::string_view id) {
  static const std::string kNone;
  const std::string& network = channel.plug() ? network_of(channel.plug()) : kNone;
  // Sized once and filled in place: five appends cost three times as much,
  // once for every bridged message.
  std::size_t at = out.size();
  out.resize(at + network.size() + channel.source.size() + id.size() + 2);
  char* p = out.data() + at;
  auto put = [&p](std::string_view part) {
    std::memcpy(p, part.data(), part.size());
    p += part.size();
  };
  put(network);
  *p++ = '\x1f';
  put(channel.source);
  *p++ = '\x1f';
  put(id);
}

Copy SyncRefs::origin_of(std::string_view key) {
  auto a = key.find('\x1f');
  auto b = a == std::string_view::npos ? a : key.find('\x1f', a + 1);
  if (b == std::string_view::npos) return Copy{};
  std::string_view network = key.substr(0, a);
  Copy origin;
  origin.channel.source = std::string(key.substr(a + 1, b - a - 1));
  origin.id = std::string(key.substr(b + 1));
  for (Plug* plug : host_.plugs()) {
    if (network_of(plug) == network) {
      origin.channel.handle = plug->handle();
      break;
    }
  }
  return origin;
}

std::uint64_t SyncRefs::hash_of(const Channel& channel, std::string_view id) {
  auto seed = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(channel.handle));
  std::uint64_t h = hash_string(id, hash_string(channel.source, seed));
  return h | 1;  // never 0, which marks an empty entry
}

std::uint64_t SyncRefs::hash_of_key(std::string_view key) {
  // Seeded apart from copies' hashes (whose seed is a handle's address),
  // though a clash would only cost a comparison: every hit is verified.
  constexpr std::uint64_t kKeySeed = 0x6b6579;  // "key"
  return hash_string(key, kKeySeed) | 1;
}

const std::string& SyncRefs::network_of(const Plug* plug) {
  for (const auto& [p, id] : networks_) {
    if (p == plug) return id;
  }
  networks_.emplace_back(plug, plug->network_id());
  return networks_.back().second;
}

bool SyncRefs::stale(std::uint64_t n) const {
  // Refs are numbered in the order they take ring slots, so the live ones
  // are exactly the last capacity_ numbers: no need to touch the ring.
  return n == 0 || n + capacity_ < next_n_;
}

std::size_t SyncRefs::slot_of(std::uint64_t n) const { return (n - 1) % capacity_; }

SyncRefs::Ref* SyncRefs::find_ref(std::uint64_t n) {
  if (stale(n)) return nullptr;
  std::size_t slot = slot_of(n);
  if (slot >= ring_.size()) return nullptr;
  Ref& r = ring_[slot];
  return r.n == n ? &r : nullptr;
}

SyncRefs::Ref* SyncRefs::find_key(std::string_view key) {
  flush_index();
  std::uint64_t h = hash_of_key(key);
  std::size_t mask = index_.size() - 1;
  // The first live match is the newest ref of the key: index() puts a
  // newer entry in place of, or before, an older one of the same hash.
  for (std::size_t i = 0; i < kMaxProbe; ++i) {
    const IndexEntry& e = index_[(h + i) & mask];
    if (e.hash == 0) return nullptr;
    if (e.hash != h) continue;
    if (Ref* r = find_ref(e.n); r && r->key() == key) return r;
  }
  return nullptr;
}

SyncRefs::Ref& SyncRefs::claim(std::string_view key) {
  std::uint64_t n = next_n_++;
  std::size_t slot = slot_of(n);
  // The ring and its index grow with use up to the capacity, so a quiet
  // bridge costs little memory.
  if (slot >= ring_.size()) {
    ring_.emplace_back();
    if (ring_.size() * kSlotsPerRef > index_.size() &&
        index_.size() < std::bit_ceil(capacity_ * kSlotsPerRef)) {
      grow_index();
    }
  }
  // The ref that held the slot leaves the ring: its index entries go stale
  // with its number, and are reused as they are met.
  Ref& r = ring_[slot];
  r.n = n;
  // A delivery finds its ref by the number its record carries, without
  // hashing the key. use_count() is exact here: records are only copied
  // on the host's executor, which is running this.
  if (r.origin && r.origin.use_count() == 1) {
    r.origin->tag.assign(key);
    r.origin->ref = n;
  } else {
    r.origin = std::make_shared<Origin>(Origin{owner_, std::string(key), n});
  }
  r.count = 0;
  r.key_hash = hash_of_key(r.key());
  index(r.key_hash, n);
  return r;
}

void SyncRefs::grow_index() {
  // Every live ref is indexed again below, queued entries' included.
  pending_count_ = 0;
  std::vector<IndexEntry> bigger(index_.size() * 2);
  index_.swap(bigger);
  // Oldest first, so that a newer ref of a key takes its entry (see
  // find_key). The hashes are kept: nothing is hashed again.
  std::uint64_t oldest = next_n_ > capacity_ ? next_n_ - capacity_ : 1;
  for (std::uint64_t n = oldest; n < next_n_; ++n) {
    const Ref* r = find_ref(n);
    if (!r) continue;
    insert(r->key_hash, n);
    for (std::size_t i = 0; i < r->count; ++i) insert(r->copies[i].hash, n);
  }
}

void SyncRefs::index(std::uint64_t h, std::uint64_t n) {
  __builtin_prefetch(&index_[h & (index_.size() - 1)], 1);
  pending_[pending_count_++] = IndexEntry{h, n};
  if (pending_count_ == kPending) flush_index();
}

void SyncRefs::flush_index() {
  // In the order queued: a newer entry of a hash goes in place of, or
  // before, an older one (see find_key).
  for (std::size_t i = 0; i < pending_count_; ++i) insert(pending_[i].hash, pending_[i].n);
  pending_count_ = 0;
}

void SyncRefs::insert(std::uint64_t h, std::uint64_t n) {
  std::size_t mask = index_.size() - 1;
  std::size_t victim = h & mask;
  for (std::size_t i = 0; i < kMaxProbe; ++i) {
    IndexEntry& e = index_[(h + i) & mask];
    // Empty, stale (its ref was overwritten) or the same message: take it.
    if (e.hash == 0 || e.hash == h || stale(e.n)) {
      e = IndexEntry{h, n};
      return;
    }
    victim = (h + i) & mask;
  }
  // Crowded: forget an arbitrary live entry; the database still knows it.
  index_[victim] = IndexEntry{h, n};
}

SyncRefs::Ref* SyncRefs::lookup(const Channel& channel, std::string_view id) {
  flush_index();
  std::uint64_t h = hash_of(channel, id);
  std::size_t mask = index_.size() - 1;
  for (std::size_t i = 0; i < kMaxProbe; ++i) {
    const IndexEntry& e = index_[(h + i) & mask];
    if (e.hash == 0) return nullptr;
    if (e.hash != h) continue;
    if (Ref* r = find_ref(e.n)) {
      for (std::size_t c = 0; c < r->count; ++c) {
        const Copy& copy = r->copies[c].copy;
        if (copy.id == id && copy.channel == channel) return r;
      }
    }
  }
  return nullptr;
}

OriginPtr SyncRefs::add_origin(const Channel& channel, const std::string& id) {
  key_.clear();
  append_key(key_, channel, id);
  Ref& r = claim(key_);
  add(r, channel, id);
  return r.origin;
}

OriginPtr SyncRefs::origin_for(const std::string& key) {
  if (Ref* r = find_key(key)) return r->origin;
  return std::make_shared<const Origin>(Origin{owner_, key});
}

void SyncRefs::add_copy(const Origin& origin, const Channel& channel, const std::string& id) {
  const std::string& key = origin.tag;
  Ref* r = origin.ref ? find_ref(origin.ref) : nullptr;
  if (!r || &*r->origin != &origin) r = find_key(key);
  if (!r) {
    // Evicted, or delivered after a restart: start the ref again.
    r = &claim(key);
    Copy first = origin_of(key);
    if (first.channel.plug()) add(*r, first.channel, first.id);
  }
  add(*r, channel, id);
  if (db_) {
    // Built in place: a braced list would copy each string twice.
    std::vector<store::Value> row;
    row.reserve(4);
    row.emplace_back(network_of(channel.plug()));
    row.emplace_back(channel.source);
    row.emplace_back(id);
    row.emplace_back(key);
    db_->write(*insert_copy_, std::move(row));
  }
}

Task<std::optional<std::string>> SyncRefs::key_for(const Channel& channel, const std::string& id) {
  if (Ref* r = lookup(channel, id)) co_return r->key();
  if (!db_ || !channel.plug()) co_return std::nullopt;
  // Named first: GCC 12 mishandles braced temporaries inside co_await.
  std::vector<store::Value> params{network_of(channel.plug()), channel.source, id};
  store::Rows rows = co_await db_->query(
      "SELECT key FROM sync_refs WHERE network = ? AND channel = ? AND message = ?",
      std::move(params));
  if (!rows.empty()) co_return store::as_text(rows[0][0]);
  // Not a copy; perhaps an origin, which has no row of its own.
  std::string key = make_key(channel, id);
  std::vector<store::Value> by_key{key};
  rows = co_await db_->query("SELECT 1 FROM sync_refs WHERE key = ? LIMIT 1", std::move(by_key));
  if (!rows.empty()) co_return key;
  if (!legacy_) co_return std::nullopt;
  // Bridged by IMMP before the switch?
  std::vector<store::ImmpSyncCopy> found = co_await legacy_->copies(host_, channel, id);
  if (found.size() < 2) co_return std::nullopt;  // alone: nothing to reach
  co_return adopt(found);
}

std::string SyncRefs::adopt(const std::vector<store::ImmpSyncCopy>& found) {
  // IMMP's rows do not say which was the original: the first written
  // stands for the message, and the others are recorded as its copies, in
  // our table too, so the next lookup needs IMMP's no more.
  std::string key = make_key(found.front().channel, found.front().id);
  Ref& r = claim(key);
  for (std::size_t i = 0; i < found.size(); ++i) {
    const auto& c = found[i];
    add(r, c.channel, c.id);
    if (i > 0 && db_ && c.channel.plug()) {
      db_->write(*insert_copy_, {network_of(c.channel.plug()), c.channel.source, c.id, key});
    }
  }
  return key;
}

Task<std::vector<Copy>> SyncRefs::copies(const std::string& key) {
  if (Ref* r = find_key(key)) {
    std::vector<Copy> out;
    out.reserve(r->count);
    for (std::size_t i = 0; i < r->count; ++i) out.push_back(r->copies[i].copy);
    co_return out;
  }
  if (!db_) co_return std::vector<Copy>{};
  std::vector<store::Value> params{key};
  store::Rows rows = co_await db_->query(
      "SELECT network, channel, message FROM sync_refs WHERE key = ?", std::move(params));
  std::vector<Copy> out;
  if (rows.empty()) co_return out;
  Copy origin = origin_of(key);
  if (origin.channel.plug()) out.push_back(origin);
  for (const auto& row : rows) {
    std::string network = store::as_text(row[0]);
    for (Plug* plug : host_.plugs()) {
      if (network_of(plug) == network) {
        out.push_back(Copy{plug->channel(store::as_text(row[1])), store::as_text(row[2])});
        break;
      }
    }
  }
  // Cached again: more edits or replies to the same message are likely.
  Ref& r = claim(key);
  for (const auto& c : out) add(r, c.channel, c.id);
  co_return out;
}

}  // namespace immp::hooks
