// Running coroutines to completion in tests.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "immp/asio.hpp"

namespace immp::test {

// Runs ready handlers for up to `time`. An io_context that ran out of work
// stops itself; restart it so later work runs.
inline void step(asio::io_context& io, std::chrono::milliseconds time) {
  if (io.stopped()) io.restart();
  if (io.run_one_for(time) == 0 && io.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Runs every handler that is ready, and every one those make ready, until
// none is; never waits. Afterwards nothing more happens on `io` until a
// timer expires or another thread posts: for single-threaded work, "it
// did not happen" is then a fact, not a guess.
inline void poll(asio::io_context& io) {
  for (;;) {
    if (io.stopped()) io.restart();  // ran out of work: later work still runs
    if (io.poll() == 0) return;
  }
}

// Runs `task` on `io` until it completes; rethrows its exception. Fails
// (throws) if it takes longer than `limit`, so a hang is a failure.
template <typename T>
T run(asio::io_context& io, Task<T> task,
      std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result.emplace(std::move(value));
    done = true;
  });
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) {
    step(io, std::chrono::milliseconds(10));
  }
  if (!done) throw std::runtime_error("task did not finish in time");
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

inline void run(asio::io_context& io, Task<> task,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto with_value = [](Task<> t) -> Task<bool> {
    co_await std::move(t);
    co_return true;
  };
  run(io, with_value(std::move(task)), limit);
}

// Runs until `done()` holds or `limit` passes; returns done().
template <typename F>
bool run_until(asio::io_context& io, F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    step(io, std::chrono::milliseconds(5));
  }
  return done();
}

// Never completes: stands for work that hangs (a server that never
// answers). Ends only when cancelled, with operation_aborted.
inline Task<> hang() {
  asio::steady_timer never(co_await asio::this_coro::executor,
                           asio::steady_timer::time_point::max());
  co_await never.async_wait(asio::use_awaitable);
}

}  // namespace immp::test
