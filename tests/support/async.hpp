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

// Lets the io_context process whatever is ready for `time`.
inline void settle(asio::io_context& io, std::chrono::milliseconds time = std::chrono::milliseconds(50)) {
  auto deadline = std::chrono::steady_clock::now() + time;
  while (std::chrono::steady_clock::now() < deadline) step(io, std::chrono::milliseconds(5));
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

inline Task<> sleep_for(std::chrono::milliseconds time) {
  asio::steady_timer t(co_await asio::this_coro::executor, time);
  co_await t.async_wait(asio::use_awaitable);
}

}  // namespace immp::test
