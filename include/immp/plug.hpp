// Plug: the connector to one network account. It turns network events into
// SentMessages (queue()) and Messages back into network calls (put()).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "immp/asio.hpp"
#include "immp/channel.hpp"
#include "immp/message.hpp"
#include "immp/openable.hpp"

namespace immp {

namespace detail {
struct PlugCore;
struct PostingState;
}  // namespace detail

// The markup a network's messages are written in, for renderers and for
// hooks that judge what formatting will survive.
enum class Markup {
  plain,     // no formatting at all
  irc,       // mIRC control codes
  markdown,  // CommonMark (Matrix's body, Telegram's MarkdownV2 is close)
  html,      // the HTML subset of Matrix and Telegram
  mrkdwn,    // Slack's
  discord,   // Discord's Markdown
};

// The network's own limit on how fast we may post. Zero: none known.
struct RateLimit {
  double per_second = 0;  // messages (IRC: lines) per second, sustained
  std::size_t burst = 0;  // sent at once before the rate applies
};

// What the network can do, so hooks (sync) can pick a native form or a
// fallback, and what a user will get there. A plug sets these in its
// constructor (or, for what it learns from the server, before it reports
// itself online).
struct Features {
  bool edit = false;    // put() of an `edited` message with an id changes it in place
  bool remove = false;  // delete_message() works
  bool reply = false;   // put() renders `reply_to` natively
  bool rich = false;    // formatting survives put()
  // The network echoes our own messages back through queue(). Read by the
  // host when put() announces a part (Posting), so a plug whose echo
  // support depends on the connection (IRC's echo-message) sets it first.
  bool echo = false;
  bool reaction = false;  // put() of a message with `reaction` adds or removes it
  bool thread = false;    // put() posts a message with `thread` into that thread
  // put() uploads File attachments itself (from `url`, or fetched through
  // the file's plug). Without it a hook sends a file as a link.
  bool upload = false;
  // The longest text one message carries, in characters (code points), or
  // in bytes of UTF-8 where `max_length_bytes` (IRC counts bytes); longer
  // ones the plug splits or the network refuses. 0: no limit known.
  std::size_t max_length = 0;
  bool max_length_bytes = false;
  Markup markup = Markup::plain;  // how put() writes formatting (see `rich`)
  RateLimit rate;
};

// Why Plug::fetch_file stopped. [[nodiscard]]: a caller that ignores it
// relays a file that is cut short.
struct [[nodiscard]] FetchResult {
  enum class Kind {
    done,           // every byte went to the sink
    not_fetchable,  // this plug cannot fetch this file (the default)
    too_large,      // the file is over the size limit; the sink got none or part of it
    failed,         // the network refused or the link broke; `reason` says
  };
  Kind kind = Kind::not_fetchable;
  std::uint64_t bytes = 0;  // bytes given to the sink
  std::string reason;
  explicit operator bool() const { return kind == Kind::done; }
};

// Receives a fetched file in order, one chunk at a time; the chunk is valid
// only during the call. A sink that throws stops the fetch (the plug lets
// the exception through).
using FileSink = std::function<Task<>(std::string_view chunk)>;

// How one put() ended. A plug returns one of the four; throwing is taken as
// retry() with the exception's text as the reason.
class [[nodiscard]] PutResult {
 public:
  enum class Kind {
    delivered,  // every part went out
    failed,     // can never go out (too long, forbidden, no such room): dropped, logged, counted
    retry,      // not now (link down, rate limited): the outbox tries again later
    partial,    // some parts went out (Posting::sent), the rest are retried; never sent twice
  };
  static PutResult delivered() { return PutResult(Kind::delivered, {}, {}); }
  static PutResult failed(std::string reason) {
    return PutResult(Kind::failed, std::move(reason), {});
  }
  // `after`: the network's own "retry after" (a rate limit); zero lets the
  // outbox back off on its own schedule.
  static PutResult retry(std::string reason, std::chrono::milliseconds after = {}) {
    return PutResult(Kind::retry, std::move(reason), after);
  }
  static PutResult partial(std::string reason, std::chrono::milliseconds after = {}) {
    return PutResult(Kind::partial, std::move(reason), after);
  }

  Kind kind() const { return kind_; }
  const std::string& reason() const { return reason_ ? *reason_ : no_reason(); }
  std::chrono::milliseconds after() const { return after_; }

 private:
  PutResult(Kind kind, std::string reason, std::chrono::milliseconds after)
      : kind_(kind),
        reason_(reason.empty() ? nullptr : std::make_shared<const std::string>(std::move(reason))),
        after_(after) {}
  static const std::string& no_reason();
  Kind kind_;
  // Null when there is none (every delivered()): a result passes through
  // several coroutines per message, and moving a pointer costs less than
  // moving a string.
  std::shared_ptr<const std::string> reason_;
  std::chrono::milliseconds after_;
};

// One attempt to deliver one message to one channel, as put() sees it. Made
// by the host; valid until put() returns.
//
// A message goes out as one or more parts (IRC lines, chunks of a long
// text, an upload then a caption). For each part a plug calls announce()
// with the part's id before the part can reach the network, then sent()
// once it went out. Announcing first is what lets the host recognise the
// echo of the part as ours however fast the network answers, without
// holding back anyone else's messages. A plug that learns an id only from
// the network's answer calls sent(id) and overrides Plug::may_be_echo().
//
// Parts sent() by an earlier attempt are never sent again: resume() says
// how many there were, and the plug skips that many.
//
// A put() that waits for the network to confirm (IRC's PING after the
// lines) can let the next message to the same channel start meanwhile:
// once every part is queued on the link in order, so that nothing later
// can overtake it, it calls ordered(). The host then runs up to
// OutboxPolicy::pipeline put()s to one channel at once, and still
// takes their results in order.
class Posting {
 public:
  Posting(const Channel& channel, const MessagePtr& message, detail::PostingState& state);
  Posting(const Posting&) = delete;
  Posting& operator=(const Posting&) = delete;

