// XMPPPlug (immp.plug.xmpp.XMPPPlug): one XMPP account. Channels are
// multi-user chat rooms (XEP-0045, source "room@conference.example") and
// one-to-one chats (source: the other person's bare JID, or the full
// "room@conference.example/nick" for a private message inside a room).
//
// Its link is an xmpp::Stream that the plug re-opens with backoff whenever
// it fails; the plug stays active meanwhile, reports itself offline, and
// the host's outboxes keep what is sent to it. After every (re)connect the
// rooms are joined again; XEP-0410 self-pings notice a silent removal.
//
// With `component: true` the plug is an XEP-0114 external component
// instead of an account, and every bridged user who speaks in a room is an
// occupant of their own there (xmpp_component.hpp).
//
// Ids are XEP-0359's: a room message is known by the stanza-id the room
// gave it, never by the id its sender chose; corrections, retractions,
// replies and reactions that name a sender's own id are resolved per
// sender, so one client's repeated ids cannot touch another's messages.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "immp/plug.hpp"
#include "immp/tasks.hpp"
#include "plugs/xmpp/xmpp_component.hpp"
#include "plugs/xmpp/xmpp_stream.hpp"
#include "plugs/xmpp/xmpp_upload.hpp"

namespace immp::plugs {

class XMPPPlug final : public Plug {
 public:
  static constexpr std::string_view kPath = "immp.plug.xmpp.XMPPPlug";
  static constexpr std::string_view kDescription =
      "XMPP: multi-user chat rooms and one-to-one chats of one account, with TLS, SCRAM, "
      "corrections, retractions, replies and reactions";
  static SpecPtr schema();

  explicit XMPPPlug(const Init& init);
  ~XMPPPlug() override;

  std::string network_name() const override;
  std::string network_id() const override;

  // Connects (waiting for the first attempt, bounded) and keeps
  // reconnecting in the background.
  Task<> start() override;
  Task<> stop() override;
  Task<PutResult> put(Posting& post) override;
  Task<> delete_message(const Receipt& receipt) override;

  Task<std::vector<Channel>> public_channels() override;
  Task<std::vector<Channel>> private_channels() override;
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override;
  Task<std::optional<std::string>> channel_title(const Channel& channel) override;
  Task<std::optional<std::vector<UserPtr>>> channel_members(const Channel& channel) override;
  Task<std::optional<Channel>> channel_for_user(const User& user) override;

  // Joins room `jid` now (if connected) and after every reconnect.
  void join(const std::string& jid, std::string password = {});

  // ---- state, for tests ----
  bool connected() const { return stream_ && stream_->is_open(); }
  bool joined(const std::string& room) const;
  // Our nick in `room` (after collisions), or empty.
  std::string nick_in(const std::string& room) const;
  std::uint64_t connections() const { return connections_; }
  const std::string& bound_jid() const { return bound_jid_; }
  // The HTTP upload service found on the server (XEP-0363), if any.
  const std::optional<xmpp::UploadService>& upload_service() const {
    return uploader_->service();
  }
  bool component() const { return component_; }
  // The nicks of the bridged users who are occupants of `room` now
  // (component mode).
  std::vector<std::string> puppet_nicks(const std::string& room) const;
  // Drops the link as a failure would (tests of reconnection).
  void drop_link(const std::string& why);
  // Links that resumed their XEP-0198 session instead of starting anew.
  std::uint64_t resumptions() const { return resumptions_; }
  // Makes the next resumption fail as an expired session would (tests).
  void spoil_resumption() { session_->id = "expired-" + session_->id; }

 private:
  struct Occupant {
    std::string nick;
    std::string real_jid;     // where the room shows it
    std::string occupant_id;  // XEP-0421, where offered
  };
  struct Room {
    std::string jid;
    std::string password;
    std::string nick;  // the nick we asked for or got
    int nick_tries = 0;
    bool joined = false;
    bool joining = false;
    bool subject_seen = false;  // the subject that completes a join is not a change
    std::string subject;
    // When we last took a live message from the room; a join after a lost
    // session asks the room for what it said since (a little before).
    std::optional<std::chrono::system_clock::time_point> last_live;
    // Joined with that request, until the subject ends the room's history:
    // what it replays is taken unless we already had it.
    bool catching_up = false;
    std::map<std::string, Occupant> occupants;  // by nick
  };
  // What we know of one message: who sent it (a stable key), the id its
  // sender chose, and its nick, so corrections and replies can be written.
  struct Known {
    std::string sender;
    std::string client_id;
    std::string nick;
  };
  struct IdMap {
    std::map<std::string, Known> by_receipt;           // receipt id -> what we know
    std::map<std::string, std::string> by_client;      // sender '\n' client id -> receipt id
    std::deque<std::string> order;                     // receipt ids, oldest first
    std::map<std::string, std::set<std::string>> reactions;  // sender '\n' receipt -> emoji
  };
  // One of our messages, waiting for the room to reflect it (a room) or the
  // server to acknowledge it (a chat).
  struct Pending {
    std::uint64_t seq = 0;  // its stanza number in the session (xmpp::Session)
    std::optional<std::string> receipt_id;
    std::string error;
    bool done = false;
    std::string room;  // the folded room it went to; empty in a chat
    // The session it went in was lost before the room reflected it: it
    // waits for the room's history on joining again, which shows whether the
    // room had it, so that it is sent again only if not (never twice).
    bool held = false;
    bool retry = false;  // failed, but worth sending again (see on_message)
    // What was sent to a room (and as whom), to send it again from
    // end_catch_up: ahead of anything newer, so that the room sees our
    // messages in the order they were put.
    std::optional<xmpp::Element> stanza;
    std::string from;
  };

