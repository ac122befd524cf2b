#include "plugs/web/web_plug.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "bus/bus.hpp"
#include "core/message_json.hpp"
#include "immp/database.hpp"
#include "immp/host.hpp"
#include "plugs/web/stream_rounds.hpp"

namespace immp::plugs {

namespace json = boost::json;
using web::Request;
using web::Response;
using namespace asio::experimental::awaitable_operators;

// SHA-256 with the algorithm fetched once and one context reused:
// OpenSSL 3's one-shot SHA256() and EVP_Digest() fetch the algorithm on
// every call, which cost several times the digest (3 us against 0.6 us a
// token here).
class WebPlug::Digest {
 public:
  Digest() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {
    if (!md_ || !ctx_) throw std::runtime_error("OpenSSL has no SHA-256");
  }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  ~Digest() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  std::array<unsigned char, 32> operator()(std::string_view text) {
    std::array<unsigned char, 32> out{};
    unsigned int size = 0;
    if (EVP_DigestInit_ex2(ctx_, md_, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, text.data(), text.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, out.data(), &size) != 1 || size != out.size()) {
      throw std::runtime_error("SHA-256 failed");
    }
    return out;
  }

 private:
  EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

namespace {

// WebPlug::memo_owner_: one per plug made, never reused.
std::atomic<std::uint64_t> next_memo_owner{0};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= text.size()) {
    std::size_t j = text.find(',', i);
    if (j == std::string::npos) j = text.size();
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// A cursor as given by a client: digits only.
std::optional<std::uint64_t> parse_cursor(const std::string& text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string control(std::string_view kind, json::object o) {
  o["stream"] = kind;
  return json::serialize(o);
}

std::string sent_id(std::uint64_t seq) { return std::to_string(seq); }

template <typename Int>
void append_number(std::string& out, Int n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}

// How long the first event of a round of stream writes waits for more
// (StreamRounds): at least long enough to gather a burst, at most short
// beside a network's own latency.
constexpr std::chrono::microseconds kMinRoundWindow{500};
constexpr std::chrono::microseconds kMaxRoundWindow{8000};

// How long stop() waits for the stream clients to take their close.
constexpr std::chrono::seconds kStopGrace{2};

// The usual body, exactly {"text":"..."} with printable ASCII text and
// nothing escaped: its text, which is what a JSON parse of it gives.
// Anything else (spaces, escapes, other keys, other bytes): nullopt, and
// the JSON parser judges it.
std::optional<std::string_view> plain_text_body(std::string_view body) {
  constexpr std::string_view kStart = R"({"text":")";
  constexpr std::string_view kEnd = R"("})";
  if (body.size() < kStart.size() + kEnd.size() || !body.starts_with(kStart) ||
      !body.ends_with(kEnd)) {
    return std::nullopt;
  }
  std::string_view text = body.substr(kStart.size(), body.size() - kStart.size() - kEnd.size());
  for (char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return std::nullopt;
  }
  return text;
}

// `text` in JSON's quotes: as it is when nothing in it needs escaping.
void append_json_string(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
      out += json::serialize(json::string_view(text.data(), text.size()));
      return;
    }
  }
  out += '"';
  out += text;
  out += '"';
}