  const Channel& channel() const { return channel_; }
  const MessagePtr& message() const { return message_; }
  // Parts that earlier attempts delivered; skip this many.
  std::size_t resume() const;
  // The next part will have `id`; call before it is written.
  void announce(std::string id);
  // The next part went out. `id` only when it was not announced.
  void sent(std::string id = {});
  // Parts delivered so far, over every attempt.
  std::size_t done() const;
  // Every remaining part is queued on the network link, in order: a put()
  // for the next message to this channel may start now. Optional; a
  // put() that never calls it runs alone.
  void ordered();

 private:
  const Channel& channel_;
  const MessagePtr& message_;  // the attempt's own, which outlives this
  detail::PostingState& state_;
};

// How the host's outbox treats messages for this plug's channels while they
// cannot be delivered (see Host::post).
struct OutboxPolicy {
  std::chrono::seconds expiry{24 * 3600};  // older undelivered messages are dropped
  std::size_t capacity = 10000;            // per channel; beyond it the oldest is dropped
  // How many put()s to one channel may be in flight at once, for plugs
  // whose put() calls Posting::ordered(). A link that drops sends them
  // all again (those not confirmed), in order.
  std::size_t pipeline = 32;
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

  // Pushes `post.message()` into the network as one or more parts (see
  // Posting), the first being the primary one. Called by the host, once at
  // a time per channel (or overlapping, in order, after Posting::ordered());
  // never call it directly: hooks use
  // Host::post() or send(). An edit arrives as a SentMessage with `edited`
  // set whose `id` names the message to change (only when Features::edit
  // is set). A deleted SentMessage never reaches put(): the host calls
  // delete_message().
  virtual Task<PutResult> put(Posting& post) = 0;

  // Delivers at once, outside the outbox: runs the host's before_send
  // chain, then put(), and returns a receipt per part. Throws
  // std::runtime_error with the reason when put() did not deliver.
  Task<std::vector<Receipt>> send(const Channel& channel, MessagePtr msg);

  // Whether the network link is up and the plug's rooms are usable. The
  // outboxes deliver only to online plugs, and wake within moments of a
  // plug coming back online. A plug that keeps a link (IRC, XMPP) reports
  // it with set_online(); others are online whenever active.
  bool online() const { return online_; }

  // For networks whose ids are known only after put() returns: while a
  // put() to this plug is in flight, incoming messages for which this
  // returns true (our own account's) are held back until it returns, so
  // that their ids are known to be ours. Never holds back anyone else's.
  virtual bool may_be_echo(const SentMessage& sent) const;

  // Hands a message from the network to the host. Never blocks; the plug's
  // inbound queue is unbounded. Returns true when the queue is over its
  // high-water mark: a plug that can produce faster than the host consumes
  // then awaits paced() before it queues more (the hot path of a busy plug:
  // no coroutine per message), or uses queue_paced().
  bool queue(SentPtr sent);
  // Waits while the inbound queue is over its high-water mark.
  Task<> paced();
  // queue(), then paced().
  Task<> queue_paced(SentPtr sent);

  Channel channel(std::string source) const { return Channel{handle_, std::move(source)}; }
  // How channels and users name this plug (see PlugHandle).
  const PlugHandle* handle() const { return handle_; }

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
  virtual Task<std::optional<std::string>> channel_link_create(const Channel& channel, bool shared);
  virtual Task<> channel_link_revoke(const Channel& channel, std::optional<std::string> link);
  virtual Task<std::vector<SentPtr>> channel_history(const Channel& channel, SentPtr before);
  virtual Task<SentPtr> get_message(const Receipt& receipt);
  // The full message behind a receipt: itself if it already is one with
  // content, else get_message(); null if unknown.
  virtual Task<SentPtr> resolve_message(SentPtr receipt);
  // IMMP's `delete`.
  virtual Task<> delete_message(const Receipt& receipt);
  // Streams the bytes of `file`, which this plug made (file.origin is ours),
  // to `sink`, stopping with too_large before more than `size_limit` bytes
  // would reach it (a plug that knows the size up front sends none). For
  // downloads that need the network's credentials; a public `url` is for
  // anyone to fetch. Default: not_fetchable.
  virtual Task<FetchResult> fetch_file(const File& file, FileSink sink, std::uint64_t size_limit);

 protected:
  Features features_;
  // Reports the link: up (logged in, rooms joined) or down (with a reason).
  // Observers see it as a state event; outboxes wake when it comes back.
  void set_online(bool online, std::string reason = {});

 private:
  friend struct detail::HostCore;
  friend class Host;
  bool online_ = true;
  OutboxPolicy outbox_policy_;
  std::unique_ptr<detail::PlugCore> core_;
  PlugHandle* handle_;
};

}  // namespace immp