  Task<> run();
  Task<> serve(xmpp::Stream& stream);
  // The session is gone (not resumed): rooms are to be joined again, and
  // what waits for a reflection is settled: delivered if the server
  // acknowledged it (`acks`: the session counted them), else retried.
  void settle(bool acks, const std::string& why);
  // The room's history after a join is in: what was held for it and not
  // found there is sent again at once, in the order it was first sent and
  // before anything put() since (which waits for the catch-up), so nothing
  // overtakes it. When the room cannot be joined, `failed` says why, and
  // the held messages fail with it (the outbox retries them in order).
  void end_catch_up(Room& room, const std::string& failed = {});
  xmpp::StreamOptions stream_options() const;
  void handle(const xmpp::Element& stanza);
  // `retry`: an error answering one of ours fails its put() as worth
  // retrying (the sender was out of the room and joins again) rather than
  // as refused for good.
  void on_message(const xmpp::Element& m, bool retry = false);
  void on_presence(const xmpp::Element& p);
  void on_iq(const xmpp::Element& iq);
  void send_join(Room& room);
  Task<> self_ping();
  Task<std::optional<xmpp::Element>> iq(xmpp::Element request, std::chrono::milliseconds timeout);
  Task<> discover(std::vector<std::string> sources);

  bool is_room(const std::string& source) const;
  // The room whose JID is `jid` (compared as servers do); null if none.
  Room* find_room(std::string_view jid);
  std::string source_of(const xmpp::Element& m, bool groupchat) const;
  std::string sender_key(const std::string& source, const xmpp::Element& m) const;
  UserPtr make_user(const std::string& source, const std::string& from) const;
  UserPtr self_user() const;
  void remember(const std::string& source, const std::string& receipt, Known known);
  std::optional<std::string> resolve(const std::string& source, const std::string& sender,
                                     const std::string& id) const;
  const Known* known(const std::string& source, const std::string& receipt) const;
  std::string next_id();
  // `as_nick`: the nick it is sent under, if not the room's own (a puppet's).
  Task<PutResult> send_and_confirm(Posting& post, xmpp::Element stanza, bool groupchat,
                                   std::string id, bool announce_edit, std::string as_nick = {});
  // Queues `stanza` on the link: in component mode from `from` (default:
  // our own occupant) and in the component's namespace. Returns its
  // number in the session; 0 without a link.
  std::uint64_t send(xmpp::Element stanza, const std::string& from = {});
  // Component mode: the occupant that speaks for `user` in room `source`,
  // joined (waiting for the room to take it); null when the room refused it
  // (the message then goes from our own occupant, named). Throws
  // std::runtime_error when the join did not complete in time (retried).
  Task<const xmpp::Puppet*> puppet_for(const std::string& source, const User& user);
  void send_puppet_join(const std::string& room, xmpp::Puppet& puppet);
  // Component mode: a stanza for one of the puppets, not for our own occupant.
  void on_puppet_stanza(const xmpp::Element& stanza);
  // The stanza for `msg` (kept out of put(): GCC 12 warns falsely of
  // mismatched new/delete in large coroutines).
  struct Outgoing {
    std::optional<xmpp::Element> stanza;  // none: nothing to send
    std::string error;                     // set: it can never go
    std::string id;                        // the id its receipt will have
    bool keep_id = false;                  // an edit: the receipt keeps the edited id
  };
  // `files`: how each File of `msg` shows (Uploader::links).
  // `puppet`: the occupant it goes from (no name prefix then).
  Outgoing compose(const Message& msg, const std::string& source, bool groupchat,
                   const std::vector<xmpp::FileLink>& files, const xmpp::Puppet* puppet);
  Task<PutResult> put_reaction(Posting& post, const std::string& source, bool groupchat,
                               const xmpp::Puppet* puppet);

  xmpp::StreamOptions options_;
  bool component_ = false;
  std::string account_;  // bare JID (component mode: our own occupant's, immp@component)
  std::string self_jid_;  // our full JID as rooms see it
  std::string nick_;     // the nick we ask for in rooms
  std::chrono::milliseconds reconnect_min_, reconnect_max_, self_ping_interval_;
  std::chrono::milliseconds confirm_timeout_;
  std::map<std::string, std::string> passwords_;  // room -> password

  std::shared_ptr<xmpp::Stream> stream_;
  // XEP-0198 state carried across streams, so a dropped link can resume.
  std::shared_ptr<xmpp::Session> session_ = std::make_shared<xmpp::Session>();
  std::string bound_jid_;
  bool stopping_ = false;
  bool first_attempt_done_ = false;
  std::uint64_t connections_ = 0;
  std::uint64_t resumptions_ = 0;
  Signal attempted_;
  std::string run_;
  std::uint64_t counter_ = 0;

  std::map<std::string, Room> rooms_;           // by xmpp::fold_bare(room JID)
  std::set<std::string> not_rooms_;             // declared sources that disco says are not rooms
  std::set<std::string> private_;               // chats we saw
  std::map<std::string, IdMap> ids_;            // by source
  std::map<std::string, std::shared_ptr<Pending>> pending_;  // our origin-id -> reflection
  std::map<std::string, std::shared_ptr<std::optional<xmpp::Element>>> iqs_;  // id -> answer
  Signal progress_;  // a reflection or an iq answer arrived, or the link changed
  // Expires with the plug: timer handlers that may outlive a wait check it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<xmpp::Uploader> uploader_;  // XEP-0363
  std::unique_ptr<xmpp::Puppets> puppets_;    // component mode only
  TaskGroup tasks_;  // last: stopped before what its tasks use goes
};

}  // namespace immp::plugs
