// An HTTP/1.1 client for plugs that talk to web APIs: keep-alive
// connections reused per origin, http and https (net/tls.hpp), JSON
// bodies, multipart/form-data uploads, streaming downloads with a size
// limit, timeouts, a bounded number of redirects, and errors that name the
// URL and the status.
//
//   net::HttpClient http(ex, options);
//   auto me = co_await http.get("https://api.example/me");   // any status
//   auto user = me.expect_ok().json();                        // 2xx and JSON, or HttpError
//
// Beast stays out of this header: plugs that include it compile fast.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "immp/asio.hpp"
#include "net/tls.hpp"

namespace immp::net {

// Name/value pairs in order; names compare without case.
using Headers = std::vector<std::pair<std::string, std::string>>;
// The value of the first header named `name`, or null.
const std::string* find_header(const Headers& headers, std::string_view name);

// Why a request produced no usable response.
enum class HttpErrorKind {
  bad_url,    // not an absolute http(s) URL
  connect,    // name resolution or TCP connect failed
  tls,        // handshake failed or the certificate was refused
  timeout,    // no progress within HttpOptions::timeout
  protocol,   // the peer broke HTTP, or a body that should be JSON is not
  too_large,  // a body past its limit (HttpOptions::max_body, a download's limit)
  redirects,  // more redirects than HttpOptions::max_redirects
  status,     // expect_ok() on a status that is not 2xx
};

// The sentence names the method, the URL, and the status when there was one:
// "GET https://x.example/a: 404 Not Found: {"message": "Unknown"}".
class HttpError : public std::runtime_error {
 public:
  HttpError(HttpErrorKind kind, std::string url, unsigned status, const std::string& what)
      : std::runtime_error(what), kind_(kind), url_(std::move(url)), status_(status) {}
  HttpErrorKind kind() const { return kind_; }
  const std::string& url() const { return url_; }
  unsigned status() const { return status_; }  // 0: no response

 private:
  HttpErrorKind kind_;
  std::string url_;
  unsigned status_;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  std::string content_type;  // sent when the body is not empty
};

struct HttpResponse {
  std::string method;  // of the request that got this answer
  std::string url;     // after redirects
  unsigned status = 0;
  std::string reason;
  Headers headers;
  std::string body;             // empty for downloads that went to a sink
  std::uint64_t body_size = 0;  // bytes of the body received

  bool ok() const { return status >= 200 && status < 300; }
  const std::string* header(std::string_view name) const { return find_header(headers, name); }
  // Throws HttpError(status) unless ok(), naming the URL, the status and
  // the start of the body (where APIs explain themselves).
  const HttpResponse& expect_ok() const;
  // The body as JSON; throws HttpError(protocol) naming the URL when it is not.
  boost::json::value json() const;
};

// A multipart/form-data body (RFC 7578), for file uploads.
class Multipart {
 public:
  void add_field(std::string name, std::string value);
  void add_file(std::string name, std::string filename, std::string content_type, std::string data);
  // The body and its Content-Type (with a boundary that occurs in no part).
  std::pair<std::string, std::string> encode() const;

 private:
  struct Part {
    std::string name, filename, content_type, data;
    bool file = false;
  };
  std::vector<Part> parts_;
};

struct HttpOptions {
  TlsOptions tls;
  // Connecting (with TLS), and then each write or read, must make progress
  // within this; a download may take longer in all, as long as bytes come.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  int max_redirects = 5;
  // Largest body request() keeps in memory; larger is HttpError(too_large).
  std::size_t max_body = 16 * 1024 * 1024;
  // Idle keep-alive connections kept per origin, and for how long.
  std::size_t max_idle_per_origin = 4;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};
  std::string user_agent = "immp";
  Headers headers;  // sent with every request (e.g. Authorization)
};

// Receives a download's body in order, chunk by chunk. Throwing aborts the
// download (the exception reaches download()'s caller).
using DownloadSink = std::function<void(std::string_view chunk)>;

// Every call on the client's executor; requests may run concurrently (each
// has its own connection). Requests in flight keep what they need alive, so
// the client may be destroyed first (they then fail or finish on their own).
class HttpClient {
 public:
  // Throws TlsError when options.tls cannot be set up (a CA file missing).
  HttpClient(Executor ex, HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request`, follows redirects, returns the final response whatever
  // its status. Throws HttpError when there is no response to give.
  // A request that fails on a reused connection before any answer (the
  // server had closed it meanwhile) is sent once more on a new connection.
  Task<HttpResponse> request(HttpRequest request);
  Task<HttpResponse> get(std::string url, Headers headers = {});
  // `method` with `body` serialised as JSON (Content-Type application/json).
  Task<HttpResponse> send_json(std::string method, std::string url, boost::json::value body,
                               Headers headers = {});
  Task<HttpResponse> upload(std::string url, const Multipart& form, Headers headers = {});
  // Like request(), but the body of a 2xx answer goes to `sink` and may be
  // at most `limit` bytes: past it (or when Content-Length announces more)
  // the download stops with HttpError(too_large). Other answers keep their
  // (short) body in memory, for the error message.
  Task<HttpResponse> download(HttpRequest request, DownloadSink sink, std::uint64_t limit);

  // Connections opened so far, and idle ones kept now (for tests and stats).
  std::size_t connections_opened() const;
  std::size_t idle_connections() const;
  // Closes every idle connection.
  void close_idle();

 private:
  struct Pool;
  Task<HttpResponse> perform(HttpRequest request, DownloadSink* sink, std::uint64_t limit);
  Executor ex_;
  std::shared_ptr<Pool> pool_;
};

}  // namespace immp::net
