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
const store::Database::KeptSql kInsertCopy = store::Database::KeptSql::rows(
    "INSERT INTO sync_refs (message, channel, origin, origin_channel) VALUES", "(?, ?, ?, ?)",
    "ON CONFLICT DO NOTHING");
// The same for SQLite. Why OR IGNORE: a statement of many rows that could
// abort half-way (ON CONFLICT DO NOTHING leaves NOT NULL to abort) makes
// SQLite keep a statement journal, a copy of each page the statement
// changes, which past 64 KiB goes to a temporary file: 160,000 write()
// calls (320 MB) for the 500,000 rows of the sync bench. OR IGNORE cannot
// abort, so there is no such journal. (Its rows have no nulls.)
const store::Database::KeptSql kInsertCopySqlite = store::Database::KeptSql::rows(
    "INSERT OR IGNORE INTO sync_refs (message, channel, origin, origin_channel) VALUES",
    "(?, ?, ?, ?)", "");
// A row whose channels' numbers this map does not know (a channel first
// met after load()): the database looks them up, after numbering them
// (kNumberChannel, queued first).
const std::string kChannelId = "(SELECT id FROM sync_channels WHERE network = ? AND channel = ?)";
const store::Database::KeptSql kInsertNamed = store::Database::KeptSql::rows(
    "INSERT INTO sync_refs (message, channel, origin, origin_channel) VALUES",
    "(?, " + kChannelId + ", ?, " + kChannelId + ")", "ON CONFLICT DO NOTHING");
const store::Database::KeptSql kInsertNamedSqlite = store::Database::KeptSql::rows(
    "INSERT OR IGNORE INTO sync_refs (message, channel, origin, origin_channel) VALUES",
    "(?, " + kChannelId + ", ?, " + kChannelId + ")", "");
const char* const kNumberChannel =
    "INSERT INTO sync_channels (network, channel) VALUES (?, ?) ON CONFLICT DO NOTHING";

// How a message id is stored: its length first, as one character ('0' +
// length) up to 77 bytes ("~length:" beyond). Ids that count up, as a
// network's own counters do (decimal, or the memory plug's base 36), then
// sort in the order they arrive, even past a change of length ("99" before
// "100"): a new row goes at the end of the table's B-trees. As plain text,
// every id after such a change sorted just after an older, shorter one, in
// the middle of full pages, which SQLite splits and rebalances: on the sync
// bench's rows, 489M instructions against 260M.
std::string stored_id(std::string_view id) {
  std::string out;
  if (id.size() < 78) {
    out.reserve(id.size() + 1);
    out += static_cast<char>('0' + id.size());
  } else {
    out = "~" + std::to_string(id.size()) + ":";
  }
  out += id;
  return out;
}
std::string plain_id(std::string_view stored) {
  if (stored.empty()) return {};
  if (stored[0] != '~') return std::string(stored.substr(1));
  auto colon = stored.find(':');
  return std::string(colon == std::string_view::npos ? stored : stored.substr(colon + 1));
}

// A key's parts; all empty when it is not one.
struct KeyParts {
  std::string_view network, source, id;
};
KeyParts parse_key(std::string_view key) {
  auto a = key.find('\x1f');
  auto b = a == std::string_view::npos ? a : key.find('\x1f', a + 1);
  if (b == std::string_view::npos) return {};
  return {key.substr(0, a), key.substr(a + 1, b - a - 1), key.substr(b + 1)};
}

}  // namespace

