#include "plugs/web/web_plug.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "bus/bus.hpp"
#include "immp/host.hpp"
#include "net/http.hpp"
#include "net/websocket.hpp"
#include "store/database_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"
#include "support/process.hpp"
#include "support/web_client.hpp"

namespace immp::plugs {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kWriter = "writer-token-0123456789";
constexpr const char* kReader = "reader-token-0123456789";
constexpr const char* kLobby = "lobby-token-01234567890";

// One host for the program: a database, the web server, the API plug and
// a memory network beside it.
struct Env {
  asio::io_context io;
  test::TempDir dir{"immp-webplug"};
  std::unique_ptr<Host> host;
  web::WebHook* web = nullptr;
  WebPlug* api = nullptr;
  MemoryPlug* net = nullptr;

  Env() {
    HostOptions o;
    o.base_dir = dir.path();
    host = std::make_unique<Host>(io.get_executor(), o);
    test::add_hook<store::DatabaseHook>(*host, "db",
                                        "url: \"sqlite:///" + (dir.path() / "immp.db").string() +
                                            "\"");
    web = &test::add_hook<web::WebHook>(*host, "web", "port: 0\nmax-body: 4096\n");
    net = &test::add_memory_plug(*host, "net");
    api = &test::add_plug<WebPlug>(*host, "api", std::string(R"(
channels: [lobby, dev]
queue: 8
chat: )" + std::string(IMMP_SOURCE_DIR) + R"(/web/chat
tokens:
  - {name: writer, token: )") + kWriter + R"(, scopes: [read, write]}
  - {name: reader, token: )" + kReader + R"(, scopes: [read]}
  - {name: lobbyist, token: )" + kLobby + R"(, scopes: [read, write], channels: [lobby]}
)");
    test::run(io, host->open());
  }
};

Env& env() {
  static Env* e = new Env();
  return *e;
}

class WebPlugTest : public ::testing::Test {
 protected:
  Env& e = env();

  std::string url(const std::string& path) { return e.web->base_url() + "/api/v1" + path; }
  std::string ws_url(const std::string& path) { return "ws" + url(path).substr(4); }

  net::HttpResponse post(const std::string& channel, const std::string& body,
                         const std::string& token = kWriter) {
    net::HttpClient http(e.io.get_executor());
    net::HttpRequest req;
    req.method = "POST";
    req.url = url("/channels/" + channel + "/messages");
    req.body = body;
    req.content_type = "application/json";
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    return test::run(e.io, http.request(req));
  }
  // PATCH (with `body`) or DELETE of one message of `channel`.
  net::HttpResponse change(const std::string& method, const std::string& channel,
                           const std::string& id, const std::string& body = "",
                           const std::string& token = kWriter) {
    net::HttpClient http(e.io.get_executor());
    net::HttpRequest req;
    req.method = method;
    req.url = url("/channels/" + channel + "/messages/" + id);
    req.body = body;
    if (!body.empty()) req.content_type = "application/json";
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    return test::run(e.io, http.request(req));
  }
  net::HttpResponse get(const std::string& path, const std::string& token = kWriter) {
    net::HttpClient http(e.io.get_executor());
    net::Headers h;
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
    return test::run(e.io, http.get(url(path), h));
  }

