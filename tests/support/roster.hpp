// RosterPlug: an in-memory network with people in it, for the bot hooks'
// tests. Unlike MemoryPlug it knows who is in each room (channel_members),
// gives each user a private channel ("dm:<user>", channel_for_user), looks
// users up by id, and removes people from rooms (channel_remove), so that
// alerts, identities and access control can be tested as conversations:
//
//   auto& irc = test::add_roster_plug(host, "irc");
//   irc.enter("#room", "alice");            // alice is in #room
//   irc.say("#room", "alice", "hi @bob");   // alice types
//   irc.said("dm:bob")                      // what the bot sent bob
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "immp/host.hpp"
#include "immp/plug.hpp"

namespace immp::test {

class RosterPlug final : public Plug {
 public:
  static SpecPtr schema() { return object({}, true); }
  explicit RosterPlug(const Init& init) : Plug(init) {}

  std::string network_name() const override { return "Roster"; }
  std::string network_id() const override { return "roster:" + name(); }

  Task<PutResult> put(Posting& post) override {
    std::string id = name() + "-" + std::to_string(++counter_);
    post.announce(id);
    auto sent = std::make_shared<SentMessage>(Receipt{id, post.channel(), Clock::now(), {}, false},
                                              Message(*post.message()));
    posted_[post.channel().source].push_back(sent);
    ++posted_count_;
    post.sent();
    co_return PutResult::delivered();
  }

  Task<UserPtr> user_from_id(std::string id) override {
    auto it = users_.find(id);
    co_return it == users_.end() ? nullptr : it->second;
  }
  Task<UserPtr> user_from_username(std::string username) override {
    co_return users_.count(username) ? users_[username] : nullptr;
  }
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override {
    co_return channel.source.starts_with("dm:");
  }
  Task<std::optional<std::string>> channel_title(const Channel& channel) override {
    if (channel.source.starts_with("dm:")) co_return std::nullopt;
    co_return channel.source;
  }
  Task<std::optional<Channel>> channel_for_user(const User& user) override {
    if (no_private_.count(user.id)) co_return std::nullopt;
    co_return this->channel("dm:" + user.id);
  }
  Task<std::optional<std::vector<UserPtr>>> channel_members(const Channel& channel) override {
    if (channel.source.starts_with("dm:")) {
      std::vector<UserPtr> two{user(channel.source.substr(3))};
      co_return two;
    }
    auto it = members_.find(channel.source);
    if (it == members_.end()) co_return std::nullopt;
    std::vector<UserPtr> out;
    for (const auto& id : it->second) out.push_back(user(id));
    co_return out;
  }
  Task<> channel_remove(const Channel& channel, const User& user) override {
    members_[channel.source].erase(user.id);
    removed_.push_back(channel.source + " " + user.id);
    co_return;
  }

  // ---- for tests ----
  // The user `id` (username `id`, real name `real` or `id`).
  const UserPtr& user(const std::string& id, const std::string& real = {}) {
    auto& u = users_[id];
    if (!u) {
      auto made = std::make_shared<User>();
      made->id = id;
      made->handle = handle();
      made->username = id;
      made->real_name = real.empty() ? id : real;
      u = std::move(made);
    }
    return u;
  }
  // `id` is in the room `source` (no message: present at start).
  void enter(const std::string& source, const std::string& id, const std::string& real = {}) {
    user(id, real);
    members_[source].insert(id);
  }
  // `id` joins `source`: a member from now, and a join message.
  SentPtr join(const std::string& source, const std::string& id) {
    enter(source, id);
    Message m;
    m.user = user(id);
    m.joined.push_back(user(id));
    return queue_message(source, std::move(m));
  }
  // `id` types `text` in `source`.
  SentPtr say(const std::string& source, const std::string& id, const std::string& text) {
    Message m;
    m.text = RichText(text);
    m.user = user(id);
    return queue_message(source, std::move(m));
  }
  SentPtr queue_message(const std::string& source, Message m) {
    auto sent = std::make_shared<const SentMessage>(
        Receipt{"in-" + std::to_string(++counter_), channel(source), Clock::now(), {}, false},
        std::move(m));
    queue(sent);
    return sent;
  }
  // `id` has no private channel on this network.
  void no_private(const std::string& id) { no_private_.insert(id); }
  bool is_member(const std::string& source, const std::string& id) const {
    auto it = members_.find(source);
    return it != members_.end() && it->second.count(id) > 0;
  }

  // Plain texts the bot posted in `source`, oldest first.
  std::vector<std::string> said(const std::string& source) const {
    std::vector<std::string> out;
    auto it = posted_.find(source);
    if (it == posted_.end()) return out;
    for (const auto& m : it->second) out.push_back(m->plain());
    return out;
  }
  const std::vector<SentPtr>& posted(const std::string& source) { return posted_[source]; }
  std::size_t posted_count() const { return posted_count_; }
  // "<source> <user>" for each removal, in order.
  const std::vector<std::string>& removed() const { return removed_; }

 private:
  std::uint64_t counter_ = 0;
  std::map<std::string, UserPtr> users_;
  std::map<std::string, std::set<std::string>> members_;
  std::set<std::string> no_private_;
  std::map<std::string, std::vector<SentPtr>> posted_;
  std::size_t posted_count_ = 0;
  std::vector<std::string> removed_;
};

inline RosterPlug& add_roster_plug(Host& host, std::string name) {
  Node config = Node::map();
  config.set_path("plugs." + name + ".config");
  auto plug = std::make_unique<RosterPlug>(Init{name, config, host});
  return static_cast<RosterPlug&>(host.add_plug(std::move(plug)));
}

}  // namespace immp::test
