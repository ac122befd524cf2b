// The host's bookkeeping inside each plug: its inbound queue, the send lock
// and the record of our own posts (to recognise echoes). Internal.
#pragma once

#include <deque>
#include <string>
#include <unordered_map>

#include "immp/message.hpp"
#include "immp/tasks.hpp"

namespace immp::detail {

struct PlugCore {
  explicit PlugCore(Executor ex) : arrived(ex), drained(ex), unlocked(ex) {}

  // Inbound: filled by Plug::queue(), emptied by the host's reader.
  std::deque<SentPtr> inbox;
  Signal arrived;
  bool reader_waiting = false;
  Signal drained;
  bool producer_waiting = false;
  static constexpr std::size_t kHighWater = 4096;
  static constexpr std::size_t kLowWater = 1024;

  // The send lock: number of put() calls in progress. The reader yields
  // nothing while it is non-zero.
  int putting = 0;
  Signal unlocked;

  // Our own posts, by "source\0id", kept only for plugs whose network
  // echoes (Features::echo); bounded, oldest forgotten first.
  struct Ours {
    MessagePtr source;
    bool primary = true;
  };
  std::unordered_map<std::string, Ours> ours;
  std::deque<std::string> ours_order;
  static constexpr std::size_t kOursCapacity = 16384;

  static std::string key(const std::string& source, const std::string& id) {
    std::string k;
    k.reserve(source.size() + id.size() + 1);
    k.append(source).push_back('\0');
    k.append(id);
    return k;
  }
  void remember(const std::string& source, const std::string& id, MessagePtr msg, bool primary) {
    auto k = key(source, id);
    if (ours.insert_or_assign(k, Ours{std::move(msg), primary}).second) ours_order.push_back(k);
    while (ours_order.size() > kOursCapacity) {
      ours.erase(ours_order.front());
      ours_order.pop_front();
    }
  }
};

}  // namespace immp::detail