  std::unique_ptr<net::WebSocket> connect(const std::string& query = "",
                                          const std::string& token = kWriter) {
    net::WebSocketOptions o;
    o.headers.emplace_back("Authorization", "Bearer " + token);
    auto ws = std::make_unique<net::WebSocket>(e.io.get_executor(), o);
    test::run(e.io, ws->connect(ws_url("/stream" + query)));
    return ws;
  }
  json::object frame(net::WebSocket& ws) {
    return json::parse(test::run(e.io, ws.read()).data).as_object();
  }
  // The next event's plain text (skipping nothing: a control frame fails).
  std::string next_text(net::WebSocket& ws) {
    auto f = frame(ws);
    EXPECT_FALSE(f.contains("stream")) << json::serialize(f);
    if (!f.contains("data")) return "";
    return std::string(f.at("data").at("plain").as_string());
  }
};

TEST_F(WebPlugTest, TwoStreamClientsBothGetEveryMessage) {
  auto a = connect();
  auto b = connect();
  EXPECT_EQ(frame(*a).at("stream"), "ready");
  EXPECT_EQ(frame(*b).at("stream"), "ready");
  for (int i = 0; i < 3; ++i) {
    auto r = post("lobby", R"({"text": "hello )" + std::to_string(i) + R"("})");
    ASSERT_EQ(r.status, 201u) << r.body;
    auto receipt = json::parse(r.body);
    EXPECT_EQ(receipt.at("receipts").at(0).at("channel"), "lobby");
  }
  e.net->inject("#other", "from elsewhere");
  for (auto* ws : {a.get(), b.get()}) {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(next_text(*ws), "hello " + std::to_string(i));
    EXPECT_EQ(next_text(*ws), "from elsewhere");
  }
  EXPECT_EQ(e.api->stream_clients(), 2u);
}

TEST_F(WebPlugTest, ResumeGetsExactlyWhatWasMissed) {
  auto a = connect("?channels=api/dev");
  ASSERT_EQ(frame(*a).at("stream"), "ready");
  ASSERT_EQ(post("dev", R"({"text": "one"})").status, 201u);
  auto first = frame(*a);
  EXPECT_EQ(first.at("data").at("plain"), "one");
  std::string cursor(first.at("id").as_string());
  test::run(e.io, a->close());
  ASSERT_EQ(post("dev", R"({"text": "two"})").status, 201u);
  ASSERT_EQ(post("lobby", R"({"text": "not for this filter"})").status, 201u);
  ASSERT_EQ(post("dev", R"({"text": "three"})").status, 201u);
  auto b = connect("?channels=api/dev&since=" + cursor);
  auto ready = frame(*b);
  EXPECT_EQ(ready.at("stream"), "ready");
  EXPECT_EQ(std::string(ready.at("cursor").as_string()), cursor);
  EXPECT_EQ(next_text(*b), "two");
  EXPECT_EQ(next_text(*b), "three");
  ASSERT_EQ(post("dev", R"({"text": "four"})").status, 201u);
  EXPECT_EQ(next_text(*b), "four");  // nothing twice, nothing else
}

TEST_F(WebPlugTest, SlowClientIsToldWithACursorAndLosesNothing) {
  auto steady = connect("?channels=net/%23flood");
  auto slow = connect("?channels=net/%23flood");
  ASSERT_EQ(frame(*steady).at("stream"), "ready");
  auto ready = frame(*slow);
  std::string cursor(ready.at("cursor").as_string());
  // 20 events at once, more than the queue (8) holds, before any client
  // can be written to: the stream never waits for them.
  auto flood = [&]() -> Task<> {
    for (int i = 0; i < 20; ++i) {
      Message m;
      m.text = RichText("flood " + std::to_string(i));
      auto sent = std::make_shared<const SentMessage>(
          Receipt{"f" + std::to_string(i), e.net->channel("#flood"), Clock::now(), {}, false},
          std::move(m));
      co_await e.web->stream().publish(sent);
    }
  };
  test::run(e.io, flood());
  for (auto* ws : {slow.get(), steady.get()}) {
    auto lag = frame(*ws);
    EXPECT_EQ(lag.at("stream"), "lagged");
    EXPECT_EQ(std::string(lag.at("cursor").as_string()), cursor);
  }
  auto again = connect("?channels=net/%23flood&since=" + cursor);
  EXPECT_EQ(frame(*again).at("stream"), "ready");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(next_text(*again), "flood " + std::to_string(i));
}

TEST_F(WebPlugTest, ManyClientsGetEveryEventInOrderAcrossRounds) {
  constexpr int kClients = 20;
  constexpr int kEvents = 60;
  std::vector<std::unique_ptr<net::WebSocket>> clients;
  std::vector<std::vector<std::string>> got(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(connect("?channels=net/%23many"));
    ASSERT_EQ(frame(*clients.back()).at("stream"), "ready");
  }
  // Parameters, not captures: the coroutine outlives the lambda object.
  auto reader = [](net::WebSocket& ws, std::vector<std::string>& out) -> Task<> {
    while (out.size() < kEvents) {
      auto m = co_await ws.read();
      out.push_back(std::string(json::parse(m.data).at("data").at("plain").as_string()));
    }
  };
  for (int c = 0; c < kClients; ++c) {
    asio::co_spawn(e.io, reader(*clients[c], got[c]), asio::detached);
  }
  // Bursts of 4 (the queues hold 8), each written as one round.
  auto publish = [&](int from) -> Task<> {
    for (int i = from; i < from + 4; ++i) {
      Message m;
      m.text = RichText("many " + std::to_string(i));
      auto sent = std::make_shared<const SentMessage>(
          Receipt{"m" + std::to_string(i), e.net->channel("#many"), Clock::now(), {}, false},
          std::move(m));
      co_await e.web->stream().publish(sent);
    }
  };
  for (int i = 0; i < kEvents; i += 4) {
    test::run(e.io, publish(i));
    ASSERT_TRUE(test::run_until(e.io, [&] {
      for (const auto& g : got) {
        if (g.size() < static_cast<std::size_t>(i + 4)) return false;
      }
      return true;
    }));
  }
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(got[c].size(), static_cast<std::size_t>(kEvents));
    for (int i = 0; i < kEvents; ++i) EXPECT_EQ(got[c][i], "many " + std::to_string(i));
  }
}

TEST_F(WebPlugTest, ServerSentEvents) {
  std::string request = "GET /api/v1/stream?channels=api/lobby HTTP/1.1\r\nHost: x\r\n"
                        "Authorization: Bearer " +
                        std::string(kReader) + "\r\n\r\n";
  bool done = false;
  test::RawExchange got;
  auto client = [&]() -> Task<> {
    got = co_await test::read_until(e.web->port(), request, [](const std::string& s) {
      return s.find("sse two") != std::string::npos;
    });
    done = true;
  };
  asio::co_spawn(e.io, client(), asio::detached);
  ASSERT_TRUE(test::run_until(e.io, [&] { return e.api->stream_clients() > 0; }));
  ASSERT_EQ(post("lobby", R"({"text": "sse one"})").status, 201u);
  ASSERT_EQ(post("lobby", R"({"text": "sse two"})").status, 201u);
  ASSERT_TRUE(test::run_until(e.io, [&] { return done; }));
  EXPECT_EQ(test::status_of(got.reply), 200);
  EXPECT_NE(got.reply.find("text/event-stream"), std::string::npos);
  EXPECT_NE(got.reply.find("event: ready\n"), std::string::npos);
  EXPECT_NE(got.reply.find("event: message\ndata: {"), std::string::npos);
  EXPECT_LT(got.reply.find("sse one"), got.reply.find("sse two"));
}

TEST_F(WebPlugTest, BadTokensAreRefused) {
  auto none = post("lobby", R"({"text": "x"})", "");
  EXPECT_EQ(none.status, 401u);
  ASSERT_NE(none.header("WWW-Authenticate"), nullptr);
  EXPECT_EQ(post("lobby", R"({"text": "x"})", "writer-token-0123456780").status, 401u);
  EXPECT_EQ(post("lobby", R"({"text": "x"})", kReader).status, 403u);
  EXPECT_EQ(post("dev", R"({"text": "x"})", kLobby).status, 403u);
  EXPECT_EQ(post("lobby", R"({"text": "x"})", kLobby).status, 201u);
  EXPECT_EQ(get("/channels/dev/messages", kLobby).status, 403u);
  EXPECT_EQ(get("/stream?channels=api/dev", kLobby).status, 403u);
  EXPECT_EQ(get("/stream", "nope").status, 401u);
  auto channels = json::parse(get("/channels", kLobby).body);
  EXPECT_EQ(channels.at("channels").as_array().size(), 1u);
  // A WebSocket with a bad token is told why and closed.
  auto ws = connect("", "not-a-token-at-all");
  auto f = frame(*ws);
  EXPECT_TRUE(f.contains("error"));
  EXPECT_THROW(test::run(e.io, ws->read()), net::WebSocketError);
}

TEST_F(WebPlugTest, BadBodiesAreRefusedWithTheReason) {
  auto not_json = post("lobby", "{");
  EXPECT_EQ(not_json.status, 400u);
  EXPECT_NE(not_json.body.find("not JSON"), std::string::npos);
  EXPECT_EQ(post("lobby", "[1]").status, 400u);
  auto typo = post("lobby", R"({"txt": "x"})");
  EXPECT_EQ(typo.status, 400u);
  EXPECT_NE(typo.body.find("did you mean 'text'"), std::string::npos) << typo.body;
  auto bad_rich = post("lobby", R"({"text": [{"text": "a", "bold": "yes"}]})");
  EXPECT_EQ(bad_rich.status, 400u);
  EXPECT_NE(bad_rich.body.find("body.text[0].bold"), std::string::npos) << bad_rich.body;
  EXPECT_EQ(post("lobby", R"({"text": ""})").status, 400u);
  EXPECT_EQ(post("nowhere", R"({"text": "x"})").status, 404u);
  auto big = post("lobby", R"({"text": ")" + std::string(5000, 'x') + R"("})");
  EXPECT_EQ(big.status, 413u);
  auto bad_file = post("lobby", R"({"attachments": [{"url": "file:///etc/passwd"}]})");
  EXPECT_EQ(bad_file.status, 400u);
}

TEST_F(WebPlugTest, OneConnectionChangingItsBearerGetsEachTokensRights) {
  // The plug remembers a connection's last bearer: a keep-alive client
  // that changes it must get the new one's rights, or none.
  auto request = [](const std::string& channel, const std::string& token) {
    std::string body = R"({"text":"from one connection"})";
    return "POST /api/v1/channels/" + channel + "/messages HTTP/1.1\r\nHost: a\r\n" +
           "Authorization: Bearer " + token + "\r\nContent-Type: application/json\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  std::string wrong = std::string(kWriter).substr(0, 22) + "X";  // as long, one byte off
  auto r = test::run(
      e.io,
      test::raw_exchange(e.web->port(), request("lobby", kWriter) + request("lobby", kReader) +
                                            request("lobby", wrong) + request("lobby", kWriter) +
                                            request("dev", kLobby) + request("lobby", kLobby) +
                                            request("dev", kWriter) +
                                            "GET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n"));
  std::vector<int> statuses;
  for (std::size_t at = r.reply.find("HTTP/1.1 "); at != std::string::npos;
       at = r.reply.find("HTTP/1.1 ", at + 1)) {
    statuses.push_back(test::status_of(r.reply.substr(at)));
  }
  EXPECT_EQ(statuses, (std::vector<int>{201, 403, 401, 201, 403, 201, 201, 404})) << r.reply;
}

TEST_F(WebPlugTest, TheUsualBodyAndItsOtherSpellingsGiveTheSameMessage) {
  // {"text":"..."} in printable ASCII is read without the JSON parser;
  // every other spelling goes through it, and all mean the same.
  auto a = connect("?channels=api/dev");
  ASSERT_EQ(frame(*a).at("stream"), "ready");
  for (const auto& [body, text] : std::vector<std::pair<std::string, std::string>>{
           {R"({"text":"plain words"})", "plain words"},
           {R"({ "text" : "plain words" })", "plain words"},
           {R"({"text":"say \"hi\" \\o/"})", "say \"hi\" \\o/"},
           {R"({"text":"caf\u00e9"})", "caf\xc3\xa9"},
           {"{\"text\":\"caf\xc3\xa9\"}", "caf\xc3\xa9"},
       }) {
    auto r = post("dev", body);
    ASSERT_EQ(r.status, 201u) << body << ": " << r.body;
    auto env = frame(*a);
    EXPECT_EQ(env.at("data").at("plain").as_string(), text) << body;
    EXPECT_EQ(env.at("data").at("user").at("id").as_string(), "writer") << body;
  }
  EXPECT_EQ(post("dev", R"({"text":""})").status, 400u);
  EXPECT_EQ(post("dev", "{\"text\":\"bad \xff byte\"}").status, 400u);
}

TEST_F(WebPlugTest, RichTextAuthorReplyAndAttachments) {
  auto a = connect("?channels=api/dev");
  ASSERT_EQ(frame(*a).at("stream"), "ready");
  auto r = post("dev", R"({"text": [{"text": "bold", "bold": true}, {"text": " move"}],
      "author": {"name": "Ann", "avatar": "https://example.org/ann.png"},
      "reply_to": "123", "action": true,
      "attachments": [{"url": "https://example.org/cat.png", "mime": "image/png"}]})");
  ASSERT_EQ(r.status, 201u) << r.body;
  auto env = frame(*a);
  const auto& data = env.at("data").as_object();
  EXPECT_EQ(data.at("plain"), "* Ann bold move");  // an action, as plain text shows it
  EXPECT_EQ(data.at("text").at(0).at("bold"), true);
  EXPECT_EQ(data.at("user").at("real_name"), "Ann");
  EXPECT_EQ(data.at("user").at("avatar"), "https://example.org/ann.png");
  EXPECT_EQ(data.at("action"), true);
  EXPECT_EQ(data.at("reply_to").at("id"), "123");
  EXPECT_EQ(data.at("attachments").at(0).at("url"), "https://example.org/cat.png");
}