SyncRefs::SyncRefs(const Host& host, store::Database* db, std::size_t capacity, std::string owner)
    : host_(host),
      db_(db),
      insert_copy_(db && db->dialect() == store::Dialect::sqlite ? &kInsertCopySqlite
                                                                 : &kInsertCopy),
      insert_named_(db && db->dialect() == store::Dialect::sqlite ? &kInsertNamedSqlite
                                                                  : &kInsertNamed),
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
  // Version 3: channels are numbered (sync_channels), and the key is kept
  // as its parts, the origin's message id and its channel's number: rows
  // of about half the size in both B-trees, so fewer pages to split and
  // write. The sync bench's database thread: 609M -> 545M instructions
  // for 50,000 messages. A key that is not one (fewer than two
  // separators; this map never wrote one) names no origin: its row is
  // dropped.
  bool sqlite = dialect == store::Dialect::sqlite;
  // Where the first separator in `text` is (1-based; 0: none).
  auto sep_in = [sqlite](const std::string& text) {
    return std::string(sqlite ? "instr(" : "strpos(") + text +
           (sqlite ? ", char(31))" : ", chr(31))");
  };
  std::string v3 = "CREATE TABLE sync_channels (" +
                   std::string(sqlite ? "id INTEGER PRIMARY KEY" : "id SERIAL PRIMARY KEY") +
                   ", network TEXT NOT NULL, channel TEXT NOT NULL, UNIQUE (network, channel))";
  // The key's parts: network, then `rest` (source, separator, message).
  v3 += fmt::format(
      "; CREATE TABLE sync_refs_split AS SELECT message, channel, network,"
      " substr(key, 1, a - 1) AS origin_network, substr(rest, 1, {0} - 1) AS origin_source,"
      " substr(rest, {0} + 1) AS origin"
      " FROM (SELECT message, channel, network, key, {1} AS a, substr(key, {1} + 1) AS rest"
      " FROM sync_refs) s WHERE a > 0 AND {0} > 0",
      sep_in("rest"), sep_in("key"));
  v3 +=
      "; INSERT INTO sync_channels (network, channel)"
      " SELECT network, channel FROM sync_refs_split"
      " UNION SELECT origin_network, origin_source FROM sync_refs_split"
      "; CREATE TABLE sync_refs_v3 (message TEXT NOT NULL, channel INTEGER NOT NULL,"
      " origin TEXT NOT NULL, origin_channel INTEGER NOT NULL, PRIMARY KEY (message, channel))" +
      without_rowid +
      "; INSERT INTO sync_refs_v3 (message, channel, origin, origin_channel)"
      " SELECT s.message, c.id, s.origin, o.id FROM sync_refs_split s"
      " JOIN sync_channels c ON c.network = s.network AND c.channel = s.channel"
      " JOIN sync_channels o ON o.network = s.origin_network AND o.channel = s.origin_source"
      "; DROP TABLE sync_refs_split"
      "; DROP TABLE sync_refs"
      "; ALTER TABLE sync_refs_v3 RENAME TO sync_refs"
      "; CREATE INDEX sync_refs_origin ON sync_refs (origin, origin_channel)";
  // Version 4: ids stored with their length first (stored_id()).
  auto stored = [sqlite](const std::string& column) {
    std::string bytes =
        sqlite ? "length(CAST(" + column + " AS BLOB))" : "octet_length(" + column + ")";
    return fmt::format(
        "CASE WHEN {0} < 78 THEN {1}(48 + {0}) || {2} ELSE '~' || {0} || ':' || {2} END", bytes,
        sqlite ? "char" : "chr", column);
  };
  std::string v4 =
      "UPDATE sync_refs SET message = " + stored("message") + ", origin = " + stored("origin");
  return {v1, v2, v3, v4};
}

Task<> SyncRefs::load(const std::vector<Channel>& channels) {
  if (!db_) co_return;
  for (const Channel& c : channels) {
    if (!c.plug()) continue;
    std::vector<store::Value> params{network_of(c.plug()), c.source};
    co_await db_->execute(kNumberChannel, std::move(params));
  }
  store::Rows rows = co_await db_->query("SELECT id, network, channel FROM sync_channels");
  numbered_.clear();
  last_copy_ = last_origin_ = nullptr;
  for (const auto& row : rows) {
    // A name with a separator in it could not be told from a key's parts.
    if (store::as_text(row[1]).find('\x1f') != std::string::npos ||
        store::as_text(row[2]).find('\x1f') != std::string::npos) {
      continue;
    }
    Numbered n{store::as_text(row[1]), store::as_text(row[2]), {}, store::as_int(row[0])};
    n.prefix = n.network + '\x1f' + n.source + '\x1f';
    numbered_.push_back(std::move(n));
  }
}

const SyncRefs::Numbered* SyncRefs::numbered(std::string_view network,
                                             std::string_view source) const {
  // A bridge has a handful of channels: a scan beats hashing.
  for (const Numbered& n : numbered_) {
    if (n.source == source && n.network == network) return &n;
  }
  return nullptr;
}

