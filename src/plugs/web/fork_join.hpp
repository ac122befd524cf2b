// ForkJoin: runs a batch of independent jobs on the calling thread and a
// few helper threads, and returns when all are done.
//
// The web plug's stream rounds use it for their writes to sockets: the
// host's thread blocks in run() while the helpers share the work, so the
// connections the jobs write to cannot change meanwhile (their code runs
// on the host's thread only).
//
// run() is called from one thread at a time; the helpers sleep between
// batches.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace immp::plugs {

class ForkJoin {
 public:
  // `helpers` threads besides the caller's (0: run() does it all itself).
  explicit ForkJoin(std::size_t helpers);
  ForkJoin(const ForkJoin&) = delete;
  ForkJoin& operator=(const ForkJoin&) = delete;
  // Stops and joins the helpers.
  ~ForkJoin();

  std::size_t helpers() const { return threads_.size(); }

  // job(i) for every i in [0, count), each once, on this thread and the
  // helpers; returns when all have returned. `job` must not throw.
  void run(std::size_t count, const std::function<void(std::size_t)>& job);

 private:
  void help();
  // Takes and runs jobs of the current batch while there are any; `lock`
  // is held on entry and on return.
  void work(std::unique_lock<std::mutex>& lock);

  std::mutex mutex_;
  std::condition_variable wake_;  // helpers: a batch, or stop
  std::condition_variable done_;  // run(): the batch's last job returned
  std::uint64_t batch_ = 0;       // counts batches, so a helper knows a new one
  const std::function<void(std::size_t)>* job_ = nullptr;
  std::size_t count_ = 0;
  std::size_t next_ = 0;     // the next job to take
  std::size_t running_ = 0;  // jobs taken and not returned
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace immp::plugs
