// IRCPlug (immp.plug.irc.IRCPlug): one IRC network account. Channels are
// IRC channels ("#room") and private conversations (the other nick).
//
// Its link is an irc::Connection that the plug re-opens with exponential
// backoff and jitter whenever it fails; the plug stays `active` meanwhile,
// and put() throws so the host's outbox keeps messages until the link is
// back. With echo-message the server's echo of our line carries the id
// put() returned, so the host matches it through the send lock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "immp/backoff.hpp"
#include "immp/plug.hpp"
#include "immp/ring.hpp"
#include "immp/tasks.hpp"
#include "plugs/irc/irc_casemap.hpp"
#include "plugs/irc/irc_connection.hpp"
#include "plugs/irc/irc_render.hpp"
#include "plugs/irc/irc_sts.hpp"

namespace immp::plugs {

class IrcPuppets;

class IRCPlug final : public Plug {
 public:
  static constexpr std::string_view kPath = "immp.plug.irc.IRCPlug";
  static constexpr std::string_view kDescription =
      "IRC: channels and private messages on one server, with TLS, SASL, IRCv3 and puppets";
  static SpecPtr schema();

  explicit IRCPlug(const Init& init);
  ~IRCPlug() override;

  // As IMMP's: "<network> IRC", the network as the server names it
  // (ISUPPORT NETWORK) once connected, else the server's host name.
  std::string network_name() const override;
  std::string network_id() const override;

  // Connects (waiting for the first attempt, bounded by the registration
  // timeout) and keeps reconnecting in the background. A first attempt that
  // fails is logged; the plug still becomes active and retries.
  Task<> start() override;
  // Sends QUIT with the `quit` message, then ends every task.
  Task<> stop() override;
  Task<PutResult> put(Posting& post) override;

  Task<UserPtr> user_from_id(std::string id) override;
  Task<UserPtr> user_from_username(std::string username) override;
  Task<bool> user_is_system(const User& user) override;
  Task<std::vector<Channel>> public_channels() override;
  Task<std::vector<Channel>> private_channels() override;
  Task<std::optional<Channel>> channel_for_user(const User& user) override;
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override;
  Task<std::optional<std::string>> channel_title(const Channel& channel) override;
  Task<std::optional<std::vector<UserPtr>>> channel_members(const Channel& channel) override;
  Task<> channel_invite(const Channel& channel, const User& user) override;
  Task<> channel_remove(const Channel& channel, const User& user) override;

  // Joins `source` now (if connected) and after every reconnect.
  void join(const std::string& source, std::string key = {});
  // Leaves `source` and stops rejoining it.
  void part(const std::string& source);

  // ---- state, for tests and the puppets ----
  bool connected() const { return conn_ && conn_->is_open(); }
  const std::string& nick() const;
  // Times we registered with the server (1 after the first connect).
  std::uint64_t connections() const { return connections_; }
  bool is_channel(std::string_view source) const;
  bool joined(const std::string& source) const;
  // True for a nick that is one of our puppets.
  bool is_puppet(const std::string& nick) const;
  // The link settings the config gave (send-delay in ms, burst, ident...).
  const irc::ConnectionOptions& settings() const { return options_; }
  // Most puppets at once; 0: no limit (the default, as IMMP).
  std::size_t max_puppets() const { return max_puppets_; }
  bool quote_reply_to() const { return quote_reply_to_; }

 private:
  struct ChannelState {
    std::string name;   // as the server spells it
    std::string topic;
    std::map<std::string, std::string> members;  // folded nick -> nick!user@host or nick
    bool joined = false;
  };

  Task<> run();
  Task<> serve(irc::Connection& conn);
  void handle(const irc::Line& line);
  void on_privmsg(const irc::Line& line);
  void on_tagmsg(const irc::Line& line);
  Task<PutResult> put_reaction(Posting& post, irc::Connection& conn);
  void on_join(const irc::Line& line);
  void on_part(const irc::Line& line, bool kicked);
  void on_quit(const irc::Line& line);
  void on_nick(const irc::Line& line);
  void on_topic(const irc::Line& line);
  void on_names(const irc::Line& line);
  void on_isupport(const irc::Line& line);
  void queue_membership(const std::string& source, UserPtr user, bool joined);
  void send_join(const std::string& source);

