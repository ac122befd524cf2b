// Raw loopback clients for the web server's tests: bytes exactly as a
// broken, hostile or slow client would send them, and curl.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "immp/asio.hpp"

namespace immp::test {

// Connects to 127.0.0.1:`port`, writes `data` (unless empty), then reads
// until the server closes the connection or `limit` passes; returns what
// was read. `closed` says whether the server closed it (rather than the
// limit ending the wait).
struct RawExchange {
  std::string reply;
  bool closed = false;
};
Task<RawExchange> raw_exchange(int port, std::string data,
                               std::chrono::milliseconds limit = std::chrono::seconds(10));

// Connects, writes `request`, then reads until `done(received so far)`
// holds, the server closes, or `limit` passes; returns what was read. For
// responses that stream (Server-Sent Events).
Task<RawExchange> read_until(int port, std::string request,
                             std::function<bool(const std::string&)> done,
                             std::chrono::milliseconds limit = std::chrono::seconds(10));

// The status code of the first response in `reply` ("HTTP/1.1 400 ..."),
// or 0.
int status_of(const std::string& reply);

// Runs curl with `args` (plus -s -S) in a thread while `io` runs;
// returns its standard output, and sets `code` to its exit code.
std::string curl(asio::io_context& io, std::vector<std::string> args, int* code = nullptr);

}  // namespace immp::test
