#include "plugs/irc/irc_puppets.hpp"

#include <cctype>

#include "plugs/irc/irc_casemap.hpp"
#include "plugs/irc/irc_line.hpp"

namespace immp::plugs {

using namespace std::chrono_literals;

IrcPuppets::IrcPuppets(Executor ex, irc::ConnectionOptions base, std::string prefix,
                       std::size_t max, std::string quit_message, LoggerPtr log)
    : ex_(ex),
      base_(std::move(base)),
      prefix_(std::move(prefix)),
      max_(max),
      quit_message_(std::move(quit_message)),
      log_(std::move(log)),
      tasks_(ex, log_) {
  // Puppets authenticate as nobody: SASL belongs to the plug's own account.
  base_.sasl = {};
}

IrcPuppets::~IrcPuppets() = default;

std::string IrcPuppets::nick_for(const std::string& prefix, const std::string& name,
                                 std::size_t max_len) {
  auto allowed = [](unsigned char c) {
    return c < 0x80 &&
           (std::isalnum(c) ||
            std::string_view("^_-[]{}|").find(static_cast<char>(c)) != std::string_view::npos);
  };
  auto space = [](unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  // IMMP: prefix + "-".join(name.split()), then its nick filter.
  std::string joined = prefix;
  bool gap = false;
  for (unsigned char c : name) {
    if (space(c)) {
      gap = true;
      continue;
    }
    if (gap && joined.size() > prefix.size()) joined += '-';
    gap = false;
    joined += static_cast<char>(c);
  }
  std::string out;
  for (unsigned char c : joined) {
    if (out.size() >= max_len) break;
    if (allowed(c)) out += static_cast<char>(c);
  }
  // A nick cannot start with a digit or '-', nor be empty.
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0])) || out[0] == '-') {
    out.insert(out.begin(), '_');
    if (out.size() > max_len) out.pop_back();
  }
  return out;
}

bool IrcPuppets::owns(const std::string& nick) const {
  for (const auto& [key, p] : puppets_) {
    if (irc::same_name(p->conn->nick(), nick)) return true;
  }
  return false;
}

std::string IrcPuppets::nick_of(const std::string& user_key) const {
  auto it = puppets_.find(user_key);
  return it == puppets_.end() ? std::string() : it->second->conn->nick();
}

std::string IrcPuppets::prefix_of(const std::string& user_key) const {
  auto it = puppets_.find(user_key);
  if (it != puppets_.end()) return it->second->conn->prefix();
  // Not connected yet: count the longest nick it may get.
  return std::string(30, 'n') + "!" + std::string(10, 'u') + "@" + std::string(63, 'h');
}

Task<> IrcPuppets::drain(std::shared_ptr<irc::Connection> conn) {
  // A puppet only speaks; reading keeps PINGs answered and notices a dead
  // link.
  for (;;) {
    irc::Line line = co_await conn->read();
    (void)line;
  }
}

Task<> IrcPuppets::evict_one() {
  auto oldest = puppets_.begin();
  for (auto it = puppets_.begin(); it != puppets_.end(); ++it) {
    if (it->second->used < oldest->second->used) oldest = it;
  }
  if (oldest == puppets_.end()) co_return;
  auto conn = oldest->second->conn;
  puppets_.erase(oldest);
  co_await conn->quit(quit_message_, 500ms);
  co_await conn->stop();
}

Task<std::optional<std::size_t>> IrcPuppets::send(const std::string& user_key,
                                                  const std::string& name,
                                                  const std::string& real_name,
                                                  const std::string& channel,
                                                  std::vector<std::string> lines) {
  auto it = puppets_.find(user_key);
  if (it != puppets_.end() && !it->second->conn->is_open()) {
    auto dead = it->second->conn;
    puppets_.erase(it);
    co_await dead->stop();
    it = puppets_.end();
  }
  if (it == puppets_.end()) {
    if (max_ > 0 && puppets_.size() >= max_) co_await evict_one();
    auto options = base_;
    options.nick = nick_for(prefix_, name);
    options.user = "immp";
    options.real_name = real_name.empty() ? options.nick : real_name;
    auto conn = std::make_shared<irc::Connection>(ex_, options, log_);
    bool opened = false;
    try {
      co_await conn->open();
      opened = true;
    } catch (const std::exception& e) {
      log_->warn("puppet {} cannot connect: {}", options.nick, e.what());
    }
    if (!opened) {
      co_await conn->stop();
      co_return std::nullopt;
    }
    log_->info("puppet {} connected for {}", conn->nick(), name);
    auto puppet = std::make_unique<Puppet>();
    puppet->key = user_key;
    puppet->conn = conn;
    tasks_.spawn("puppet " + conn->nick(), drain(conn));
    it = puppets_.emplace(user_key, std::move(puppet)).first;
  }
  Puppet& p = *it->second;
  p.used = std::chrono::steady_clock::now();
  auto conn = p.conn;
  std::string folded = irc::fold(channel);
  std::size_t extra = 0;
  if (!channel.empty() && (channel[0] == '#' || channel[0] == '&') && !p.channels.count(folded)) {
    if (auto join = irc::format_line("JOIN", {channel})) {
      lines.insert(lines.begin(), *join);
      extra = 1;
    }
    p.channels.insert(folded);
  }
  std::size_t total = lines.size();
  std::size_t written = co_await conn->send(std::move(lines));
  if (written < total) {
    log_->warn("puppet {} lost its link: {}", conn->nick(), conn->close_reason());
    if (written < extra) co_return std::nullopt;  // not even joined: nothing of ours went out
  }
  co_return written - extra;
}

Task<> IrcPuppets::stop() {
  for (auto& [key, p] : puppets_) co_await p->conn->quit(quit_message_, 500ms);
  co_await tasks_.stop(1s);
  for (auto& [key, p] : puppets_) co_await p->conn->stop();
  puppets_.clear();
}

}  // namespace immp::plugs