TEST_F(WebPlugTest, HistoryFromTheDatabaseAfterACursor) {
  ASSERT_EQ(post("dev", R"({"text": "h1"})").status, 201u);
  // A message a hook sends to the channel is part of it too.
  Message m;
  m.text = RichText("h2 from a hook");
  auto msg = std::make_shared<const Message>(std::move(m));
  test::run(e.io, e.host->send(e.api->channel("dev"), msg));
  ASSERT_EQ(post("dev", R"({"text": "h3"})").status, 201u);
  auto page = get("/channels/dev/messages?limit=3");
  ASSERT_EQ(page.status, 200u) << page.body;
  auto all = json::parse(page.body).at("messages").as_array();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].at("text").at(0).at("text"), "h2 from a hook");
  std::string first(all[0].at("cursor").as_string());
  auto rest = json::parse(get("/channels/dev/messages?after=" + first).body);
  ASSERT_EQ(rest.at("messages").as_array().size(), 2u);
  EXPECT_EQ(rest.at("messages").at(1).at("text").at(0).at("text"), "h3");
  auto after_last = json::parse(get("/channels/dev/messages?after=" +
                                    std::string(rest.at("cursor").as_string()))
                                    .body);
  EXPECT_TRUE(after_last.at("messages").as_array().empty());
  EXPECT_EQ(get("/channels/dev/messages?after=abc").status, 400u);
}