const SyncRefs::Numbered* SyncRefs::numbered_key(std::string_view key) const {
  for (const Numbered& n : numbered_) {
    if (key.starts_with(n.prefix)) return &n;
  }
  return nullptr;
}

void SyncRefs::write_row(const Channel& channel, std::string_view id, std::string_view key) {
  const Numbered* c = last_copy_;
  if (!c || last_copy_handle_ != channel.handle || c->source != channel.source) {
    c = numbered(network_of(channel.plug()), channel.source);
    last_copy_ = c;
    last_copy_handle_ = channel.handle;
  }
  const Numbered* o = last_origin_;
  if (c && (!o || !key.starts_with(o->prefix))) {
    o = numbered_key(key);
    last_origin_ = o;
  }
  std::vector<store::Value> row;
  row.reserve(6);
  if (c && o) {
    // Built in place: a braced list would copy each string twice.
    row.emplace_back(stored_id(id));
    row.emplace_back(c->id);
    row.emplace_back(stored_id(key.substr(o->prefix.size())));
    row.emplace_back(o->id);
    db_->write(*insert_copy_, std::move(row));
    return;
  }
  KeyParts origin = parse_key(key);
  if (origin.network.empty() && origin.source.empty() && origin.id.empty()) return;
  const std::string& network = network_of(channel.plug());
  db_->write(kNumberChannel, {network, channel.source});
  db_->write(kNumberChannel, {std::string(origin.network), std::string(origin.source)});
  row.emplace_back(stored_id(id));
  row.emplace_back(network);
  row.emplace_back(channel.source);
  row.emplace_back(stored_id(origin.id));
  row.emplace_back(std::string(origin.network));
  row.emplace_back(std::string(origin.source));
  db_->write(*insert_named_, std::move(row));
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
  if (db_) write_row(channel, id, key);
}

Task<std::optional<std::string>> SyncRefs::key_for(const Channel& channel, const std::string& id) {
  if (Ref* r = lookup(channel, id)) co_return r->key();
  if (!db_ || !channel.plug()) co_return std::nullopt;
  // Named first: GCC 12 mishandles braced temporaries inside co_await.
  std::vector<store::Value> params{stored_id(id), network_of(channel.plug()), channel.source};
  store::Rows rows = co_await db_->query(
      "SELECT o.network, o.channel, r.origin FROM sync_refs r"
      " JOIN sync_channels o ON o.id = r.origin_channel"
      " WHERE r.message = ? AND r.channel = " +
          kChannelId,
      std::move(params));
  if (!rows.empty()) {
    std::string key = store::as_text(rows[0][0]);
    key += '\x1f';
    key += store::as_text(rows[0][1]);
    key += '\x1f';
    key += plain_id(store::as_text(rows[0][2]));
    co_return key;
  }
  // Not a copy; perhaps an origin, which has no row of its own.
  std::vector<store::Value> by_origin{stored_id(id), network_of(channel.plug()), channel.source};
  rows = co_await db_->query(
      "SELECT 1 FROM sync_refs WHERE origin = ? AND origin_channel = " + kChannelId + " LIMIT 1",
      std::move(by_origin));
  if (!rows.empty()) co_return make_key(channel, id);
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
    if (i > 0 && db_ && c.channel.plug()) write_row(c.channel, c.id, key);
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
  KeyParts parts = parse_key(key);
  if (parts.network.empty() && parts.source.empty() && parts.id.empty()) {
    co_return std::vector<Copy>{};
  }
  std::vector<store::Value> params{stored_id(parts.id), std::string(parts.network),
                                   std::string(parts.source)};
  store::Rows rows = co_await db_->query(
      "SELECT c.network, c.channel, r.message FROM sync_refs r"
      " JOIN sync_channels c ON c.id = r.channel"
      " WHERE r.origin = ? AND r.origin_channel = " +
          kChannelId,
      std::move(params));
  std::vector<Copy> out;
  if (rows.empty()) co_return out;
  Copy origin = origin_of(key);
  if (origin.channel.plug()) out.push_back(origin);
  for (const auto& row : rows) {
    std::string network = store::as_text(row[0]);
    for (Plug* plug : host_.plugs()) {
      if (network_of(plug) == network) {
        out.push_back(
            Copy{plug->channel(store::as_text(row[1])), plain_id(store::as_text(row[2]))});
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
