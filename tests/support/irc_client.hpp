// A raw IRC client for integration tests: a blocking socket, a nick, and
// "wait for a line like this" with a timeout. It answers PINGs while it
// waits and keeps every line it received.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugs/irc/irc_line.hpp"

namespace immp::test {

class IrcClient {
 public:
  using Match = std::function<bool(const irc::Line&)>;

  // Connects to 127.0.0.1:port and registers as `nick` (waits for 001).
  // Throws std::runtime_error when it cannot.
  IrcClient(int port, std::string nick, std::string password = {});
  ~IrcClient();
  IrcClient(const IrcClient&) = delete;
  IrcClient& operator=(const IrcClient&) = delete;

  const std::string& nick() const { return nick_; }
  // Sends raw bytes; "\r\n" is appended.
  void send(std::string_view line);
  // JOIN, then waits until the server confirmed it (366).
  void join(const std::string& channel);
  void say(const std::string& target, const std::string& text);

  // Reads until a line after the last one matched satisfies `match`, the
  // link closes, or `timeout` passes. The matched line, or nullopt.
  std::optional<irc::Line> wait_for(const Match& match,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // A PRIVMSG to `target` whose text equals `text`.
  std::optional<irc::Line> wait_privmsg(const std::string& target, const std::string& text,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Non-blocking: reads what has arrived. For tests that run a host on the
  // same thread (call it from test::run_until's predicate).
  void pump();
  // Non-blocking: the first line after the last match that satisfies
  // `match`, among those already read.
  std::optional<irc::Line> find(const Match& match);
  // Reads whatever comes for `time`.
  void drain(std::chrono::milliseconds time);
  // Every line received so far.
  const std::vector<irc::Line>& lines() const { return lines_; }
  // Every PRIVMSG received so far (after `from` lines).
  std::vector<irc::Line> privmsgs(const std::string& target) const;
  bool closed() const { return fd_ < 0; }

 private:
  bool read_some(std::chrono::milliseconds timeout);

  std::string nick_;
  int fd_ = -1;
  std::string buffer_;
  std::vector<irc::Line> lines_;
  std::size_t cursor_ = 0;
};

}  // namespace immp::test
