// A real HTTP/1.1 and WebSocket server on loopback for the network layer's
// tests (src/net): Beast, plain and TLS, on its own thread, with a
// self-signed certificate made at start through the OpenSSL API (nothing
// on disk but a CA file for clients that want one, in a temp directory).
//
//   auto& server = test::shared_web_server();   // started once per program
//   http.get(server.url("/text"));             // http://127.0.0.1:<port>/text
//   http.get(server.tls_url("/text"));         // https://localhost:<tls port>/text
//
// Routes (any method unless said):
//   /text               200 "hello"
//   /close-quietly      200 "hello", then closes the connection without saying so
//   /echo               JSON {method, target, content_type, body, authorization}
//   /json (POST)        JSON {"got": <the request body parsed as JSON>}
//   /upload (POST)      parses multipart/form-data, keeps the parts (last_upload()),
//                       answers JSON {"parts": n}
//   /bytes/N            N bytes with Content-Length
//   /chunked/N          N bytes, chunked, no Content-Length
//   /redirect/N         302 to /redirect/N-1; /redirect/0 is 200 "arrived"
//   /to-echo            302 to /echo; /to-tls-echo: 302 to the TLS server's /echo
//   /status/N           status N, body "status N"
//   /retry-after        429 with Retry-After: 7
//   /hang               never answers (until the server stops)
//   /ws                 WebSocket echo; counts the pings it receives
//   /ws-deaf            WebSocket that never reads (so never answers a ping)
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

namespace immp::test {

// A self-signed certificate for `name` (not for 127.0.0.1), P-256, valid
// for a day, made with OpenSSL's API.
struct SelfSigned {
  std::string cert_pem;
  std::string key_pem;
  std::string fingerprint;  // SHA-256, "AB:CD:..."
};
SelfSigned make_self_signed(const std::string& name = "localhost");

class WebServer {
 public:
  struct Part {
    std::string name, filename, content_type, data;
  };

  // Starts listening on two free loopback ports (plain and TLS).
  WebServer();
  ~WebServer();
  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  std::string url(const std::string& path) const;      // http://127.0.0.1:port/path
  std::string tls_url(const std::string& path) const;  // https://localhost:tls_port/path
  std::string ws_url(const std::string& path) const;   // ws://127.0.0.1:port/path
  std::string wss_url(const std::string& path) const;  // wss://localhost:tls_port/path
  const SelfSigned& certificate() const { return cert_; }
  // The certificate as a PEM file, for TlsOptions::ca_file.
  std::string ca_file() const;

  // Counters, readable from any thread.
  std::size_t connections() const { return connections_; }  // TCP connections accepted
  std::size_t requests() const { return requests_; }        // HTTP requests answered
  std::size_t websockets() const { return websockets_; }    // upgrades accepted
  std::size_t pings() const { return pings_; }              // WebSocket pings received
  // The parts of the last upload, as the server parsed them.
  std::vector<Part> last_upload() const;
  // Closes every WebSocket's TCP connection at once, without a close frame
  // (as a crashing server would). Returns once done.
  void drop_websockets();

  struct Impl;

 private:
  SelfSigned cert_;
  TempDir dir_;
  int port_ = 0;
  int tls_port_ = 0;
  std::atomic<std::size_t> connections_{0}, requests_{0}, websockets_{0}, pings_{0};
  mutable std::mutex mutex_;
  std::vector<Part> last_upload_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

// One server for the whole test program, started on first use.
WebServer& shared_web_server();

}  // namespace immp::test