TEST_F(WebPlugTest, ATokenEditsAndDeletesItsOwnPosts) {
  auto a = connect("?channels=api/dev");
  ASSERT_EQ(frame(*a).at("stream"), "ready");
  auto posted = post("dev", R"({"text": "frist", "author": {"name": "Ann"}})");
  ASSERT_EQ(posted.status, 201u) << posted.body;
  std::string id(json::parse(posted.body).at("receipts").at(0).at("id").as_string());
  EXPECT_EQ(next_text(*a), "frist");

  auto edited = change("PATCH", "dev", id, R"({"text": "first"})");
  ASSERT_EQ(edited.status, 200u) << edited.body;
  auto edit = frame(*a).at("data").as_object();
  EXPECT_EQ(edit.at("id").as_string(), id);  // the same message, a new revision
  EXPECT_EQ(edit.at("plain"), "first");
  EXPECT_EQ(edit.at("edited"), true);
  EXPECT_EQ(edit.at("user").at("real_name"), "Ann");  // kept from the post

  // Others may not: another token, or anyone for a message relayed here.
  EXPECT_EQ(change("PATCH", "lobby", id, R"({"text": "x"})", kLobby).status, 404u);
  auto lobby_post = post("lobby", R"({"text": "mine"})", kLobby);
  std::string lobby_id(json::parse(lobby_post.body).at("receipts").at(0).at("id").as_string());
  EXPECT_EQ(change("DELETE", "lobby", lobby_id).status, 403u);
  EXPECT_EQ(change("DELETE", "lobby", lobby_id, "", kReader).status, 403u);
  EXPECT_EQ(change("PATCH", "dev", "999", R"({"text": "x"})").status, 404u);
  auto typo = change("PATCH", "dev", id, R"({"txt": "x"})");
  EXPECT_EQ(typo.status, 400u);
  EXPECT_NE(typo.body.find("unknown field 'txt'"), std::string::npos) << typo.body;

  ASSERT_EQ(change("DELETE", "dev", id).status, 200u);
  auto gone = frame(*a).at("data").as_object();
  EXPECT_EQ(gone.at("id").as_string(), id);
  EXPECT_EQ(gone.at("deleted"), true);
  EXPECT_EQ(change("PATCH", "dev", id, R"({"text": "back"})").status, 410u);

  // The history has every revision in order, under cursors of their own.
  auto page = json::parse(get("/channels/dev/messages?limit=3").body).at("messages").as_array();
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].at("id").as_string(), id);
  EXPECT_EQ(page[1].at("edited"), true);
  EXPECT_EQ(page[2].at("deleted"), true);
  EXPECT_LT(std::stoull(std::string(page[0].at("cursor").as_string())),
            std::stoull(std::string(page[2].at("cursor").as_string())));
}

