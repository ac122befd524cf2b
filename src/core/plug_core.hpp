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

#include <boost/unordered/unordered_flat_map.hpp>

#include "immp/hook.hpp"
#include "immp/message.hpp"
#include "immp/ring.hpp"
#include "immp/tasks.hpp"

namespace immp::detail {

// The ids our posts produced on one plug, with what was posted and by whom.
// Bounded: a ring of the last kCapacity parts, indexed by a hash of (source,
// id); allocates nothing per part once the ring is full (strings reuse the
// slot's capacity).
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
  bool empty() const { return index_.empty(); }

 private:
  static std::uint64_t hash_of(std::string_view source, std::string_view id);
  std::vector<Entry> ring_;
  boost::unordered_flat_map<std::uint64_t, std::uint64_t> index_;  // hash -> n
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
