#include "support/irc_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace immp::test {

using namespace std::chrono_literals;

IrcClient::IrcClient(int port, std::string nick, std::string password) : nick_(std::move(nick)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error("IrcClient: cannot connect to port " + std::to_string(port));
  }
  if (!password.empty()) send("PASS " + password);
  send("NICK " + nick_);
  send("USER " + nick_ + " 0 * :" + nick_);
  if (!wait_for([](const irc::Line& l) { return l.command == "001"; }, 10s)) {
    throw std::runtime_error("IrcClient: " + nick_ + " was not welcomed");
  }
}

IrcClient::~IrcClient() {
  if (fd_ >= 0) ::close(fd_);
}

void IrcClient::send(std::string_view line) {
  if (fd_ < 0) throw std::runtime_error("IrcClient: closed");
  std::string data(line);
  data += "\r\n";
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("IrcClient: send failed");
    done += static_cast<std::size_t>(n);
  }
}

void IrcClient::join(const std::string& channel) {
  send("JOIN " + channel);
  if (!wait_for([&](const irc::Line& l) { return l.command == "366" && l.param(1) == channel; })) {
    throw std::runtime_error("IrcClient: " + nick_ + " could not join " + channel);
  }
}

void IrcClient::say(const std::string& target, const std::string& text) {
  send("PRIVMSG " + target + " :" + text);
}

bool IrcClient::read_some(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (r <= 0) return true;
  char chunk[8192];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  buffer_.append(chunk, static_cast<std::size_t>(n));
  std::size_t nl;
  while ((nl = buffer_.find('\n')) != std::string::npos) {
    std::string raw = buffer_.substr(0, nl + 1);
    buffer_.erase(0, nl + 1);
    auto line = irc::parse_line(raw);
    if (!line) continue;
    if (line->command == "PING") send("PONG :" + line->param(0));
    lines_.push_back(std::move(*line));
  }
  return true;
}

std::optional<irc::Line> IrcClient::wait_for(const Match& match,
                                             std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (cursor_ < lines_.size()) {
      const irc::Line& l = lines_[cursor_++];
      if (match(l)) return l;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (!read_some(std::min<std::chrono::milliseconds>(left, 100ms)) && cursor_ >= lines_.size()) {
      return std::nullopt;
    }
  }
}

std::optional<irc::Line> IrcClient::wait_privmsg(const std::string& target, const std::string& text,
                                                 std::chrono::milliseconds timeout) {
  return wait_for(
      [&](const irc::Line& l) {
        return l.command == "PRIVMSG" && l.param(0) == target && l.param(1) == text;
      },
      timeout);
}

void IrcClient::pump() {
  for (int i = 0; i < 64 && fd_ >= 0; ++i) {
    std::size_t before = lines_.size() + buffer_.size();
    read_some(0ms);
    if (lines_.size() + buffer_.size() == before) break;
  }
}

std::optional<irc::Line> IrcClient::find(const Match& match) {
  while (cursor_ < lines_.size()) {
    const irc::Line& l = lines_[cursor_++];
    if (match(l)) return l;
  }
  return std::nullopt;
}

void IrcClient::drain(std::chrono::milliseconds time) {
  auto deadline = std::chrono::steady_clock::now() + time;
  while (std::chrono::steady_clock::now() < deadline && fd_ >= 0) read_some(20ms);
}

std::vector<irc::Line> IrcClient::privmsgs(const std::string& target) const {
  std::vector<irc::Line> out;
  for (const auto& l : lines_) {
    if (l.command == "PRIVMSG" && l.param(0) == target) out.push_back(l);
  }
  return out;
}

}  // namespace immp::test