Response unauthorized() {
  Response r = Response::error(401, "a valid bearer token is needed (Authorization: Bearer ...)");
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace

SpecPtr WebPlug::schema() {
  auto token = object({
      {"name", str(), required, "who the token's messages come from, and the logs' name for it"},
      {"token", str(), required, "the secret, as clients send it after 'Bearer '"},
      {"scopes", list_of(str()), Node(NodeList{Node("read")}), "read, write or both"},
      {"channels", list_of(text()), Node(NodeList{}),
       "the channels (sources) it is for; empty: all of this plug's"},
  });
  return object({
      {"channels", list_of(text()), required, "the channels (sources) clients may post to"},
      {"tokens", list_of(token), Node(NodeList{}), "bearer tokens and what each may do"},
      {"route", str(), "/api/v1", "the path the API is served under"},
      {"queue", integer(), 1024,
       "events a stream client may fall behind by before it is told and disconnected"},
      {"history", integer(), 100, "most messages in one history page"},
      {"heartbeat", real(), 15.0, "seconds between keep-alive comments on an idle SSE stream"},
      {"writers", integer(), 0,
       "threads besides the host's that share the stream's writes to WebSocket clients (for a "
       "machine with cores to spare: each write costs microseconds in the kernel)"},
      {"chat", str(), Node(), "a folder of static files served at /chat/ (the web chat: web/chat)"},
  });
}

std::vector<std::pair<std::string, std::string>> WebPlug::routes() {
  return {
      {"POST", "/channels/{channel}/messages"},
      {"GET", "/channels/{channel}/messages"},
      {"PATCH", "/channels/{channel}/messages/{id}"},
      {"DELETE", "/channels/{channel}/messages/{id}"},
      {"GET", "/channels"},
      {"GET", "/stream"},
      {"GET", "/openapi.json"},
  };
}

WebPlug::WebPlug(const Init& init)
    : Plug(init),
      prefix_(config().at("route").as_string()),
      queue_(static_cast<std::size_t>(config().at("queue").as_int())),
      page_(static_cast<std::size_t>(config().at("history").as_int())),
      heartbeat_(static_cast<long>(config().at("heartbeat").as_double() * 1000)),
      writers_(static_cast<std::size_t>(config().at("writers").as_int())),
      digest_(std::make_unique<Digest>()),
      memo_owner_(++next_memo_owner),
      stopping_signal_(host().executor()),
      clients_left_(host().executor()),
      tasks_(host().executor(), log()) {
  features_.echo = true;
  features_.edit = true;
  features_.remove = true;
  features_.reply = true;
  features_.rich = true;
  features_.markup = Markup::plain;
  for (const Node& c : config().at("channels").as_list()) {
    std::string source = c.as_text();
    if (source.empty() || source.find('/') != std::string::npos) {
      c.fail("a channel name must be non-empty and without '/'");
    }
    if (has_channel(source)) c.fail("channel '" + source + "' is listed twice");
    channels_.push_back(std::move(source));
  }
  for (const Node& t : config().at("tokens").as_list()) {
    Token token;
    token.name = t.at("name").as_string();
    const std::string& secret = t.at("token").as_string();
    if (secret.size() < 16) t.at("token").fail("too short: use at least 16 random characters");
    token.digest = (*digest_)(secret);
    for (const Node& s : t.at("scopes").as_list()) {
      if (s.as_string() == "read") {
        token.read = true;
      } else if (s.as_string() == "write") {
        token.write = true;
      } else {
        s.fail("unknown scope '" + s.as_string() + "' (read or write)");
      }
    }
    for (const Node& c : t.at("channels").as_list()) {
      if (!has_channel(c.as_text())) {
        c.fail("no channel '" + c.as_text() + "' in this plug's channels");
      }
      token.channels.push_back(c.as_text());
    }
    tokens_.push_back(std::move(token));
  }
  if (prefix_.empty() || prefix_.front() != '/') config().at("route").fail("must start with '/'");
  while (prefix_.size() > 1 && prefix_.back() == '/') prefix_.pop_back();
  if (queue_ == 0) config().at("queue").fail("must be more than 0");
  if (page_ == 0) config().at("history").fail("must be more than 0");
  if (heartbeat_.count() <= 0) config().at("heartbeat").fail("must be more than 0 seconds");
  if (config().at("writers").as_int() < 0 || config().at("writers").as_int() > 16) {
    config().at("writers").fail("must be 0 to 16");
  }
  if (const Node* chat = config().find("chat"); chat && !chat->is_null()) {
    std::filesystem::path dir(chat->as_string());
    if (dir.is_relative()) dir = host().options().base_dir / dir;
    if (!std::filesystem::is_regular_file(dir / "index.html")) {
      chat->fail("no index.html in " + dir.string());
    }
    chat_dir_ = dir;
  }
}

WebPlug::~WebPlug() = default;

Task<> WebPlug::start() {
  stopping_ = false;
  web_ = &host().resource<web::WebHook>(*this);
  // Cursors (message ids) keep rising across restarts, with or without a
  // database: they start from the time in microseconds.
  seq_ = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        Clock::now().time_since_epoch())
                                        .count());
  try {
    db_ = &host().resource<Database>(*this);
  } catch (const MissingResource&) {
    db_ = nullptr;
    log()->info("no database resource: history is not kept");
  }
  if (db_) {
    // Bound first: GCC 12 mishandles temporaries in a co_await's operands.
    std::vector<std::string> steps{
        "CREATE TABLE web_messages (plug TEXT NOT NULL, seq BIGINT NOT NULL, channel TEXT NOT "
        "NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (plug, seq))"};
    co_await db_->migrate("web", std::move(steps));
    std::vector<sql::Value> params{name()};
    auto rows = co_await db_->query("SELECT MAX(seq) FROM web_messages WHERE plug = ?",
                                    std::move(params));
    if (!rows.empty() && !rows[0].empty() && !sql::is_null(rows[0][0])) {
      seq_ = std::max(seq_, static_cast<std::uint64_t>(sql::as_int(rows[0][0])));
    }
  }
  web_->stream();  // the stream is kept from now on, for clients that resume
  if (!rounds_) {
    rounds_ = std::make_unique<StreamRounds>(*web_, kMinRoundWindow, kMaxRoundWindow, writers_);
  }
  tasks_.spawn("stream rounds", rounds_->run());
  auto bind = [this](auto fn) {
    return [this, fn](Request& r) -> Task<Response> { return (this->*fn)(r); };
  };
  routes_.emplace_back(*web_, "POST", prefix_ + "/channels/{channel}/messages",
                       bind(&WebPlug::post_message));
  routes_.emplace_back(*web_, "GET", prefix_ + "/channels/{channel}/messages",
                       bind(&WebPlug::get_history));
  routes_.emplace_back(*web_, "PATCH", prefix_ + "/channels/{channel}/messages/{id}",
                       [this](Request& r) { return change_message(r, false); });
  routes_.emplace_back(*web_, "DELETE", prefix_ + "/channels/{channel}/messages/{id}",
                       [this](Request& r) { return change_message(r, true); });
  routes_.emplace_back(*web_, "GET", prefix_ + "/channels", bind(&WebPlug::get_channels));
  routes_.emplace_back(*web_, "GET", prefix_ + "/stream", bind(&WebPlug::get_stream),
                       [this](Request& r, web::WebSocketSession& s) { return run_socket(r, s); });
  routes_.emplace_back(*web_, "GET", prefix_ + "/openapi.json", [](Request&) -> Task<Response> {
    co_return Response::json(200, std::string(openapi()));
  });
  if (!chat_dir_.empty()) {
    routes_.emplace_back(*web_, "GET", "/chat/*", [this](Request& r) -> Task<Response> {
      co_return serve_chat(r);
    });
  }
  log()->info("API at {}{}", web_->base_url(), prefix_);
}

