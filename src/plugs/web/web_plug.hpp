// WebPlug (immp.plug.web.WebPlug, new in immp): an HTTP API on the web
// resource (immp.hook.web.WebHook) for tools that want to join the chat
// without writing a plug.
//
//   POST /api/v1/channels/{channel}/messages   post as the token's user -> receipts
//   GET  /api/v1/channels/{channel}/messages   history (?after=CURSOR), from the database
//   PATCH, DELETE /api/v1/channels/{channel}/messages/{id}   edit or delete one's own post
//   GET  /api/v1/channels                      the channels the token may use
//   GET  /api/v1/stream                        the host's message stream: WebSocket or SSE
//   GET  /api/v1/openapi.json                  docs/openapi.json
//
// Channels are declared in config (`channels`, by source). Bearer tokens
// carry scopes (read, write) and optionally the channels they are for;
// tokens are compared as SHA-256 digests in constant time.
//
// Every stream client has its own bounded queue on the bus (src/bus): it
// gets every message it may see, filtered on the host's side, and a
// client that falls that far behind is told so with the cursor it has
// reached and disconnected, never slowing anyone else; it resumes from the
// cursor with nothing missed while the events are still kept.
//
// Runs on the host's executor.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hooks/web/web_hook.hpp"
#include "immp/plug.hpp"
#include "immp/tasks.hpp"

namespace immp {
class Database;
}

namespace immp::plugs {

class StreamRounds;

class WebPlug final : public Plug {
 public:
  static constexpr std::string_view kPath = "immp.plug.web.WebPlug";
  static constexpr std::string_view kDescription =
      "An HTTP API: post and read messages, and follow the host's stream over WebSocket or "
      "Server-Sent Events.";
  static SpecPtr schema();

  // The routes this plug serves under its prefix, as (method, pattern):
  // what the OpenAPI document must describe.
  static std::vector<std::pair<std::string, std::string>> routes();
  // docs/openapi.json, as built in.
  static std::string_view openapi();

  explicit WebPlug(const Init& init);
  ~WebPlug() override;

  std::string network_name() const override { return "Web"; }
  std::string network_id() const override { return "web:" + name(); }

  Task<> start() override;
  // Ends the stream clients first, each cleanly (a WebSocket gets a close
  // frame, an SSE response ends), and waits a little for them to go; then
  // the routes and the rest.
  Task<> stop() override;
  Task<PutResult> put(Posting& post) override;
  Task<std::vector<Channel>> public_channels() override;
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override;
  Task<std::optional<std::string>> channel_title(const Channel& channel) override;
  // A deletion for web clients: the stream and the history carry it.
  Task<> delete_message(const Receipt& receipt) override;

  // Stream clients connected now.
  std::size_t stream_clients() const { return stream_clients_; }

  struct Token {
    std::string name;
    std::array<unsigned char, 32> digest{};
    bool read = false;
    bool write = false;
    std::vector<std::string> channels;  // sources; empty: all of this plug's
  };

 private:
  // The token a request carries (Authorization: Bearer, or access_token in
  // the query for browsers' WebSocket and EventSource); null if none matches.
  const Token* authenticate(const web::Request& request) const;
  bool may_use(const Token& token, const std::string& source) const;
  // The answer refusing `request`, authenticated as `token` (null: not at
  // all), to a channel route (401, 403 or 404), or nothing when the token
  // may read (or write) the channel it names.
  std::optional<web::Response> refuse_channel(const web::Request& request, const Token* token,
                                              bool write) const;
  bool has_channel(const std::string& source) const;

  Task<web::Response> post_message(web::Request& request);
  web::Response post_now(web::Request& request);
  // Reads a POST's JSON `body` for channel `source` into `msg` and its
  // author `user`; the answer refusing it, or nothing.
  std::optional<web::Response> read_body(const std::string& body, const std::string& source,
                                         Message& msg, User& user);
  Task<web::Response> get_history(web::Request& request);
  // PATCH (`deleting` false) or DELETE of a message the request's token
  // posted, found in the history.
  Task<web::Response> change_message(web::Request& request, bool deleting);
  web::Response change_now(web::Request& request, const Token& token, const std::string& last,
                           bool deleting);
  Task<web::Response> get_channels(web::Request& request);
  Task<web::Response> get_stream(web::Request& request);
  Task<> run_socket(web::Request& request, web::WebSocketSession& session);
  web::Response serve_chat(web::Request& request) const;

  // Counts a stream client out when it ends.
  struct Leave {
    WebPlug& plug;
    ~Leave() {
      --plug.stream_clients_;
      plug.clients_left_.notify();
    }
  };

  // Queues a message of ours (or a new revision or deletion of one: the
  // same id) into the host and records it in the history under the cursor
  // `seq`, from next_seq().
  void emit(SentPtr sent, std::uint64_t seq);
  std::uint64_t next_seq() { return ++seq_; }

  class Digest;

  std::vector<std::string> channels_;
  std::vector<Token> tokens_;
  std::string prefix_;
  std::size_t queue_;
  std::size_t page_;
  std::chrono::milliseconds heartbeat_;
  std::size_t writers_;             // stream writer threads besides the host's
  std::unique_ptr<Digest> digest_;  // of tokens; used from the host's executor only
  // This plug's id on connections' memos (web::ConnectionMemo), where it
  // keeps the last bearer a connection presented and its index in tokens_
  // (which never changes after the constructor).
  std::uint64_t memo_owner_;
  web::WebHook* web_ = nullptr;
  Database* db_ = nullptr;
  std::uint64_t seq_ = 0;
  std::size_t stream_clients_ = 0;
  // stop() in progress: stream clients end, `stopping_signal_` wakes them,
  // and each that leaves notifies `clients_left_`.
  bool stopping_ = false;
  Signal stopping_signal_;
  Signal clients_left_;
  std::filesystem::path chat_dir_;  // empty: no web chat
  std::vector<web::Route> routes_;
  // Made at the first start and kept: connections may outlive a stop.
  std::unique_ptr<StreamRounds> rounds_;
  TaskGroup tasks_;
};

}  // namespace immp::plugs