TEST_F(WebPlugTest, EditsAndDeletionsFromOtherNetworksReachWebClients) {
  auto a = connect("?channels=api/dev");
  ASSERT_EQ(frame(*a).at("stream"), "ready");
  Message m;
  m.text = RichText("relayed");
  auto first = std::make_shared<const Message>(std::move(m));
  auto receipts = test::run(e.io, e.host->send(e.api->channel("dev"), first));
  ASSERT_EQ(receipts.size(), 1u);
  EXPECT_EQ(next_text(*a), "relayed");
  Message changed;
  changed.text = RichText("relayed, corrected");
  changed.edited = true;
  auto edit = std::make_shared<const SentMessage>(receipts[0], std::move(changed));
  test::run(e.io, e.host->send(e.api->channel("dev"), edit));
  auto f = frame(*a).at("data").as_object();
  EXPECT_EQ(f.at("id").as_string(), receipts[0].id);
  EXPECT_EQ(f.at("plain"), "relayed, corrected");
  test::run(e.io, e.api->delete_message(receipts[0]));
  auto d = frame(*a).at("data").as_object();
  EXPECT_EQ(d.at("id").as_string(), receipts[0].id);
  EXPECT_EQ(d.at("deleted"), true);
}

// The web server's /metrics, as Prometheus scrapes it.
TEST_F(WebPlugTest, MetricsCountMessagesAndStreamClients) {
  auto scrape = [&] {
    net::HttpClient http(e.io.get_executor());
    auto r = test::run(e.io, http.get(e.web->base_url() + "/metrics"));
    EXPECT_EQ(r.status, 200u);
    EXPECT_NE(r.header("Content-Type")->find("text/plain; version=0.0.4"), std::string::npos);
    return r.body;
  };
  auto value = [](const std::string& body, const std::string& series) -> long {
    auto at = body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stol(body.substr(at + series.size() + 2));
  };
  const std::string in = R"(immp_messages_received_total{plug="net",channel=""})";
  const std::string posted = R"(immp_messages_received_total{plug="api",channel=""})";
  std::string before = scrape();
  long in_before = std::max(0L, value(before, in));
  long posted_before = std::max(0L, value(before, posted));
  auto ws = connect();
  ASSERT_EQ(frame(*ws).at("stream"), "ready");
  e.net->inject("#metrics", "counted");
  ASSERT_EQ(post("dev", R"({"text": "counted too"})").status, 201u);
  EXPECT_EQ(next_text(*ws), "counted");
  EXPECT_EQ(next_text(*ws), "counted too");
  std::string after = scrape();
  EXPECT_EQ(value(after, in), in_before + 1) << after;
  EXPECT_EQ(value(after, posted), posted_before + 1) << after;
  EXPECT_GE(value(after, "immp_stream_clients"), 1) << after;
  EXPECT_EQ(value(after, R"(immp_plug_up{plug="api",state="active"})"), 1) << after;
  EXPECT_NE(after.find("# TYPE immp_outbox_pending gauge\nimmp_outbox_pending "), std::string::npos);
  EXPECT_NE(after.find(R"(immp_outbox_total{outcome="delivered"} )"), std::string::npos);
}