Task<> WebPlug::stop() {
  // No new clients; the connected ones end while the rounds still run
  // (their close frames go out behind what is queued), and get a moment
  // for it: a slow one is cut off when the web server closes.
  routes_.clear();
  stopping_ = true;
  stopping_signal_.notify();
  asio::steady_timer timer(host().executor());
  timer.expires_after(kStopGrace);
  while (stream_clients_ > 0 && std::chrono::steady_clock::now() < timer.expiry()) {
    auto left = clients_left_.wait() || timer.async_wait(asio::use_awaitable);
    co_await std::move(left);
  }
  co_await tasks_.stop();
}

bool WebPlug::has_channel(const std::string& source) const {
  return std::find(channels_.begin(), channels_.end(), source) != channels_.end();
}

bool WebPlug::may_use(const Token& token, const std::string& source) const {
  return token.channels.empty() ||
         std::find(token.channels.begin(), token.channels.end(), source) != token.channels.end();
}

const WebPlug::Token* WebPlug::authenticate(const Request& request) const {
  std::string_view presented;
  std::optional<std::string> query;
  if (const std::string* h = request.header("Authorization")) {
    if (h->size() > 7 && (h->compare(0, 7, "Bearer ") == 0 || h->compare(0, 7, "bearer ") == 0)) {
      presented = std::string_view(*h).substr(7);
    }
  } else if ((query = request.query_param("access_token"))) {
    presented = *query;
  }
  if (presented.empty()) return nullptr;
  // The connection's last bearer, when it is this one again: the token it
  // was found to be, without the digest (a keep-alive client sends the
  // same bearer with every request). What is compared is what this
  // connection sent itself, so the comparison says nothing about the
  // tokens; a bearer that matched none is digested every time.
  web::ConnectionMemo* memo = request.memo;
  if (memo && memo->owner == memo_owner_ && memo->key.size() == presented.size() &&
      CRYPTO_memcmp(memo->key.data(), presented.data(), presented.size()) == 0) {
    return &tokens_[memo->value];
  }
  auto digest = (*digest_)(presented);
  // Every token is compared, in constant time each: neither the time nor
  // the path taken says how close a guess was.
  const Token* found = nullptr;
  for (const Token& t : tokens_) {
    bool same = CRYPTO_memcmp(t.digest.data(), digest.data(), digest.size()) == 0;
    if (same && !found) found = &t;
  }
  if (found && memo) {
    memo->owner = memo_owner_;
    memo->key.assign(presented);
    memo->value = static_cast<std::size_t>(found - tokens_.data());
  }
  return found;
}

void WebPlug::emit(SentPtr sent, std::uint64_t seq) {
  if (db_) {
    db_->write("INSERT INTO web_messages (plug, seq, channel, id, body) VALUES (?, ?, ?, ?, ?)",
               {name(), static_cast<std::int64_t>(seq), sent->channel.source, sent->id,
                json::serialize(sent_to_json(*sent))});
  }
  queue(std::move(sent));
}

