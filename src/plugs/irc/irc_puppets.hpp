// Puppets: with `puppet: true`, each remote user bridged into IRC gets an
// IRC connection of its own, named puppet-prefix + their name (username
// first, as IMMP), that joins the channels they talk in and speaks for them.
// There is no limit unless max-puppets is set (as IMMP); with one, the
// least recently used puppet quits to make room. A puppet that cannot
// connect falls back to the plug's own connection ("<name> text").
#pragma once

#include <chrono>
#include <list>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "immp/asio.hpp"
#include "immp/log.hpp"
#include "immp/tasks.hpp"
#include "plugs/irc/irc_connection.hpp"

namespace immp::plugs {

class IrcPuppets {
 public:
  // `base` is the plug's own connection settings (server, TLS, flood
  // control); each puppet replaces the nick and drops SASL. `max` 0: no
  // limit.
  IrcPuppets(Executor ex, irc::ConnectionOptions base, std::string prefix, std::size_t max,
             std::string quit_message, LoggerPtr log);
  ~IrcPuppets();

  // The IRC nick a puppet of `name` uses, as IMMP makes it: prefix + name
  // with each run of spaces as one '-' and the characters IMMP does not
  // allow in nicks (all but A-Z a-z 0-9 ^ _ - [ ] { } |) left out. Unlike
  // IMMP, a nick that would start with a digit or '-' (refused by servers)
  // or be empty gets a leading '_'. At most `max_len` bytes.
  static std::string nick_for(const std::string& prefix, const std::string& name,
                              std::size_t max_len = 30);

  // Sends `lines` (wire lines) as the puppet of `user_key` in `channel`,
  // connecting and joining first when needed; a new puppet is named
  // nick_for(prefix, name) with `real_name` as its real name. Returns how
  // many of `lines` were written (fewer when the puppet's link dropped), or
  // nullopt (nothing sent) when the puppet cannot be used, so the caller
  // sends through the plug itself.
  Task<std::optional<std::size_t>> send(const std::string& user_key, const std::string& name,
                                        const std::string& real_name, const std::string& channel,
                                        std::vector<std::string> lines);
  // True if `nick` is (currently) one of ours.
  bool owns(const std::string& nick) const;
  // The puppet's nick for `user_key`, empty if none.
  std::string nick_of(const std::string& user_key) const;
  std::string prefix_of(const std::string& user_key) const;
  // Quits every puppet.
  Task<> stop();
  std::size_t size() const { return puppets_.size(); }

 private:
  struct Puppet {
    std::string key;
    std::shared_ptr<irc::Connection> conn;
    std::set<std::string> channels;
    std::chrono::steady_clock::time_point used;
  };
  Task<> evict_one();
  Task<> drain(std::shared_ptr<irc::Connection> conn);

  Executor ex_;
  irc::ConnectionOptions base_;
  std::string prefix_;
  std::size_t max_;
  std::string quit_message_;
  LoggerPtr log_;
  std::map<std::string, std::unique_ptr<Puppet>> puppets_;  // by user key
  TaskGroup tasks_;
};

}  // namespace immp::plugs