TEST(WebMetrics, LabelValuesAreEscaped) {
  EXPECT_EQ(web::escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST_F(WebPlugTest, CurlPosts) {
  int code = -1;
  std::string out = test::curl(e.io, {"-X", "POST", "-H", std::string("Authorization: Bearer ") + kWriter,
                                      "-H", "Content-Type: application/json", "-d",
                                      R"({"text": "from curl"})", url("/channels/lobby/messages")},
                               &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(json::parse(out).at("receipts").at(0).at("channel"), "lobby") << out;
}

TEST_F(WebPlugTest, OpenApiDocumentIsServedAndMatchesTheRoutes) {
  std::ifstream in(std::string(IMMP_SOURCE_DIR) + "/docs/openapi.json");
  std::stringstream docs;
  docs << in.rdbuf();
  auto served = get("/openapi.json", "");
  ASSERT_EQ(served.status, 200u);
  EXPECT_EQ(json::parse(served.body), json::parse(docs.str()))
      << "re-run cmake after editing docs/openapi.json";
  std::set<std::pair<std::string, std::string>> documented;
  json::value doc = json::parse(docs.str());
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      if (method == "parameters") continue;
      std::string m(method);
      for (auto& c : m) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      documented.emplace(m, std::string(path));
    }
  }
  std::set<std::pair<std::string, std::string>> served_routes;
  for (const auto& r : WebPlug::routes()) served_routes.insert(r);
  EXPECT_EQ(documented, served_routes);
  // And each documented route answers (not 404).
  for (const auto& [method, path] : documented) {
    std::string p = path;
    auto brace = p.find("{channel}");
    if (brace != std::string::npos) p.replace(brace, 9, "lobby");
    if (method == "GET" && path != "/stream") {
      EXPECT_NE(get(p).status, 404u) << p;
    }
  }
}

TEST_F(WebPlugTest, ServesTheWebChatFilesAndNothingElse) {
  net::HttpClient http(e.io.get_executor());
  auto page = test::run(e.io, http.get(e.web->base_url() + "/chat"));
  EXPECT_EQ(page.status, 200u);
  ASSERT_NE(page.header("Content-Type"), nullptr);
  EXPECT_EQ(*page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("chat.js"), std::string::npos);
  auto js = test::run(e.io, http.get(e.web->base_url() + "/chat/chat.js"));
  EXPECT_EQ(js.status, 200u);
  EXPECT_EQ(*js.header("Content-Type"), "text/javascript; charset=utf-8");
  for (std::string bad : {"/chat/../CMakeLists.txt", "/chat/%2e%2e/chat/index.html",
                          "/chat/.hidden", "/chat/nothing.html"}) {
    auto r = test::run(e.io, test::raw_exchange(e.web->port(), "GET " + bad +
                                                                   " HTTP/1.1\r\nHost: x\r\n"
                                                                   "Connection: close\r\n\r\n"));
    EXPECT_EQ(test::status_of(r.reply), 404) << bad;
  }
}

// Stopping the plug (an admin's stop, a restart, immp shutting down) ends
// its stream clients cleanly while the web server still runs: a WebSocket
// client gets a close frame with its reason, an SSE response ends. Before,
// they stayed connected and got nothing until the server dropped them.
TEST(WebPlugStop, StreamClientsGetACleanEnd) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& web = test::add_hook<web::WebHook>(host, "web", "port: 0\n");
  auto& api =
      test::add_plug<WebPlug>(host, "api",
                              std::string("channels: [lobby]\ntokens: [{name: reader, token: ") +
                                  kReader + ", scopes: [read]}]\n");
  test::run(io, host.open());

  net::WebSocketOptions o;
  o.headers.emplace_back("Authorization", std::string("Bearer ") + kReader);
  net::WebSocket ws(io.get_executor(), o);
  test::run(io, ws.connect("ws" + web.base_url().substr(4) + "/api/v1/stream"));
  ASSERT_NE(test::run(io, ws.read()).data.find("\"ready\""), std::string::npos);
  std::string ws_end;
  bool ws_done = false;
  auto ws_reader = [&]() -> Task<> {
    try {
      for (;;) {
        auto m = co_await ws.read();
        (void)m;
      }
    } catch (const net::WebSocketError& e) {
      ws_end = e.what();
    }
    ws_done = true;
  };
  asio::co_spawn(io, ws_reader(), asio::detached);

  std::string request = "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                        std::string(kReader) + "\r\n\r\n";
  test::RawExchange sse;
  bool sse_done = false;
  auto sse_reader = [&]() -> Task<> {
    sse = co_await test::raw_exchange(web.port(), request);
    sse_done = true;
  };
  asio::co_spawn(io, sse_reader(), asio::detached);
  ASSERT_TRUE(test::run_until(io, [&] { return api.stream_clients() == 2; }));

  bool stopped = false;
  asio::co_spawn(io, host.stop("api"), [&](std::exception_ptr) { stopped = true; });
  ASSERT_TRUE(test::run_until(
      io, [&] { return stopped && ws_done && sse_done; }, 5s))
      << "stopped " << stopped << ", WebSocket ended " << ws_done << ", SSE ended " << sse_done;
  EXPECT_NE(ws_end.find("closed by the server, code 1000 (the server is stopping)"),
            std::string::npos)
      << ws_end;
  EXPECT_TRUE(sse.closed);
  EXPECT_NE(sse.reply.find("event: ready\n"), std::string::npos) << sse.reply;
  EXPECT_EQ(api.stream_clients(), 0u);
  EXPECT_NE(web.port(), 0);  // the web server itself still runs
  test::run(io, host.close());
}