Task<PutResult> WebPlug::put(Posting& post) {
  if (!has_channel(post.channel().source)) {
    co_return PutResult::failed("no channel '" + post.channel().source + "' on this web plug");
  }
  // No network behind it: what is put is what web clients see, through
  // the stream and the history. An edit keeps the id it changes; every
  // revision has a cursor of its own.
  std::uint64_t seq = next_seq();
  std::string id = std::to_string(seq);
  const auto* sent = dynamic_cast<const SentMessage*>(post.message().get());
  if (post.message()->edited && sent && !sent->id.empty()) id = sent->id;
  post.announce(id);
  emit(std::make_shared<const SentMessage>(
           Receipt{id, post.channel(), Clock::now(), id == sent_id(seq) ? "" : sent_id(seq), false},
           Message(*post.message())),
       seq);
  post.sent();
  co_return PutResult::delivered();
}

Task<> WebPlug::delete_message(const Receipt& receipt) {
  if (!has_channel(receipt.channel.source)) co_return;
  std::uint64_t seq = next_seq();
  Message gone;
  gone.deleted = true;
  emit(std::make_shared<const SentMessage>(
           Receipt{receipt.id, receipt.channel, Clock::now(), sent_id(seq), true},
           std::move(gone)),
       seq);
}

Task<std::vector<Channel>> WebPlug::public_channels() {
  std::vector<Channel> out;
  for (const auto& s : channels_) out.push_back(channel(s));
  co_return out;
}

Task<std::optional<bool>> WebPlug::channel_is_private(const Channel&) { co_return false; }

Task<std::optional<std::string>> WebPlug::channel_title(const Channel& c) {
  co_return c.source;
}

// ---- POST /channels/{channel}/messages ------------------------------------

Task<Response> WebPlug::post_message(Request& r) { co_return post_now(r); }

std::optional<Response> WebPlug::refuse_channel(const web::Request& r, const Token* token,
                                                bool write) const {
  if (!token) return unauthorized();
  const std::string& source = r.params.at("channel");
  if (write ? !token->write : !token->read) {
    return Response::error(403, write ? "this token may not write" : "this token may not read");
  }
  if (!has_channel(source)) return Response::error(404, "no channel '" + source + "'");
  if (!may_use(*token, source)) {
    return Response::error(403, "this token may not use channel '" + source + "'");
  }
  return std::nullopt;
}

std::optional<Response> WebPlug::read_body(const std::string& text, const std::string& source,
                                           Message& msg, User& user) {
  boost::system::error_code ec;
  // The parsed body lives in this frame's buffer (spilling to the heap
  // only when big): it is read here and dropped.
  unsigned char scratch[2048];
  json::monotonic_resource memory(scratch, sizeof scratch);
  json::value body = json::parse(text, ec, &memory);
  if (ec) return Response::error(400, "the body is not JSON: " + ec.message());
  if (!body.is_object()) return Response::error(400, "the body must be a JSON object");
  const json::object& o = body.as_object();
  static const std::vector<std::string> kKeys = {"text", "action", "author", "reply_to",
                                                 "attachments"};
  for (const auto& kv : o) {
    std::string_view key = kv.key();
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      auto near = nearest(std::string(key), kKeys);
      return Response::error(400, "unknown field '" + std::string(key) + "'" +
                                         (near ? " (did you mean '" + *near + "'?)" : ""));
    }
  }

  if (const auto* t = o.if_contains("text"); t && t->is_string()) {
    msg.text = RichText(std::string(t->as_string()));  // what message_from_json makes of it
  } else if (t) {
    json::object probe{{"text", *t}};
    if (auto e = bus::check_message(probe, "body")) return Response::error(400, e->str());
    msg.text = message_from_json(probe, host()).text;
  }
  if (const auto* a = o.if_contains("action")) {
    if (!a->is_bool()) return Response::error(400, "body.action: expected a boolean");
    msg.action = a->as_bool();
  }
  if (const auto* a = o.if_contains("author")) {
    if (!a->is_object()) return Response::error(400, "body.author: expected an object");
    for (const auto& kv : a->as_object()) {
      if (!kv.value().is_string()) {
        return Response::error(400, "body.author." + std::string(kv.key()) +
                                           ": expected a string");
      }
      std::string v(kv.value().as_string());
      if (kv.key() == "name") {
        if (!v.empty()) user.real_name = v;
      } else if (kv.key() == "avatar") {
        user.avatar = v;
      } else {
        return Response::error(400, "body.author: unknown field '" + std::string(kv.key()) +
                                           "' (name, avatar)");
      }
    }
  }
  if (const auto* rt = o.if_contains("reply_to")) {
    if (!rt->is_string()) return Response::error(400, "body.reply_to: expected a message id");
    auto to = std::make_shared<SentMessage>();
    to->id = std::string(rt->as_string());
    to->channel = channel(source);
    msg.reply_to = std::move(to);
  }
  if (const auto* atts = o.if_contains("attachments")) {
    if (!atts->is_array()) return Response::error(400, "body.attachments: expected a list");
    std::size_t i = 0;
    for (const auto& item : atts->as_array()) {
      std::string where = "body.attachments[" + std::to_string(i++) + "]";
      if (!item.is_object()) return Response::error(400, where + ": expected an object");
      File f;
      for (const auto& kv : item.as_object()) {
        if (!kv.value().is_string()) {
          return Response::error(400, where + "." + std::string(kv.key()) +
                                             ": expected a string");
        }
        std::string v(kv.value().as_string());
        if (kv.key() == "url") {
          f.url = v;
        } else if (kv.key() == "title") {
          f.title = v;
        } else if (kv.key() == "mime") {
          f.mime = v;
        } else if (kv.key() == "kind") {
          if (v == "image") {
            f.type = File::Type::image;
          } else if (v == "video") {
            f.type = File::Type::video;
          } else if (v == "audio") {
            f.type = File::Type::audio;
          } else if (v != "file") {
            return Response::error(400, where + ".kind: file, image, video or audio");
          }
        } else {
          return Response::error(400, where + ": unknown field '" + std::string(kv.key()) +
                                             "' (url, title, mime, kind)");
        }
      }
      if (f.url.rfind("https://", 0) != 0 && f.url.rfind("http://", 0) != 0) {
        return Response::error(400, where + ".url: expected an http(s) URL");
      }
      if (f.type == File::Type::unknown && f.mime.rfind("image/", 0) == 0) {
        f.type = File::Type::image;
      }
      msg.attachments.emplace_back(std::move(f));
    }
  }
  return std::nullopt;
}

