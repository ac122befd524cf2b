// The byte stream under one IRC connection, and the clock it keeps time by:
// the seams that let the connection's protocol logic run against sockets in
// production and against in-memory fakes in tests (irc_transport_fake.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "immp/asio.hpp"
#include "net/clock.hpp"

namespace immp::irc {

struct ConnectionOptions;

// Thrown when the link fails or closes; what() says why.
class ConnectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What one read or write did: `bytes` moved, then `ec` stopped it (or not).
// A write may report bytes and an error: those bytes left before the failure.
struct IoResult {
  boost::system::error_code ec;
  std::size_t bytes = 0;
};

// One connection's stream. Owned by the Connection; every call comes from the
// connection's executor, and at most one read and one write are in flight at
// a time.
class Transport {
 public:
  virtual ~Transport() = default;

  // Resolves, connects and (for TLS) handshakes. Throws ConnectionError with
  // a sentence naming the step that failed.
  virtual Task<> connect() = 0;
  // Reads at least one byte into `into`, or fails (asio::error::eof once the
  // peer closed the stream).
  virtual Task<IoResult> read_some(asio::mutable_buffer into) = 0;
  // Writes all of `data`, or fails part-way.
  virtual Task<IoResult> write(asio::const_buffer data) = 0;
  // Whether try_write() is available (a plain socket; not TLS).
  virtual bool can_try_write() const = 0;
  // Writes what the stream takes at once without suspending: maybe nothing
  // (ec = would_block), maybe part. Only when can_try_write().
  virtual IoResult try_write(asio::const_buffer data) = 0;
  // Cancels what is in flight and closes; later calls fail. Idempotent.
  virtual void close() = 0;
  virtual bool is_tls() const = 0;
};

// Makes the transport for one connection from its options.
using TransportFactory =
    std::function<std::unique_ptr<Transport>(Executor, const ConnectionOptions&)>;

// TCP, or TLS when options.tls (net/tls.hpp): certificate and host name
// verification against options.ca (or the system's CAs) unless
// !options.verify, or the pinned options.fingerprint; SNI, an optional
// client certificate; TCP_NODELAY, and TCP_QUICKACK after each read.
// Throws ConnectionError when a certificate or key file cannot be read or
// the fingerprint is malformed.
std::unique_ptr<Transport> make_socket_transport(Executor ex, const ConnectionOptions& options);

// Time as a connection keeps it: flood control, keepalive and the
// registration deadline. The network layer's clock (net/clock.hpp); shared
// by the connections given it, used from their executor only.
using ConnectionClock = net::Clock;

// The steady clock with real timers.
std::shared_ptr<ConnectionClock> steady_connection_clock();

}  // namespace immp::irc