  UserPtr make_user(const std::string& nick, const std::string& user = {},
                    const std::string& host = {});
  const UserPtr& self();
  std::string fold(std::string_view name) const { return irc::fold(name, casemap_); }
  // fold() into a buffer the plug keeps, for a lookup on the message path
  // (a channel name over 15 bytes would cost an allocation per fold()).
  // Valid until the next call: use it in one lookup, never two at once.
  const std::string& folded(std::string_view name) const {
    irc::fold_into(fold_scratch_, name, casemap_);
    return fold_scratch_;
  }
  bool is_us(std::string_view nick) const;
  std::string next_id();
  irc::ConnectionOptions connection_options() const;
  // Pairs our id for a line with the msgid the server gave its echo.
  void remember_msgid(const std::string& id, const std::string& msgid);
  // The server's msgid of a message of ours (this plug), if known.
  std::optional<std::string> msgid_of(const SentMessage& sent) const;
  // options_ with STS applied: TLS on the policy's port when one holds.
  irc::ConnectionOptions attempt_options() const;
  // Remembers the STS policy a TLS link advertised.
  void learn_sts(const irc::Connection& conn, const irc::ConnectionOptions& o);

  irc::ConnectionOptions options_;
  std::vector<std::string> perform_;
  std::string quit_message_;
  bool accept_invites_;
  bool colour_nicks_;
  bool quote_reply_to_;
  std::size_t max_puppets_ = 0;
  std::map<std::string, std::string> keys_;  // folded channel -> key
  std::chrono::milliseconds reconnect_min_;
  std::chrono::milliseconds reconnect_max_;

  std::string run_;
  std::uint64_t counter_ = 0;
  irc::CaseMapping casemap_ = irc::CaseMapping::rfc1459;
  std::string chantypes_ = "#&";
  std::string network_;  // ISUPPORT NETWORK
  std::string prefixes_ = "~&@%+";
  // Longest nick, user and host names (ISUPPORT; common defaults until told).
  std::size_t nicklen_ = 30;
  std::size_t userlen_ = 10;
  std::size_t hostlen_ = 63;
  std::size_t budget(const std::string& target) const;
  // Whether `msg` answers the last message in `target` (no quote needed).
  bool reply_is_last(const std::string& target, const Message& msg) const;
  // How `msg` is drawn in `target`: its PRIVMSG texts, and which of them
  // starts the reply itself (after a quote of the parent, from recent_).
  struct Rendered {
    std::vector<std::string> texts;
    std::size_t reply_line = 0;
  };
  Rendered render(const std::string& target, const Message& msg, bool with_name) const;
  // A message of `source` that a later reply may quote, under `id`.
  void remember(const std::string& source, std::string_view id, MessagePtr message);
  // Our message, as it was posted, under the id of its first line.
  void remember_ours(const std::string& target, const std::vector<std::string>& ids,
                     const MessagePtr& msg);

  std::unique_ptr<irc::StsStore> sts_;  // null when `sts` is off
  std::optional<int> sts_upgrade_;      // the TLS port a plaintext link was told to use
  std::shared_ptr<irc::Connection> conn_;  // shared: a put() in flight holds it
  bool stopping_ = false;
  std::uint64_t connections_ = 0;
  bool first_attempt_done_ = false;
  Signal attempted_;
  std::map<std::string, std::string> wanted_;  // folded channel -> name to JOIN
  std::map<std::string, ChannelState> channels_;  // folded -> state
  std::set<std::string> private_;                 // nicks we talked with
  // With echo-message: ids of our lines in flight, per folded target, in
  // the order sent; the server echoes them in that order.
  std::map<std::string, std::deque<std::string>> pending_echo_;
  // Our ids and the msgids the server gave their echoes, both ways, the
  // most recent 4096 (msgid_order_: oldest first).
  std::map<std::string, std::string> msgid_ids_;
  std::map<std::string, std::string> id_msgids_;
  std::deque<std::string> msgid_order_;
  // Per folded channel, the ids of its last message (all the lines of our
  // last post, or one received line): a reply to it needs no quote.
  std::map<std::string, std::vector<std::string>> last_ids_;
  // Per folded channel, its recent messages (received ones, and ours under
  // the id of their first line), newest last: a reply that names its parent
  // by id only (sync's bare receipt) is quoted from here.
  struct Recent {
    std::string id;
    MessagePtr message;  // shared, never copied (its own reply_to is not followed)
  };
  std::map<std::string, Ring<Recent>> recent_;
  mutable std::string fold_scratch_;  // folded()'s buffer
  UserPtr self_;
  // The user made last per nick (make_user), at most 1024 nicks.
  std::map<std::string, UserPtr, std::less<>> users_;
  std::unique_ptr<IrcPuppets> puppets_;
  TaskGroup tasks_;
};

}  // namespace immp::plugs
