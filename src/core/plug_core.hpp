// The host's bookkeeping inside each plug: its inbound queue, the record of
// our own posts (to recognise their echoes) and the messages held back
// while a put() is in flight. Internal to src/core.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "immp/hook.hpp"
#include "immp/message.hpp"
#include "immp/ring.hpp"
#include "immp/tasks.hpp"

namespace immp::detail {

// The ids our posts produced on one plug, with what was posted and by whom.
// Bounded: a ring of the last kCapacity parts, indexed by a hash of (source,
// id); allocates nothing per part once the ring is full (strings reuse the
// slot's capacity).
//
// The index is our own small open-addressed table (linear probing, at most
// half full, deletion by backward shift) of 4-byte buckets: 128 KiB, so it
// stays in the CPU's cache where a general map of 16-byte pairs did not,
// and each add() prefetches what the next one will evict.
class EchoRecord {
 public:
  struct Entry {
    std::uint64_t n = 0;  // 0: empty
    std::uint64_t hash = 0;
    std::string source;
    std::string id;
    MessagePtr message;
    OriginPtr origin;
    bool primary = true;
  };
  static constexpr std::size_t kCapacity = 16384;

  void add(std::string_view source, std::string_view id, const MessagePtr& message,
           const OriginPtr& origin, bool primary);
  // The entry for a message that came in, or null when it is not ours.
  const Entry* find(std::string_view source, std::string_view id) const;
  Entry* find(std::string_view source, std::string_view id) {
    return const_cast<Entry*>(std::as_const(*this).find(source, id));
  }
  bool empty() const { return live_ == 0; }

 private:
  // A bucket: 0 when empty, else the slot in ring_ plus one (the low
  // kSlotBits) under the low kTagBits of the entry's hash, which hold its
  // home bucket and filter probes without reading the ring.
  static constexpr unsigned kSlotBits = 15;  // 1..kCapacity
  static constexpr unsigned kTagBits = 32 - kSlotBits;
  static constexpr std::size_t kBuckets = 2 * kCapacity;
  static_assert(kCapacity < (std::size_t{1} << kSlotBits));
  static_assert((kBuckets & (kBuckets - 1)) == 0 && kBuckets <= (std::size_t{1} << kTagBits));
  static constexpr std::uint32_t kSlotMask = (1u << kSlotBits) - 1;
  static constexpr std::size_t kMask = kBuckets - 1;

  static std::uint64_t hash_of(std::string_view source, std::string_view id);
  static std::uint32_t tag_of(std::uint64_t hash) {
    return static_cast<std::uint32_t>(hash) & ((1u << kTagBits) - 1);
  }
  static std::size_t home_of(std::uint32_t bucket) { return (bucket >> kSlotBits) & kMask; }
  // The bucket that names ring_[slot], or kBuckets if none does (a newer
  // part with the same hash took it over).
  std::size_t bucket_of(std::uint64_t hash, std::size_t slot) const;
  void erase_bucket(std::size_t i);
  void prefetch_next() const;

  std::vector<Entry> ring_;
  std::vector<std::uint32_t> buckets_;
  std::size_t live_ = 0;  // buckets in use
  std::uint64_t next_n_ = 1;
};

struct PlugCore {
  explicit PlugCore(Executor ex) : arrived(ex), drained(ex), idle(ex) {}

  // Inbound: filled by Plug::queue(), emptied by the host's reader.
  Ring<SentPtr> inbox;
  Signal arrived;
  bool reader_waiting = false;
  Signal drained;
  bool producer_waiting = false;
  // A busy plug hands over messages in batches of at most this many: each
  // stage (reader, hook, outbox, put) then works on messages still in the
  // CPU's caches. At 4096/1024 a batch outgrew them and every stage missed
  // on every message: relay went from about 0.8M to 1.5M msg/s, sync with
  // no store from about 0.18M to 0.5M msg/s, when this fell to 256/64
  // (64 to 1024 measured alike; the sync bench was best at 256).
  static constexpr std::size_t kHighWater = 256;
  static constexpr std::size_t kLowWater = 64;

  // put() calls in flight, and the messages held back meanwhile because
  // the plug said they may be echoes whose ids are not known yet.
  int putting = 0;
  std::deque<SentPtr> held;
  Signal idle;  // putting dropped to zero (a plug is removed only then)

  EchoRecord ours;
};

}  // namespace immp::detail
