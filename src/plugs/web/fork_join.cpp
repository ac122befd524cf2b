#include "plugs/web/fork_join.hpp"

namespace immp::plugs {

ForkJoin::ForkJoin(std::size_t helpers) {
  threads_.reserve(helpers);
  for (std::size_t i = 0; i < helpers; ++i) threads_.emplace_back([this] { help(); });
}

ForkJoin::~ForkJoin() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ForkJoin::run(std::size_t count, const std::function<void(std::size_t)>& job) {
  if (count == 0) return;
  std::unique_lock lock(mutex_);
  job_ = &job;
  count_ = count;
  next_ = 0;
  ++batch_;
  // One job is this thread's anyway: wake helpers only for the others.
  if (count > 1 && !threads_.empty()) {
    lock.unlock();
    wake_.notify_all();
    lock.lock();
  }
  work(lock);
  done_.wait(lock, [this] { return next_ >= count_ && running_ == 0; });
  job_ = nullptr;
}

void ForkJoin::work(std::unique_lock<std::mutex>& lock) {
  while (next_ < count_) {
    std::size_t i = next_++;
    ++running_;
    const auto& job = *job_;
    lock.unlock();
    job(i);
    lock.lock();
    --running_;
  }
  if (running_ == 0) done_.notify_one();
}

void ForkJoin::help() {
  std::unique_lock lock(mutex_);
  std::uint64_t seen = 0;
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || batch_ != seen; });
    if (stop_) return;
    seen = batch_;
    work(lock);
  }
}

}  // namespace immp::plugs