// Not a coroutine: nothing here waits (and GCC 12 misjudges big coroutine
// frames with -Wmismatched-new-delete).
Response WebPlug::post_now(Request& r) {
  const Token* token = authenticate(r);
  if (auto refused = refuse_channel(r, token, true)) return std::move(*refused);
  const std::string& source = r.params.at("channel");
  Message msg;
  auto user = std::make_shared<User>();
  user->id = token->name;
  user->handle = handle();
  user->username = token->name;
  user->real_name = token->name;
  if (auto text = plain_text_body(r.body)) {
    msg.text = RichText(std::string(*text));  // what the JSON would give
  } else if (auto refused = read_body(r.body, source, msg, *user)) {
    return std::move(*refused);
  }
  msg.user = std::move(user);
  if ((!msg.text || msg.text->empty()) && msg.attachments.empty()) {
    return Response::error(400, "a message needs text or attachments");
  }

  std::uint64_t cursor = next_seq();
  std::string id = sent_id(cursor);
  auto at = Clock::now();
  auto sent = std::make_shared<const SentMessage>(Receipt{id, channel(source), at, {}, false},
                                                  std::move(msg));
  emit(std::move(sent), cursor);
  // Appended, not built as a JSON tree nor formatted: ids and cursors are
  // digits, the channel is quoted by JSON's own rules.
  std::string answer = R"({"receipts":[{"id":")";
  answer += id;
  answer += R"(","channel":)";
  append_json_string(answer, source);
  answer += R"(,"at":)";
  append_number(
      answer, std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count());
  answer += R"(}],"cursor":")";
  answer += id;  // the cursor, as digits
  answer += R"("})";
  return Response::json(201, std::move(answer));
}

// ---- GET /channels/{channel}/messages -------------------------------------

