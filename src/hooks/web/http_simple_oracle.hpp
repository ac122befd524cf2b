// Beast's reading of one request, as the server's RequestParser does it,
// for comparing parse_simple_request() against (the test and the fuzz
// target).
#pragma once

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "hooks/web/http_simple.hpp"

namespace immp::web::testing {

struct Parsed {
  std::string method, target, body;
  Headers headers;
  unsigned version = 0;
  bool keep_alive = false;
  std::size_t consumed = 0;
  bool operator==(const Parsed&) const = default;
};

class OracleParser final : public boost::beast::http::basic_parser<true> {
 public:
  Parsed out;

 private:
  using sv = boost::beast::string_view;
  using ec_t = boost::system::error_code;
  void on_request_impl(boost::beast::http::verb, sv method, sv target, int version,
                       ec_t&) override {
    out.method.assign(method.data(), method.size());
    out.target.assign(target.data(), target.size());
    out.version = static_cast<unsigned>(version);
  }
  void on_response_impl(int, sv, int, ec_t&) override {}
  void on_field_impl(boost::beast::http::field, sv name, sv value, ec_t&) override {
    out.headers.emplace_back(std::string(name.data(), name.size()),
                             std::string(value.data(), value.size()));
  }
  void on_header_impl(ec_t&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, ec_t&) override {}
  std::size_t on_body_impl(sv body, ec_t&) override {
    out.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, sv, ec_t&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, sv body, ec_t&) override {
    out.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(ec_t&) override {}
};

// Beast's result for the request at the start of `in` (all of `in` given
// at once, as the server's buffer holds it), or nullopt when Beast wants
// more or refuses it.
inline std::optional<Parsed> beast_parse(std::string_view in, const Limits& limits) {
  OracleParser p;
  p.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  p.body_limit(limits.max_body);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (!p.is_done()) {
    std::size_t n = p.put(boost::asio::const_buffer(in.data() + used, in.size() - used), ec);
    used += n;
    if (ec) return std::nullopt;
    if (n == 0) return std::nullopt;
  }
  p.out.keep_alive = p.keep_alive();
  p.out.consumed = used;
  return p.out;
}

// parse_simple_request()'s result in the same form, or nullopt when it
// leaves the request to Beast.
inline std::optional<Parsed> simple_parse(std::string_view in, const Limits& limits) {
  Request r;
  SimpleHead head;
  std::size_t n = parse_simple_request(in, limits, r, head);
  if (n == 0) return std::nullopt;
  Parsed out{r.method, r.target, r.body, r.headers, head.version, head.keep_alive, n};
  return out;
}

}  // namespace immp::web::testing