// The stream's writes are shared between the host's thread and helper
// threads (`writers`): whatever their number, every client gets every
// event once and in order, across several slices of a round.
class WebPlugWriters : public ::testing::TestWithParam<int> {};

TEST_P(WebPlugWriters, EveryClientGetsEveryEventInOrder) {
  constexpr int kClients = 150;  // more than a slice of 64 per thread
  constexpr int kEvents = 40;
  asio::io_context io;
  Host host(io.get_executor());
  auto& web = test::add_hook<web::WebHook>(host, "web", "port: 0\n");
  auto& api = test::add_plug<WebPlug>(
      host, "api",
      "channels: [lobby]\nqueue: 1024\nwriters: " + std::to_string(GetParam()) +
          "\ntokens: [{name: reader, token: " + kReader + ", scopes: [read]}]\n");
  test::run(io, host.open());
  net::WebSocketOptions o;
  o.headers.emplace_back("Authorization", std::string("Bearer ") + kReader);
  std::vector<std::unique_ptr<net::WebSocket>> clients;
  std::vector<std::vector<std::string>> got(kClients);
  for (int c = 0; c < kClients; ++c) {
    clients.push_back(std::make_unique<net::WebSocket>(io.get_executor(), o));
    test::run(io, clients.back()->connect("ws" + web.base_url().substr(4) + "/api/v1/stream"));
    ASSERT_NE(test::run(io, clients.back()->read()).data.find("\"ready\""), std::string::npos);
  }
  auto reader = [](net::WebSocket& ws, std::vector<std::string>& out) -> Task<> {
    while (out.size() < kEvents) {
      auto m = co_await ws.read();
      out.push_back(std::string(json::parse(m.data).at("data").at("plain").as_string()));
    }
  };
  for (int c = 0; c < kClients; ++c)
    asio::co_spawn(io, reader(*clients[c], got[c]), asio::detached);
  // Events come while rounds are being written: some clients of a round
  // get one in it, the others in the next.
  auto publish = [&]() -> Task<> {
    asio::steady_timer pause(io);
    for (int i = 0; i < kEvents; ++i) {
      Message m;
      m.text = RichText("event " + std::to_string(i));
      auto sent = std::make_shared<const SentMessage>(
          Receipt{"e" + std::to_string(i), api.channel("lobby"), Clock::now(), {}, false},
          std::move(m));
      co_await web.stream().publish(sent);
      if (i % 8 == 7) {
        pause.expires_after(1ms);
        co_await pause.async_wait(asio::use_awaitable);
      }
    }
  };
  test::run(io, publish());
  ASSERT_TRUE(test::run_until(io, [&] {
    for (const auto& g : got) {
      if (g.size() < static_cast<std::size_t>(kEvents)) return false;
    }
    return true;
  }));
  for (int c = 0; c < kClients; ++c) {
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(got[c][i], "event " + std::to_string(i)) << c;
  }
  clients.clear();
  test::run(io, host.close());
}

