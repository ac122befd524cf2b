#include "support/web_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <future>

#include "support/async.hpp"
#include "support/process.hpp"

namespace immp::test {

using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

Task<RawExchange> raw_exchange(int port, std::string data, std::chrono::milliseconds limit) {
  auto never = [](const std::string&) { return false; };
  co_return co_await read_until(port, std::move(data), never, limit);
}

Task<RawExchange> read_until(int port, std::string data,
                             std::function<bool(const std::string&)> done,
                             std::chrono::milliseconds limit) {
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  auto ex = co_await asio::this_coro::executor;
  tcp::socket socket(ex);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  auto [cec] = co_await socket.async_connect(ep, kTuple);
  if (cec) throw boost::system::system_error(cec, "connect");
  if (!data.empty()) {
    auto [wec, n] = co_await asio::async_write(socket, asio::buffer(data), kTuple);
    (void)wec;
  }
  RawExchange out;
  asio::steady_timer deadline(ex);
  deadline.expires_after(limit);
  auto reader = [&]() -> Task<> {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kTuple);
      out.reply.append(buf, n);
      if (!ec && done(out.reply)) co_return;
      if (ec) {
        out.closed = true;
        co_return;
      }
    }
  };
  auto waiter = [&]() -> Task<> {
    auto [ec] = co_await deadline.async_wait(kTuple);
    (void)ec;
  };
  // Bound first: GCC 12 may destroy temporaries in a co_await twice.
  auto either = reader() || waiter();
  co_await std::move(either);
  co_return out;
}

int status_of(const std::string& reply) {
  if (reply.rfind("HTTP/1.", 0) != 0 || reply.size() < 12) return 0;
  return std::atoi(reply.substr(9, 3).c_str());
}

std::string curl(asio::io_context& io, std::vector<std::string> args, int* code) {
  std::vector<std::string> argv{"curl", "-s", "-S"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = std::async(std::launch::async, [argv] {
    return run_process(argv, std::chrono::seconds(20));
  });
  run_until(io, [&] {
    return result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }, std::chrono::seconds(30));
  ProcessResult r = result.get();
  if (code) *code = r.exit_code;
  return r.out;
}

}  // namespace immp::test
