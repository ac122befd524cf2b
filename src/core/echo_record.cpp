#include "core/plug_core.hpp"

#include "immp/hash.hpp"

namespace immp::detail {

std::uint64_t EchoRecord::hash_of(std::string_view source, std::string_view id) {
  return hash_string(id, hash_string(source));
}

void EchoRecord::add(std::string_view source, std::string_view id, const MessagePtr& message,
                     const OriginPtr& origin, bool primary) {
  if (ring_.empty()) ring_.reserve(64);
  std::uint64_t n = next_n_++;
  std::size_t slot = (n - 1) % kCapacity;
  if (slot >= ring_.size()) ring_.emplace_back();
  Entry& e = ring_[slot];
  if (e.n != 0) {
    // Forget the oldest part, unless a newer one took its hash since.
    auto it = index_.find(e.hash);
    if (it != index_.end() && it->second == e.n) index_.erase(it);
  }
  e.n = n;
  e.hash = hash_of(source, id);
  // A plug posts to few channels: the slot usually has this source already.
  if (e.source != source) e.source.assign(source);
  e.id.assign(id);
  e.message = message;
  e.origin = origin;
  e.primary = primary;
  index_.insert_or_assign(e.hash, n);
}

const EchoRecord::Entry* EchoRecord::find(std::string_view source, std::string_view id) const {
  if (index_.empty()) return nullptr;
  auto it = index_.find(hash_of(source, id));
  if (it == index_.end()) return nullptr;
  const Entry& e = ring_[(it->second - 1) % kCapacity];
  if (e.n != it->second || e.id != id || e.source != source) return nullptr;
  return &e;
}

}  // namespace immp::detail