Task<Response> WebPlug::get_history(Request& r) {
  const Token* token = authenticate(r);
  if (auto refused = refuse_channel(r, token, false)) co_return std::move(*refused);
  const std::string& source = r.params.at("channel");
  std::optional<std::uint64_t> after;
  if (auto a = r.query_param("after")) {
    after = parse_cursor(*a);
    if (!after) co_return Response::error(400, "after: expected a cursor (digits)");
  }
  std::size_t limit = page_;
  if (auto l = r.query_param("limit")) {
    auto n = parse_cursor(*l);
    if (!n || *n == 0) co_return Response::error(400, "limit: expected a positive number");
    limit = std::min<std::size_t>(limit, *n);
  }
  if (!db_) {
    co_return Response::error(501, "no history: add immp.hook.database.DatabaseHook under hooks");
  }
  sql::Rows rows;
  if (after) {
    std::vector<sql::Value> params{name(), source, static_cast<std::int64_t>(*after),
                                   static_cast<std::int64_t>(limit)};
    rows = co_await db_->query(
        "SELECT seq, body FROM web_messages WHERE plug = ? AND channel = ? AND seq > ? "
        "ORDER BY seq LIMIT ?",
        std::move(params));
  } else {
    std::vector<sql::Value> params{name(), source, static_cast<std::int64_t>(limit)};
    rows = co_await db_->query(
        "SELECT seq, body FROM web_messages WHERE plug = ? AND channel = ? ORDER BY seq DESC "
        "LIMIT ?",
        std::move(params));
    std::reverse(rows.begin(), rows.end());
  }
  json::array messages;
  std::string cursor = after ? std::to_string(*after) : "0";
  for (const auto& row : rows) {
    json::value m = json::parse(sql::as_text(row[1]));
    cursor = std::to_string(sql::as_int(row[0]));
    m.as_object()["cursor"] = cursor;
    messages.push_back(std::move(m));
  }
  json::object out{{"messages", std::move(messages)}, {"cursor", cursor}};
  co_return Response::json(200, json::serialize(out));
}

// ---- PATCH, DELETE /channels/{channel}/messages/{id} ------------------------

Task<Response> WebPlug::change_message(Request& r, bool deleting) {
  const Token* token = authenticate(r);
  if (auto refused = refuse_channel(r, token, true)) co_return std::move(*refused);
  if (!db_) {
    co_return Response::error(
        501, "no history to find the message in: add immp.hook.database.DatabaseHook under hooks");
  }
  std::vector<sql::Value> params{name(), r.params.at("channel"), r.params.at("id")};
  auto rows = co_await db_->query(
      "SELECT body FROM web_messages WHERE plug = ? AND channel = ? AND id = ? "
      "ORDER BY seq DESC LIMIT 1",
      std::move(params));
  if (rows.empty()) {
    co_return Response::error(404, "no message '" + r.params.at("id") + "' in channel '" +
                                       r.params.at("channel") + "'");
  }
  co_return change_now(r, *token, sql::as_text(rows[0][0]), deleting);
}

// `last` is the message's latest revision in the history, as JSON.
Response WebPlug::change_now(Request& r, const Token& token, const std::string& last,
                             bool deleting) {
  const std::string& source = r.params.at("channel");
  const std::string& id = r.params.at("id");
  json::value before = json::parse(last);
  const json::object& b = before.as_object();
  if (b.contains("deleted")) return Response::error(410, "message '" + id + "' was deleted");
  // Only the token that posted a message may change it: users of other
  // networks (relayed here) and other tokens may not.
  const json::object* user = b.contains("user") ? b.at("user").if_object() : nullptr;
  auto is = [&](const char* key, const std::string& value) {
    return user && user->contains(key) && user->at(key).is_string() &&
           user->at(key).as_string() == value;
  };
  if (!is("plug", name()) || !is("id", token.name)) {
    return Response::error(403, "only the token that posted message '" + id + "' may change it");
  }
  Message msg = message_from_json(before, host());
  msg.edited = false;
  if (deleting) {
    msg.text.reset();
    msg.attachments.clear();
    msg.deleted = true;
  } else {
    boost::system::error_code ec;
    json::value body = json::parse(r.body, ec);
    if (ec) return Response::error(400, "the body is not JSON: " + ec.message());
    if (!body.is_object()) return Response::error(400, "the body must be a JSON object");
    for (const auto& kv : body.as_object()) {
      if (kv.key() != "text") {
        return Response::error(400, "unknown field '" + std::string(kv.key()) + "' (text)");
      }
    }
    const json::value* t = body.as_object().if_contains("text");
    if (!t) return Response::error(400, "body.text: an edit needs the new text");
    json::object probe{{"text", *t}};
    if (auto e = bus::check_message(probe, "body")) return Response::error(400, e->str());
    msg.text = message_from_json(probe, host()).text;
    if (!msg.text || msg.text->empty()) return Response::error(400, "body.text: empty");
    msg.edited = true;
  }
  std::uint64_t cursor = next_seq();
  auto at = Clock::now();
  auto sent = std::make_shared<const SentMessage>(
      Receipt{id, channel(source), at, sent_id(cursor), deleting}, std::move(msg));
  emit(std::move(sent), cursor);
  json::object receipt{
      {"id", id},
      {"channel", source},
      {"at", std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count()}};
  json::object out{{"receipts", json::array{receipt}}, {"cursor", std::to_string(cursor)}};
  return Response::json(200, json::serialize(out));
}

