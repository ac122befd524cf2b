// libFuzzer target: the web server's fast request parser against Beast's.
// Whatever parse_simple_request() takes, Beast's parser must take the same
// way from the same bytes (method, target, version, fields, body,
// keep-alive, bytes used); a difference aborts. Any input, any size.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "hooks/web/http_simple.hpp"
#include "hooks/web/http_simple_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  immp::web::Limits limits;
  limits.max_body = 4096;
  limits.max_header_bytes = 1024;
  auto simple = immp::web::testing::simple_parse(in, limits);
  if (!simple) return 0;
  auto beast = immp::web::testing::beast_parse(in, limits);
  if (!beast || !(*beast == *simple)) std::abort();
  return 0;
}
