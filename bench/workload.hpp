// The inbound traffic of the relay and sync benchmarks: what the users of
// an in-memory network post, handed to the host as a plug does
// (Plug::queue and paced(), which wait while the plug's inbound queue is over
// its high-water mark).
//
// Message i is "message i" by one user, with an id shaped like the memory
// plug's own ("<microseconds>.<n>"). With `change_every` = k, every k-th
// message changes an earlier one instead, alternately an edit (same id,
// `edited`) and a reply (a new message whose reply_to is a bare receipt of
// the parent, as most networks give it). Their targets lie 16k to 32k
// messages back: far enough that the copy was delivered (the host's
// queues are shorter), near enough to be in the sync hook's cache (50k),
// spread so that no cache line stays warm. Until 32k plain messages exist,
// there is nothing that far back and messages stay plain.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "alloc_count.hpp"
#include "immp/host.hpp"
#include "plugs/memory/memory_plug.hpp"

namespace immp::bench {

struct Feed {
  std::size_t n = 0;
  std::size_t change_every = 0;  // 0: every message is new
  // Filled in as it runs.
  std::size_t fed = 0, news = 0, edits = 0, replies = 0;
  // Allocations made composing the inbound messages (the network's side).
  AllocCounts inbound;
  bool done = false;
};

inline Task<> feed(plugs::MemoryPlug& plug, std::string source, Feed& f) {
  constexpr std::size_t kRing = 32768;
  const std::string prefix = std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                                Clock::now().time_since_epoch())
                                                .count()) +
                             ".";
  UserPtr author = plug.user("alice");
  Channel channel = plug.channel(std::move(source));
  std::vector<std::string> ring(f.change_every ? kRing : 0);  // ids of plain messages
  for (std::size_t i = 0; i < f.n; ++i) {
    AllocCounts before = alloc_count_this_thread();
    const bool change =
        f.change_every && i % f.change_every == f.change_every - 1 && f.news > kRing;
    // Built in place, as a plug that parses a network event fills in the
    // message it hands over (no Receipt or Message moved into it).
    auto sent = std::make_shared<SentMessage>();
    sent->channel = channel;
    sent->user = author;
    auto number = [&](std::string_view text) {
      char digits[20];
      auto end = std::to_chars(digits, digits + sizeof digits, i).ptr;
      std::string out;
      out.reserve(text.size() + (end - digits));  // one allocation, none if short
      out.append(text).append(digits, end);
      return out;
    };
    if (change) {
      std::size_t back = kRing / 2 + (i * 2654435761u) % (kRing / 2);  // 16k..32k back
      const std::string& target = ring[(f.news - back) % kRing];
      if ((i / f.change_every) % 2 == 0) {
        sent->id = target;
        sent->text = RichText(number("message ").append(" (edited)"));
        sent->edited = true;
        ++f.edits;
      } else {
        sent->id = number(prefix);
        sent->text = RichText(number("reply "));
        auto parent = std::make_shared<SentMessage>();
        parent->id = target;
        parent->channel = channel;
        sent->reply_to = std::move(parent);
        ++f.replies;
      }
    } else {
      sent->id = number(prefix);
      sent->text = RichText(number("message "));
      if (!ring.empty()) ring[f.news % kRing] = sent->id;
      ++f.news;
    }
    AllocCounts after = alloc_count_this_thread();
    f.inbound.news += after.news - before.news;
    f.inbound.mallocs += after.mallocs - before.mallocs;
    f.inbound.bytes += after.bytes - before.bytes;
    f.inbound.aligned += after.aligned - before.aligned;
    ++f.fed;
    // As a busy plug queues: a coroutine only when it must wait.
    if (plug.queue(std::move(sent))) co_await plug.paced();
  }
  f.done = true;
}

// Runs `io` until done() says so, or until nothing arrived for `stall` once
// the feed is done (progress() is a count that grows with arrivals; a
// timer looks at it every 100 ms, so the loop itself reads no clock).
// Returns the time of the last progress the timer saw, for a run that
// stalled.
inline std::chrono::steady_clock::time_point run_until_delivered(
    asio::io_context& io, const std::function<bool()>& done,
    const std::function<std::size_t()>& progress, const Feed& f, std::chrono::milliseconds stall) {
  using SteadyClock = std::chrono::steady_clock;
  auto last = SteadyClock::now();
  std::size_t seen = progress();
  bool stalled = false, ticking = true;
  asio::steady_timer timer(io);
  std::function<void(boost::system::error_code)> tick = [&](boost::system::error_code ec) {
    if (ec) {
      ticking = false;
      return;
    }
    auto now = SteadyClock::now();
    if (std::size_t p = progress(); p != seen) {
      seen = p;
      last = now;
    } else if (f.done && now - last > stall) {
      stalled = true;
      ticking = false;
      return;
    }
    timer.expires_after(std::chrono::milliseconds(100));
    timer.async_wait(tick);
  };
  timer.expires_after(std::chrono::milliseconds(100));
  timer.async_wait(tick);
  while (!done() && !stalled && io.run_one() > 0) {
  }
  // Let the cancelled wait complete, so that no handler refers to this frame.
  timer.cancel();
  while (ticking && io.run_one() > 0) {
  }
  return last;
}

}  // namespace immp::bench
