// Counting allocator of the bench binary (alloc_count.cpp): the global
// operator new/delete are replaced, C's aligned_alloc (where Asio takes its
// coroutine frames and handlers that its recycling cache misses) is
// wrapped, and so is SQLite's allocator; every call forwards to the real
// one. Nothing is counted unless a window is open, so set-up and
// tear-down do not count against a benchmark.
//
//   AllocWindow w;            // opens the window
//   ... the measured work ...
//   w.stop();                 // closes it; w.allocs() is the count
//
// Counts are process-wide (every thread: the database worker's allocations
// are part of the path too). Each thread counts into its own counters,
// summed when read, so counting costs no locked instruction.
#pragma once

#include <cstdint>

namespace immp::bench {

struct AllocCounts {
  std::uint64_t news = 0;     // operator new / new[] (every overload)
  std::uint64_t mallocs = 0;  // SQLite's allocations (xMalloc, xRealloc)
  std::uint64_t bytes = 0;    // bytes asked for, every kind
  std::uint64_t aligned = 0;  // aligned_alloc (Asio: coroutine frames, handlers)
  std::uint64_t total() const { return news + mallocs + aligned; }
};

// Starts counting from zero (closing any open window).
void alloc_count_start();
// Stops counting; returns what was counted since start.
AllocCounts alloc_count_stop();
// What has been counted so far, without stopping.
AllocCounts alloc_count_now();
// The calling thread's own counts since it started (always counting; cheap:
// for differences around a piece of work on one thread).
AllocCounts alloc_count_this_thread();

class AllocWindow {
 public:
  AllocWindow() { alloc_count_start(); }
  ~AllocWindow() {
    if (!stopped_) alloc_count_stop();
  }
  AllocWindow(const AllocWindow&) = delete;
  AllocWindow& operator=(const AllocWindow&) = delete;
  const AllocCounts& stop() {
    if (!stopped_) {
      counts_ = alloc_count_stop();
      stopped_ = true;
    }
    return counts_;
  }
  const AllocCounts& counts() const { return counts_; }

 private:
  AllocCounts counts_;
  bool stopped_ = false;
};

}  // namespace immp::bench