Task<Response> WebPlug::get_channels(Request& r) {
  const Token* token = authenticate(r);
  if (!token) co_return unauthorized();
  if (!token->read) co_return Response::error(403, "this token may not read");
  json::array list;
  for (const auto& s : channels_) {
    if (!may_use(*token, s)) continue;
    list.push_back(json::object{{"channel", s}, {"stream", name() + "/" + s}});
  }
  co_return Response::json(200, json::serialize(json::object{{"channels", std::move(list)}}));
}

// ---- the web chat's files ---------------------------------------------------

Response WebPlug::serve_chat(Request& r) const {
  std::string rel = r.params.at("*");
  if (rel.empty() && (r.path.empty() || r.path.back() != '/')) {
    // The page's relative links need the folder's slash.
    Response moved = Response::text(301, "");
    moved.headers.emplace_back("Location", r.path + "/");
    return moved;
  }
  if (rel.empty()) rel = "index.html";
  // Plain names only: no "..", no hidden files, nothing outside the folder.
  for (std::size_t i = 0; i < rel.size(); ++i) {
    char c = rel[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
              (c == '.' && i > 0 && rel[i - 1] != '/' && rel[i - 1] != '.') ||
              (c == '/' && i > 0 && rel[i - 1] != '/');
    if (!ok) return Response::error(404, "no such file");
  }
  std::ifstream in(chat_dir_ / rel, std::ios::binary);
  if (!in) return Response::error(404, "no such file");
  std::ostringstream body;
  body << in.rdbuf();
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
      {".png", "image/png"},                 {".json", "application/json"},
  };
  Response res = Response::text(200, body.str());
  res.content_type = "application/octet-stream";
  for (auto [ext, type] : kTypes) {
    if (rel.size() > ext.size() && rel.compare(rel.size() - ext.size(), ext.size(), ext) == 0) {
      res.content_type = std::string(type);
    }
  }
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Cache-Control", "no-cache");
  res.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; connect-src 'self' ws: wss:; img-src * data:");
  return res;
}

// ---- the stream -------------------------------------------------------------

namespace {

struct Opened {
  bus::SubscriberPtr sub;
  std::optional<Response> error;
  std::uint64_t cursor = 0;  // where the client is: its `since`, or now
  std::uint64_t missed = 0;  // asked to resume from before the kept events
};

}  // namespace

// Subscribes the client a request is from: its token, filter and cursor.
static Opened open_stream(const Request& r, const WebPlug::Token* token, const std::string& plug,
                          const Host& host, web::WebHook& web, std::size_t capacity) {
  Opened out;
  if (!token) {
    out.error = unauthorized();
    return out;
  }
  if (!token->read) {
    out.error = Response::error(403, "this token may not read");
    return out;
  }
  json::object filter;
  auto list_param = [&](const char* key) {
    if (auto v = r.query_param(key)) {
      json::array a;
      for (auto& item : split_list(*v)) a.emplace_back(item);
      if (!a.empty()) filter[key] = std::move(a);
    }
  };
  list_param("channels");
  list_param("groups");
  list_param("kinds");
  if (!token->channels.empty()) {
    // A token for some channels sees only those, whatever it asks.
    json::array allowed;
    for (const auto& s : token->channels) allowed.emplace_back(plug + "/" + s);
    if (auto* asked = filter.if_contains("channels")) {
      for (const auto& c : asked->as_array()) {
        auto ch = bus::resolve_source(host, c.as_string());
        if (!ch || ch->plug() != host.plug(plug) ||
            std::find(token->channels.begin(), token->channels.end(), ch->source) ==
                token->channels.end()) {
          out.error = Response::error(
              403, "this token may not read channel '" + std::string(c.as_string()) + "'");
          return out;
        }
      }
    } else {
      filter["channels"] = std::move(allowed);
    }
  }
  bus::Filter f;
  if (auto e = bus::Filter::parse(filter, "query", host, f)) {
    out.error = Response::error(400, e->str());
    return out;
  }
  std::optional<std::uint64_t> since;
  std::optional<std::string> given = r.query_param("since");
  if (!given) {
    if (const std::string* h = r.header("Last-Event-ID")) given = *h;
  }
  if (given) {
    since = parse_cursor(*given);
    if (!since) {
      out.error = Response::error(400, "since: expected a cursor (digits)");
      return out;
    }
  }
  bus::Bus& bus = web.stream();
  bus::SubscriberOptions o;
  o.name = "web " + token->name + " " + r.remote;
  o.filter = std::move(f);
  o.capacity = capacity;
  o.overflow = Overflow::disconnect;
  o.own_events = true;
  std::uint64_t now = bus.last_seq();
  if (since && *since > now) since = now;  // a cursor of a previous run: from now
  o.since = since;
  // Room for the replay on top of the queue: a client resuming after a
  // lag must not lag again on what it missed.
  if (since) o.capacity += static_cast<std::size_t>(std::min<std::uint64_t>(now - *since, 1000000));
  out.cursor = since.value_or(now);
  out.sub = bus.subscribe(std::move(o));
  out.missed = out.sub->take_missed();
  return out;
}

