// Plug: the connector to one network account. It turns network events into
// SentMessages (queue()) and Messages back into network calls (put()).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "immp/asio.hpp"
#include "immp/channel.hpp"
#include "immp/message.hpp"
#include "immp/openable.hpp"

namespace immp {

namespace detail {
struct PlugCore;
}

// What the network can do, so hooks (sync) can pick a native form or a
// fallback. A plug sets these in its constructor.
struct Features {
  bool edit = false;     // put() of an `edited` message with an id changes it in place
  bool remove = false;   // delete_message() works
  bool reply = false;    // put() renders `reply_to` natively
  bool rich = false;     // formatting survives put()
  // The network echoes our own messages back through queue(). Read by the
  // host when put() returns, so a plug whose echo support depends on the
  // connection (IRC's echo-message) sets it before returning from put().
  bool echo = false;
};

// How the host's outbox treats messages for this plug's channels while they
// cannot be delivered (see Host::post).
struct OutboxPolicy {
  std::chrono::seconds expiry{24 * 3600};  // older undelivered messages are dropped
  std::size_t capacity = 10000;            // per channel; beyond it the oldest is dropped
};

class Plug : public Openable {
 public:
  explicit Plug(const Init& init);
  ~Plug() override;

  // "IRC", "Telegram", ... for humans.
  virtual std::string network_name() const = 0;
  // Stable across restarts; unique per network account (and instance).
  virtual std::string network_id() const = 0;
  const Features& features() const { return features_; }
  OutboxPolicy& outbox_policy() { return outbox_policy_; }

  // Pushes a message into the network. Returns the ids it created, the
  // first being the primary one; empty if nothing was posted. Called by the
  // host under the send lock; never call it directly, use send().
  // An edit arrives as a SentMessage with `edited` set whose `id` names the
  // message to change in `channel` (only when Features::edit is set).
  // Throwing means "not delivered": the outbox retries later.
  virtual Task<std::vector<std::string>> put(const Channel& channel, MessagePtr msg) = 0;

  // The way to post: runs the host's before_send chain, then put() under
  // the send lock, and returns a receipt per id.
  Task<std::vector<Receipt>> send(const Channel& channel, MessagePtr msg);

  // Hands a message from the network to the host. Never blocks; the plug's
  // inbound queue is unbounded, so a plug that can produce faster than the
  // host consumes should use queue_paced() instead.
  void queue(SentPtr sent);
  // queue(), then waits while the inbound queue is over its high-water mark.
  Task<> queue_paced(SentPtr sent);

  Channel channel(std::string source) { return Channel{this, std::move(source)}; }

  // ---- optional query API; defaults mean "not supported" ----
  virtual Task<UserPtr> user_from_id(std::string id);
  virtual Task<UserPtr> user_from_username(std::string username);
  virtual Task<bool> user_is_system(const User& user);
  virtual Task<std::vector<Channel>> public_channels();
  virtual Task<std::vector<Channel>> private_channels();
  virtual Task<std::optional<Channel>> channel_for_user(const User& user);
  // nullopt: the plug cannot tell.
  virtual Task<std::optional<bool>> channel_is_private(const Channel& channel);
  virtual Task<std::optional<std::string>> channel_title(const Channel& channel);
  virtual Task<std::optional<std::string>> channel_link(const Channel& channel);
  virtual Task<> channel_rename(const Channel& channel, std::string title);
  virtual Task<std::optional<std::vector<UserPtr>>> channel_members(const Channel& channel);
  virtual Task<std::optional<std::vector<UserPtr>>> channel_admins(const Channel& channel);
  virtual Task<> channel_invite(const Channel& channel, const User& user);
  virtual Task<> channel_remove(const Channel& channel, const User& user);
  virtual Task<std::optional<std::string>> channel_link_create(const Channel& channel,
                                                               bool shared);
  virtual Task<> channel_link_revoke(const Channel& channel, std::optional<std::string> link);
  virtual Task<std::vector<SentPtr>> channel_history(const Channel& channel, SentPtr before);
  virtual Task<SentPtr> get_message(const Receipt& receipt);
  // The full message behind a receipt: itself if it already is one with
  // content, else get_message(); null if unknown.
  virtual Task<SentPtr> resolve_message(SentPtr receipt);
  // IMMP's `delete`.
  virtual Task<> delete_message(const Receipt& receipt);

  detail::PlugCore& core() { return *core_; }

 protected:
  Features features_;

 private:
  OutboxPolicy outbox_policy_;
  std::unique_ptr<detail::PlugCore> core_;
};

}  // namespace immp
