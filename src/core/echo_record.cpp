#include "core/plug_core.hpp"

#include "immp/hash.hpp"

namespace immp::detail {

std::uint64_t EchoRecord::hash_of(std::string_view source, std::string_view id) {
  return hash_string(id, hash_string(source));
}

std::size_t EchoRecord::bucket_of(std::uint64_t hash, std::size_t slot) const {
  const std::uint32_t want = (tag_of(hash) << kSlotBits) | static_cast<std::uint32_t>(slot + 1);
  for (std::size_t i = hash & kMask;; i = (i + 1) & kMask) {
    std::uint32_t b = buckets_[i];
    if (b == 0) return kBuckets;
    if (b == want) return i;
  }
}

// Backward-shift deletion: the buckets after i that may move closer to
// their home do, so that no probe ever needs a marker for a removed one.
void EchoRecord::erase_bucket(std::size_t i) {
  for (std::size_t j = i;;) {
    j = (j + 1) & kMask;
    std::uint32_t b = buckets_[j];
    if (b == 0) break;
    std::size_t home = home_of(b);
    // b stays when its home lies cyclically in (i, j].
    bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    buckets_[i] = b;
    i = j;
  }
  buckets_[i] = 0;
  --live_;
}

// What the next add() will overwrite is at least 16k parts old and cold:
// asked for now, it arrives while the host handles this message.
void EchoRecord::prefetch_next() const {
  if (ring_.size() < kCapacity) return;
  std::size_t slot = (next_n_ - 1) % kCapacity;
  const Entry& next = ring_[slot];
  __builtin_prefetch(&buckets_[next.hash & kMask], 1, 2);
  if (next.origin) __builtin_prefetch(next.origin.get(), 1, 2);
  __builtin_prefetch(next.id.data(), 1, 2);
  const char* after = reinterpret_cast<const char*>(&ring_[(slot + 1) % kCapacity]);
  __builtin_prefetch(after, 1, 2);
  __builtin_prefetch(after + 64, 1, 2);
}

void EchoRecord::add(std::string_view source, std::string_view id, const MessagePtr& message,
                     const OriginPtr& origin, bool primary) {
  if (buckets_.empty()) {
    ring_.reserve(64);
    buckets_.assign(kBuckets, 0);
  }
  std::uint64_t n = next_n_++;
  std::size_t slot = (n - 1) % kCapacity;
  if (slot >= ring_.size()) ring_.emplace_back();
  Entry& e = ring_[slot];
  if (e.n != 0) {
    // Forget the oldest part, unless a newer one took its hash since.
    if (std::size_t i = bucket_of(e.hash, slot); i != kBuckets) erase_bucket(i);
  }
  e.n = n;
  e.hash = hash_of(source, id);
  // A plug posts to few channels: the slot usually has this source already.
  if (e.source != source) e.source.assign(source);
  e.id.assign(id);
  e.message = message;
  e.origin = origin;
  e.primary = primary;
  // One bucket per hash: a part posted again under the same id (an edit
  // that keeps it) takes over the older part's bucket.
  const std::uint32_t mine = (tag_of(e.hash) << kSlotBits) | static_cast<std::uint32_t>(slot + 1);
  std::size_t i = e.hash & kMask;
  for (;; i = (i + 1) & kMask) {
    std::uint32_t b = buckets_[i];
    if (b == 0) {
      ++live_;
      break;
    }
    if (b >> kSlotBits == tag_of(e.hash) && ring_[(b & kSlotMask) - 1].hash == e.hash) break;
  }
  buckets_[i] = mine;
  prefetch_next();
}

const EchoRecord::Entry* EchoRecord::find(std::string_view source, std::string_view id) const {
  if (live_ == 0) return nullptr;
  const std::uint64_t hash = hash_of(source, id);
  const std::uint32_t tag = tag_of(hash);
  for (std::size_t i = hash & kMask;; i = (i + 1) & kMask) {
    std::uint32_t b = buckets_[i];
    if (b == 0) return nullptr;
    if (b >> kSlotBits != tag) continue;
    const Entry& e = ring_[(b & kSlotMask) - 1];
    if (e.hash == hash && e.id == id && e.source == source) return &e;
  }
}

}  // namespace immp::detail