Task<Response> WebPlug::get_stream(Request& r) {
  Opened opened = open_stream(r, authenticate(r), name(), host(), *web_, queue_);
  if (opened.error) co_return std::move(*opened.error);
  Response res;
  res.content_type = "text/event-stream";
  res.headers.emplace_back("X-Accel-Buffering", "no");
  res.stream = [this, opened](web::EventStream& out) -> Task<> {
    ++stream_clients_;
    Leave leave{*this};
    bus::Subscriber& sub = *opened.sub;
    std::uint64_t cursor = opened.cursor;
    auto frame = [](std::string_view event, std::string_view data) {
      return fmt::format("event: {}\ndata: {}\n\n", event, data);
    };
    std::string hello = frame("ready", control("ready", {{"cursor", std::to_string(cursor)}}));
    if (!co_await out.write(hello)) co_return;
    if (opened.missed) {
      std::string gap = frame("gap", control("gap", {{"missed", opened.missed},
                                                     {"cursor", std::to_string(cursor)}}));
      if (!co_await out.write(gap)) co_return;
    }
    asio::steady_timer timer(host().executor());
    for (;;) {
      // Stopping: the response ends here, which EventSource reports as an
      // error and reconnects from Last-Event-ID.
      if (stopping_) co_return;
      if (sub.queue().empty() && !sub.queue().closed()) {
        timer.expires_after(heartbeat_);
        auto woke =
            sub.queue().wait() || timer.async_wait(asio::use_awaitable) || stopping_signal_.wait();
        co_await std::move(woke);
        if (stopping_) co_return;
        if (sub.queue().empty() && !sub.queue().closed()) {
          if (!co_await out.write(": keep-alive\n\n")) co_return;
          continue;
        }
      }
      if (sub.queue().closed()) {
        std::string lag = frame(
            "lagged", control("lagged", {{"cursor", std::to_string(cursor)},
                                         {"reason", "the client fell behind; resume from cursor"}}));
        co_await out.write(lag);
        co_return;
      }
      std::string batch;
      while (auto e = sub.queue().try_pop()) {
        const bus::Event& ev = **e;
        batch += fmt::format("id: {}\nevent: {}\ndata: {}\n\n", ev.seq, ev.type,
                             bus::envelope_line(ev));
        cursor = ev.seq;
      }
      if (!co_await out.write(batch)) co_return;
    }
  };
  co_return res;
}

Task<> WebPlug::run_socket(Request& r, web::WebSocketSession& s) {
  Opened opened = open_stream(r, authenticate(r), name(), host(), *web_, queue_);
  if (opened.error) {
    co_await s.send(opened.error->body);
    co_await s.close(opened.error->body, true);
    co_return;
  }
  ++stream_clients_;
  Leave leave{*this};
  bus::Subscriber& sub = *opened.sub;
  std::string hello = control("ready", {{"cursor", std::to_string(opened.cursor)}});
  if (!co_await s.send(hello)) co_return;
  if (opened.missed) {
    std::string gap =
        control("gap", {{"missed", opened.missed}, {"cursor", std::to_string(opened.cursor)}});
    if (!co_await s.send(gap)) co_return;
  }
  // The rounds write its events; this waits for the end.
  StreamRounds::Client client(sub, s, opened.cursor, host().executor());
  StreamRounds::Member member(*rounds_, client);
  // The client says nothing we need; reading notices when it leaves.
  auto reader = [&]() -> Task<> {
    while (co_await s.read()) {
    }
  };
  auto ended = [&]() -> Task<> {
    while (!client.done) co_await client.ended.wait();
    if (!sub.queue().closed()) co_return;  // the connection is gone
    std::string lag = control("lagged", {{"cursor", std::to_string(client.cursor)},
                                         {"reason", "the client fell behind; resume from cursor"}});
    co_await s.send(lag);
    co_await s.close("lagged", true);
  };
  // Stopping: a close frame after what is already queued.
  auto stopped = [&]() -> Task<> {
    while (!stopping_) co_await stopping_signal_.wait();
    co_await s.close("the server is stopping");
  };
  auto all = reader() || ended() || stopped();
  co_await std::move(all);
}

}  // namespace immp::plugs