INSTANTIATE_TEST_SUITE_P(Threads, WebPlugWriters, ::testing::Values(0, 1, 3));

// An event bigger than a socket's buffer cannot be written at once: the
// writer's part goes out, the connection's own writer sends the rest, and
// what comes after it follows in order.
TEST_F(WebPlugTest, AnEventBiggerThanTheSocketTakesArrivesWholeAndInOrder) {
  auto a = connect("?channels=net/%23big");
  ASSERT_EQ(frame(*a).at("stream"), "ready");
  std::string big(6 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096)
    big[i] = static_cast<char>('a' + i / 4096 % 26);
  auto publish = [&](std::string text, std::string id) -> Task<> {
    Message m;
    m.text = RichText(std::move(text));
    auto sent = std::make_shared<const SentMessage>(
        Receipt{std::move(id), e.net->channel("#big"), Clock::now(), {}, false}, std::move(m));
    co_await e.web->stream().publish(sent);
  };
  test::run(e.io, publish(big, "big"));
  test::run(e.io, publish("after", "after"));
  EXPECT_EQ(next_text(*a), big);
  EXPECT_EQ(next_text(*a), "after");
}

TEST(WebPlugConfig, TokensAndChannelsAreChecked) {
  asio::io_context io;
  Host host(io.get_executor());
  EXPECT_THROW(test::add_plug<WebPlug>(host, "a", "channels: [x]\ntokens: [{name: t, token: short}]"),
               ConfigError);
  EXPECT_THROW(test::add_plug<WebPlug>(host, "b",
                                       "channels: [x]\ntokens: [{name: t, token: "
                                       "0123456789abcdefgh, scopes: [admin]}]"),
               ConfigError);
  EXPECT_THROW(test::add_plug<WebPlug>(host, "c",
                                       "channels: [x]\ntokens: [{name: t, token: "
                                       "0123456789abcdefgh, channels: [y]}]"),
               ConfigError);
  EXPECT_THROW(test::add_plug<WebPlug>(host, "d", "channels: [x]\nwriters: -1"), ConfigError);
  EXPECT_THROW(test::add_plug<WebPlug>(host, "e", "channels: [x]\nwriters: 17"), ConfigError);
}

}  // namespace
}  // namespace immp::plugs
