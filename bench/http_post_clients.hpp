// PostClients: the web benchmark's keep-alive POST load, lean enough that
// the load generator is not what gets measured.
//
// Beast's client (async_write of a request, async_read of the response
// into a parser, a coroutine per connection) cost as much CPU per POST as
// the server's whole handling of it, and both share the machine: the
// figure was half the load generator's. Here each connection is a plain
// socket read by epoll on one thread: the request is formatted once, and
// a response is checked by its status line and framed by its
// Content-Length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace immp::bench {

struct PostTally {
  std::uint64_t answered = 0;  // 201s
  double seconds = 0;          // from the first request to the last answer
};

// `conns` connections to 127.0.0.1:`port`, each sending `request` (a whole
// HTTP/1.1 request, keep-alive) and waiting for its answer before the
// next, for `seconds`. Throws on any answer but 201, or a connection
// lost.
PostTally run_posts(int port, const std::string& request, std::size_t conns, double seconds);

}  // namespace immp::bench
