#include "hooks/sync/sync_refs.hpp"

#include <fmt/format.h>

namespace immp::hooks {

SyncRefs::SyncRefs(const Host& host, store::Database* db, std::size_t capacity)
    : host_(host),
      db_(db),
      capacity_(capacity),
      run_(fmt::format("{:x}", std::chrono::duration_cast<std::chrono::microseconds>(
                                   Clock::now().time_since_epoch())
                                   .count())) {}

std::vector<std::string> SyncRefs::migrations() {
  return {
      "CREATE TABLE sync_refs (key TEXT NOT NULL, network TEXT NOT NULL, channel TEXT NOT NULL,"
      " message TEXT NOT NULL, UNIQUE (network, channel, message));"
      "CREATE INDEX sync_refs_key ON sync_refs (key)",
  };
}

std::string SyncRefs::new_key() { return fmt::format("{}.{}", run_, ++counter_); }

std::string SyncRefs::lookup_key(const Channel& channel, const std::string& id) {
  std::string k = channel.plug ? channel.plug->network_id() : std::string();
  k.push_back('\0');
  k.append(channel.source).push_back('\0');
  k.append(id);
  return k;
}

SyncRefs::Ref& SyncRefs::remember(const std::string& key) {
  auto [it, fresh] = refs_.try_emplace(key);
  if (fresh) {
    order_.push_back(key);
    while (order_.size() > capacity_) {
      auto old = refs_.find(order_.front());
      if (old != refs_.end()) {
        for (const auto& c : old->second.copies) lookup_.erase(lookup_key(c.channel, c.id));
        refs_.erase(old);
      }
      order_.pop_front();
    }
  }
  return refs_[key];
}

void SyncRefs::add_origin(const std::string& key, const Channel& channel, const std::string& id) {
  Ref& ref = remember(key);
  ref.copies.push_back(Copy{channel, id});
  lookup_.insert_or_assign(lookup_key(channel, id), key);
}

void SyncRefs::add_copy(const std::string& key, const Copy& origin, const Copy& copy) {
  Ref& ref = remember(key);
  if (ref.copies.empty()) {
    ref.copies.push_back(origin);
    lookup_.insert_or_assign(lookup_key(origin.channel, origin.id), key);
  }
  ref.copies.push_back(copy);
  lookup_.insert_or_assign(lookup_key(copy.channel, copy.id), key);
  if (!db_) return;
  const char* sql1 =
      "INSERT INTO sync_refs (key, network, channel, message) VALUES (?, ?, ?, ?) "
      "ON CONFLICT DO NOTHING";
  if (ref.stored || !origin.channel.plug) {
    db_->write(sql1, {key, copy.channel.plug->network_id(), copy.channel.source, copy.id});
    return;
  }
  // Why: one statement for the origin and its first copy halves the writes
  // on the message path.
  ref.stored = true;
  db_->write(
      "INSERT INTO sync_refs (key, network, channel, message) VALUES (?, ?, ?, ?), (?, ?, ?, ?) "
      "ON CONFLICT DO NOTHING",
      {key, origin.channel.plug->network_id(), origin.channel.source, origin.id, key,
       copy.channel.plug->network_id(), copy.channel.source, copy.id});
}

Task<std::optional<std::string>> SyncRefs::key_for(const Channel& channel, const std::string& id) {
  auto it = lookup_.find(lookup_key(channel, id));
  if (it != lookup_.end()) co_return it->second;
  if (!db_ || !channel.plug) co_return std::nullopt;
  // Named first: GCC 12 mishandles braced temporaries inside co_await.
  std::vector<store::Value> params{channel.plug->network_id(), channel.source, id};
  store::Rows rows = co_await db_->query(
      "SELECT key FROM sync_refs WHERE network = ? AND channel = ? AND message = ?",
      std::move(params));
  if (rows.empty()) co_return std::nullopt;
  co_return store::as_text(rows[0][0]);
}

Task<std::vector<Copy>> SyncRefs::copies(const std::string& key) {
  auto it = refs_.find(key);
  if (it != refs_.end()) co_return it->second.copies;
  if (!db_) co_return std::vector<Copy>{};
  std::vector<store::Value> params{key};
  store::Rows rows = co_await db_->query(
      "SELECT network, channel, message FROM sync_refs WHERE key = ?", std::move(params));
  std::vector<Copy> out;
  for (const auto& row : rows) {
    std::string network = store::as_text(row[0]);
    for (Plug* plug : host_.plugs()) {
      if (plug->network_id() == network) {
        out.push_back(Copy{plug->channel(store::as_text(row[1])), store::as_text(row[2])});
        break;
      }
    }
  }
  // Cache it again: more edits or replies to the same message are likely.
  Ref& ref = remember(key);
  ref.stored = true;
  ref.copies = out;
  for (const auto& c : out) lookup_.insert_or_assign(lookup_key(c.channel, c.id), key);
  co_return out;
}

}  // namespace immp::hooks
