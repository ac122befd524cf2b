// The server's fast path for the usual request: one whole request, already
// buffered, in the plainest HTTP/1.x (what curl, browsers and API clients
// send). Everything else (a request that has not all arrived, a chunked
// body, an upgrade, obsolete or unusual syntax, anything near a limit)
// is left to Beast's parser, which then reads the same bytes: this parser
// accepts a strict subset of what Beast accepts, and for that subset gives
// what Beast gives (checked by a test and a differential fuzz target,
// http_simple_fuzz.cpp). Beast's parse of the fields was ~4k instructions
// of a small POST's ~24k in the server.
#pragma once

#include <cstddef>
#include <string_view>

#include "hooks/web/web_hook.hpp"

namespace immp::web {

struct SimpleHead {
  unsigned version = 11;   // 10 or 11
  bool keep_alive = true;  // as Beast's parser.keep_alive()
  std::size_t fields = 0;
};

// Parses the request at the start of `in` into `request` (method, target,
// body, and the headers, replacing those it had). Returns the bytes it took; 0 when it leaves the
// request to Beast, and then `request` and `head` are unchanged.
std::size_t parse_simple_request(std::string_view in, const Limits& limits, Request& request,
                                 SimpleHead& head);

}  // namespace immp::web
