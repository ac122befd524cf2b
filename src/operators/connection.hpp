// Connection: one operator's end of the bus socket. Reads JSON lines
// (bounded: line length, nesting, UTF-8 checked by the parser), answers
// each request, and writes the operator's events from its subscriber queue
// in batches together with the frames the host sends.
//
// Runs on the host's executor. Owned by its two coroutines (reader and
// writer); the supervisor holds it weakly.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json/fwd.hpp>

#include "bus/bus.hpp"
#include "immp/tasks.hpp"
#include "operators/supervisor.hpp"

namespace immp::operators {

// The longest line either side may send (docs/protocol.md).
inline constexpr std::size_t kMaxLine = 4 * 1024 * 1024;
// The deepest nesting a frame may have.
inline constexpr std::size_t kMaxDepth = 64;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Context& context, asio::local::stream_protocol::socket socket);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reads and answers until the peer goes or close() is called; runs the
  // writer meanwhile.
  Task<> run();
  // Queues one frame (a JSON object without the newline).
  void send(const boost::json::object& frame);
  void send_line(std::string line);
  // Writes what is queued, then closes. `error`, if given, is sent first.
  void close(std::string error = {});
  // The writer looks at the queue again (after resume).
  void wake() { wake_.notify(); }
  std::size_t queued() const;

 private:
  Task<> writer(std::shared_ptr<Connection> self);
  Task<> handle(std::string_view line, std::uint64_t number);
  Task<> handle_frame(boost::json::object& frame);
  Task<> on_send(const boost::json::object& frame, const boost::json::value* ref);
  Task<> on_control(const boost::json::object& frame, const boost::json::value* ref);
  void on_hello(const boost::json::object& frame, const boost::json::value* ref);
  void on_subscribe(const boost::json::object& frame, const boost::json::value* ref);
  void on_log(const boost::json::object& frame);
  void on_config(const boost::json::object& frame, const boost::json::value* ref);
  void error(std::string field, std::string problem, const boost::json::value* ref);
  void reply(boost::json::object frame, const boost::json::value* ref);
  void drop_subscriber();

  Context& ctx_;
  asio::local::stream_protocol::socket socket_;
  std::shared_ptr<Supervisor> operator_;  // after hello
  bus::SubscriberPtr subscriber_;
  std::string pending_;  // frames waiting for the writer
  Signal wake_;
  bool closing_ = false;
  bool writer_done_ = false;
  Signal writer_ended_;
  std::set<std::string> sub_loggers_;
};

}  // namespace immp::operators
