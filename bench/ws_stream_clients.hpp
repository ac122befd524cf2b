// StreamClients: the web benchmark's WebSocket stream clients, lean enough
// that the load generator is not what gets measured.
//
// A thousand Beast websocket coroutines on one thread, one async_read per
// frame, cost the client side more CPU than the server's whole fan-out
// (1,000 messages/s to 1,000 clients is a million frames a second): the
// latency measured was mostly the clients' own backlog. Here each client is
// a plain socket after a hand-written upgrade handshake, read by epoll on
// one or more reader threads: one read() takes all the frames the server
// wrote, and all of them get that read's timestamp.
//
// Each event's text is "b<index>:<send time in ns>", posted by the bench's
// poster: a client's latency is its read's time minus the send time, and
// every client checks that it got every index once, in order.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace immp::bench {

// Latencies in 10 us steps up to 10 s (the last bucket holds the rest).
class LatencyHistogram {
 public:
  static constexpr std::int64_t kStepNs = 10'000;
  LatencyHistogram() : counts_(1'000'000, 0) {}
  void add(std::int64_t ns) {
    std::int64_t b = ns < 0 ? 0 : ns / kStepNs;
    auto last = static_cast<std::int64_t>(counts_.size()) - 1;
    if (b > last) b = last;
    ++counts_[static_cast<std::size_t>(b)];
    ++total_;
  }
  void merge(const LatencyHistogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
  }
  // The latency at quantile `q` (0..1), in ms: the bucket's upper edge.
  double quantile_ms(double q) const;
  std::uint64_t total() const { return total_; }

 private:
  std::vector<std::uint32_t> counts_;
  std::uint64_t total_ = 0;
};

struct StreamTally {
  std::uint64_t received = 0;    // events read, by every client
  std::uint64_t lost = 0;        // (index, client) pairs never read
  std::uint64_t duplicated = 0;  // read twice or out of order
  std::uint64_t reads = 0;       // read()s that carried events
  std::size_t lagged = 0;        // clients told they fell behind
  std::size_t closed = 0;        // clients cut off otherwise before the end
  std::size_t unfinished = 0;    // clients still short at the deadline
  LatencyHistogram latency;
};

class StreamClients {
 public:
  // Connects `count` clients to `port` on 127.0.0.1 (blocking, one after the
  // other) with `target` as the request's path and `token` as its bearer,
  // each up to its "ready" frame. Throws on a failed handshake.
  StreamClients(int port, const std::string& target, const std::string& token, std::size_t count,
                std::size_t threads);
  ~StreamClients();
  StreamClients(const StreamClients&) = delete;
  StreamClients& operator=(const StreamClients&) = delete;

  // Starts the reader threads.
  void start();
  // The poster is done: `posted` messages (indexes 0..posted-1) went out.
  // The readers end when every client has them all, or at `deadline_s`
  // seconds from now; returns the merged tally.
  StreamTally finish(std::uint64_t posted, double deadline_s);

 private:
  struct Conn;
  struct Reader;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::atomic<std::uint64_t> posted_{~std::uint64_t{0}};
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> deadline_{INT64_MAX};  // steady-clock ns; set by finish()
};

}  // namespace immp::bench
