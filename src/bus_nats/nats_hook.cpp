#include "bus_nats/nats_hook.hpp"

#include <nats/nats.h>

#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "bus/envelope.hpp"
#include "core/message_json.hpp"
#include "core/outbox.hpp"
#include "immp/queue.hpp"
#include "immp/tasks.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for coroutine frames that
// Asio's awaitable_frame_base allocates and frees itself: a false report
// (as in runner/runner.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::bus_nats {

namespace json = boost::json;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::int64_t kNanos = 1000000000;
constexpr const char* kMsgId = "Nats-Msg-Id";
constexpr const char* kRelayedHeader = "Immp-Relayed";
// Bridged ids remembered for dedupe: more than JetStream redelivers at once.
constexpr std::size_t kRecentIds = 200000;
// Edits, deletes and reactions kept while their message waits in its outbox.
constexpr std::size_t kDeferredLimit = 10000;
// Bridged messages kept per bridge while its channel's outbox is full.
constexpr std::size_t kBacklogLimit = 200000;

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

std::string status_text(natsStatus s) {
  std::string out = natsStatus_GetText(s);
  natsStatus last_status = NATS_OK;
  const char* last = nats_GetLastError(&last_status);
  if (last && *last && out != last) out += std::string(" (") + last + ")";
  return out;
}

std::string header(natsMsg* m, const char* key) {
  const char* v = nullptr;
  if (natsMsgHeader_Get(m, key, &v) == NATS_OK && v) return v;
  return {};
}

std::uint32_t fnv(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

// The ids of bridged messages seen lately (a consumer-side dedupe: a
// JetStream redelivery, a publish retried after a lost ack), kept as
// 64-bit hashes: no allocation per id, and a collision among 200,000
// recent ids is not to be expected.
class RecentIds {
 public:
  bool contains(std::string_view id) const { return set_.count(hash(id)) != 0; }
  void insert(std::string_view id) {
    std::uint64_t h = hash(id);
    if (!set_.insert(h).second) return;
    order_.push_back(h);
    if (order_.size() > kRecentIds) {
      set_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  static std::uint64_t hash(std::string_view id) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
    for (char c : id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    return h;
  }
  std::unordered_set<std::uint64_t> set_;
  std::deque<std::uint64_t> order_;
};

// Where the bridged messages went: the remote message (its bridge and its
// id on the other host's network) -> the ids of its copies in the bridge's
// channel, so that its edits, deletes, reactions and replies reach them.
// Keyed by a 64-bit hash (no string kept or compared per message), filled
// from the host's delivery receipts, whose origin tag names the remote
// message. Bounded: the oldest remote messages are forgotten first.
class CopyMap {
 public:
  struct Copies {
    std::string first;
    std::vector<std::string> rest;  // the other parts (a long text split in lines)
  };
  // The origin tag of the post that copies `remote_id` of bridge `bridge`.
  static std::string tag(std::size_t bridge, std::string_view remote_id) {
    std::string t = std::to_string(bridge);
    t += ' ';
    t += remote_id;
    return t;
  }
  static std::uint64_t key(std::size_t bridge, std::string_view remote_id) {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
    auto mix = [&h](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
    for (std::size_t b = bridge;; b >>= 8) {
      mix(static_cast<unsigned char>(b & 0xff));
      if (b < 256) break;
    }
    mix(0);
    for (char c : remote_id) mix(static_cast<unsigned char>(c));
    return h;
  }
  // The key a tag() names (nullopt: not one of ours).
  static std::optional<std::pair<std::size_t, std::uint64_t>> parse(std::string_view tag) {
    std::size_t space = tag.find(' ');
    if (space == std::string_view::npos || space == 0) return std::nullopt;
    std::size_t bridge = 0;
    for (char c : tag.substr(0, space)) {
      if (c < '0' || c > '9') return std::nullopt;
      bridge = bridge * 10 + static_cast<std::size_t>(c - '0');
    }
    return std::pair{bridge, key(bridge, tag.substr(space + 1))};
  }
  void delivered(std::uint64_t k, std::span<const Receipt> receipts) {
    auto [it, fresh] = copies_.try_emplace(k);
    if (fresh) {
      order_.push_back(k);
      if (order_.size() > kLimit) {
        copies_.erase(order_.front());
        order_.pop_front();
      }
      it = copies_.find(k);
    }
    for (const Receipt& r : receipts) {
      if (it->second.first.empty()) {
        it->second.first = r.id;
      } else {
        it->second.rest.push_back(r.id);
      }
    }
  }
  const Copies* find(std::uint64_t k) const {
    auto it = copies_.find(k);
    return it == copies_.end() || it->second.first.empty() ? nullptr : &it->second;
  }

 private:
  static constexpr std::size_t kLimit = 100000;
  std::unordered_map<std::uint64_t, Copies> copies_;
  std::deque<std::uint64_t> order_;
};

// One event of the stream waiting to be published. `relayed`: the remote
// id, when the event is the echo of a bridged message.
struct Item {
  SentPtr sent;
  std::string relayed;
};

// A publish, as built (kept to send it again when JetStream refuses it).
struct Unsent {
  std::string subject;
  std::string body;
  std::string id;
  std::string relayed;
};

json::object error_reply(std::string field, std::string problem, const std::string& id = {}) {
  json::object o{{"op", "error"},
                 {"error", field.empty() ? problem : field + ": " + problem},
                 {"field", field}};
  if (!id.empty()) o["id"] = id;
  return o;
}

}  // namespace

// What the client's threads may touch: the executor to post to, the Impl
// (weakly), and counters. Freed by the client when a subscription is done
// (natsSubscription_SetOnCompleteCB), or with the Impl for the publisher's.
// Messages a subscription's thread handed over, waiting for the host's
// executor: one post drains all that came meanwhile, so a flood costs a
// wake-up per batch, not per message.
struct Inbox {
  std::mutex mutex;
  std::vector<MsgPtr> messages;
  bool posted = false;
};

struct Shared {
  Shared(Executor ex_, std::weak_ptr<NatsHook::Impl> impl_, std::size_t bridge_)
      : ex(std::move(ex_)), impl(std::move(impl_)), bridge(bridge_) {}
  Executor ex;
  std::weak_ptr<NatsHook::Impl> impl;
  std::size_t bridge = 0;  // a subscription's bridge; kRequests for send requests
  std::atomic<std::uint64_t> confirmed{0};
  std::atomic<std::int64_t> pending{0};
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
};
constexpr std::size_t kRequests = static_cast<std::size_t>(-1);

struct NatsHook::Impl : std::enable_shared_from_this<Impl> {
  Impl(NatsHook& owner, const NatsSettings& settings)
      : hook(&owner),
        host(owner.host()),
        ex(owner.host().executor()),
        log(owner.log()),
        s(settings),
        queue(ex, settings.queue, Overflow::drop_oldest),
        changed(ex),
        tasks(ex, owner.log()),
        boot(fmt::format("{:x}", std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count())),
        backlog(settings.bridges.size()),
        paused(settings.bridges.size(), false),
        drained(ex) {}
  ~Impl() { teardown(); }

  // ---- on the host's executor ----
  Task<> run();
  Task<> publisher();
  void publish(Item& item);
  void send(Unsent& u);
  void retry(Unsent u, const std::string& why);
  Task<> retry_later();
  Task<> subscribe_bridge(std::size_t index);
  // A batch the client's thread handed over: requests answered, bridged
  // messages queued behind their bridge's backlog.
  void take(std::size_t index, std::vector<MsgPtr>& batch);
  // Relays the backlog of bridge `index` while its channel's outbox has
  // room; past the high-water mark, waits for it to drain.
  void relay_backlog(std::size_t index);
  Task<> resume(std::size_t index);
  std::size_t high_water(std::size_t index) const;
  // Hands processed messages to the worker thread to be destroyed there
  // (the client's collector lock and wake-up, off the host's thread).
  void bury();
  void on_bridge(std::size_t index, natsMsg* msg);
  // Applies the kept changes of the message `key` (of bridge `index`).
  void apply_deferred(std::size_t index, std::uint64_t key);
  // An edit, delete or reaction of a bridged message, applied to its copies.
  void apply_change(std::size_t index, const std::string& kind, boost::json::object& data);
  // The reply_to of a bridged message, mapped to its copy here (or dropped).
  void map_reply(std::size_t index, boost::json::object& data);
  void on_request(MsgPtr msg);
  Task<> answer(std::string reply, std::string body);
  Task<json::object> handle_send(const std::string& body);
  bool is_ready() const { return stream_ready && bridges_ready == s.bridges.size(); }
  bool is_flushed() const {
    return queue.empty() && retries.empty() && (!js || publisher_->pending.load() == 0);
  }
  // Waits until (this->*done)() or `timeout`. (A member pointer, not a
  // lambda: GCC 12 may destroy a coroutine's by-value callable twice.)
  Task<bool> wait_for(bool (Impl::*done)() const, std::chrono::milliseconds timeout);

  // Runs `f` on the worker thread (the client's calls that wait for the
  // server) and resumes on the host's executor.
  template <typename F>
  Task<std::invoke_result_t<F>> blocking(F f) {
    using R = std::invoke_result_t<F>;
    auto spawned = asio::co_spawn(
        pool.get_executor(), [f = std::move(f)]() mutable -> Task<R> { co_return f(); },
        asio::use_awaitable);
    co_return co_await std::move(spawned);
  }

  // ---- on the worker thread ----
  std::string connect(natsConnection** out, bool asap);
  std::string ensure_stream();
  std::string subscribe(std::size_t index, natsSubscription** out);
  void teardown();

  NatsHook* hook;  // null once stopped
  Host& host;
  Executor ex;
  LoggerPtr log;
  NatsSettings s;
  ConsumerQueue<Item> queue;
  Signal changed;  // readiness, flushes
  TaskGroup tasks;
  std::string boot;  // this run's part of every message id
  asio::thread_pool pool{1};

  natsConnection* nc = nullptr;   // the stream and the bridges: the client's batched flushing
  natsConnection* rpc = nullptr;  // send requests: each reply flushed at once (SendAsap)
  jsCtx* js = nullptr;
  std::vector<natsSubscription*> subs;  // touched on the worker thread, and by teardown
  std::unique_ptr<Shared> publisher_;
  jsPubOptions pub_options;

  std::uint64_t seq = 0;
  std::deque<Unsent> retries;
  bool retrying = false;
  bool stream_ready = false;
  std::size_t bridges_ready = 0;
  RecentIds seen;
  // Per bridge: messages taken from the client, waiting for room in the
  // channel's outbox, and whether it waits for the outbox to drain.
  std::vector<std::deque<MsgPtr>> backlog;
  std::vector<bool> paused;
  Signal drained;  // a bridged post was delivered while a bridge waited
  std::vector<MsgPtr> dead;
  std::uint64_t lagged_logged = 0;
  CopyMap copies;
  // Changes of bridged messages not (yet) known to have crossed, by
  // CopyMap key, oldest first: applied once their message is delivered.
  struct Deferred {
    std::string kind;
    json::object data;
  };
  std::unordered_map<std::uint64_t, std::vector<Deferred>> deferred;
  std::deque<std::uint64_t> deferred_order;  // bounds it: the oldest go first
  Subscription delivered;  // the host's receipts for our posts -> `copies`
  NatsStats stats;
  std::uint64_t lost_logged = 0;
  std::uint64_t unstored = 0;
  std::chrono::steady_clock::time_point last_retry_log{};
};

namespace {

void on_message(natsConnection*, natsSubscription*, natsMsg* raw, void* closure) {
  auto* shared = static_cast<Shared*>(closure);
  MsgPtr msg(raw);
  {
    std::lock_guard lock(shared->inbox->mutex);
    shared->inbox->messages.push_back(std::move(msg));
    if (shared->inbox->posted) return;
    shared->inbox->posted = true;
  }
  asio::post(shared->ex, [impl = shared->impl, index = shared->bridge, inbox = shared->inbox] {
    std::vector<MsgPtr> batch;
    {
      std::lock_guard lock(inbox->mutex);
      batch.swap(inbox->messages);
      inbox->posted = false;
    }
    auto i = impl.lock();
    if (!i || !i->hook) return;
    i->take(index, batch);
  });
}

void on_complete(void* closure) { delete static_cast<Shared*>(closure); }

// Every JetStream publish ends here, from the client's thread: counted when
// stored, handed back to the host to send again when not.
void on_ack(jsCtx*, natsMsg* raw, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  auto* shared = static_cast<Shared*>(closure);
  MsgPtr msg(raw);
  if (pa) {
    shared->confirmed.fetch_add(1, std::memory_order_relaxed);
  } else if (pae && msg) {
    Unsent u;
    u.subject = natsMsg_GetSubject(msg.get());
    u.body.assign(natsMsg_GetData(msg.get()), static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())));
    u.id = header(msg.get(), kMsgId);
    u.relayed = header(msg.get(), kRelayedHeader);
    std::string why = pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err);
    asio::post(shared->ex, [impl = shared->impl, u = std::move(u), why = std::move(why)]() mutable {
      if (auto i = impl.lock(); i && i->hook) i->retry(std::move(u), why);
    });
  }
  if (shared->pending.fetch_sub(1) == 1) {
    asio::post(shared->ex, [impl = shared->impl] {
      if (auto i = impl.lock()) i->changed.notify();
    });
  }
}

}  // namespace

std::string NatsHook::Impl::connect(natsConnection** out, bool asap) {
  natsOptions* o = nullptr;
  natsStatus st = natsOptions_Create(&o);
  if (st != NATS_OK) return status_text(st);
  std::vector<const char*> urls;
  for (const auto& u : s.servers) urls.push_back(u.c_str());
  std::string name = "immp " + s.subjects.prefix + (asap ? " requests" : "");
  if (st == NATS_OK) st = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  if (st == NATS_OK) st = natsOptions_SetName(o, name.c_str());
  // Reconnect for ever, quickly: a JetStream cluster moves leaders in seconds.
  if (st == NATS_OK) st = natsOptions_SetMaxReconnect(o, -1);
  if (st == NATS_OK) st = natsOptions_SetReconnectWait(o, 100);
  if (st == NATS_OK) st = natsOptions_SetReconnectBufSize(o, 64 * 1024 * 1024);
  // A host never hears its own publications back.
  if (st == NATS_OK) st = natsOptions_SetNoEcho(o, true);
  if (st == NATS_OK) st = natsOptions_SetTimeout(o, s.connect_timeout.count());
  if (st == NATS_OK) st = natsOptions_SetMaxPendingMsgs(o, 1000000);
  if (st == NATS_OK && asap) st = natsOptions_SetSendAsap(o, true);
  // A host starts without its NATS server and connects when it comes.
  if (st == NATS_OK) st = natsOptions_SetRetryOnFailedConnect(o, true, nullptr, nullptr);
  if (st == NATS_OK) st = natsConnection_Connect(out, o);
  natsOptions_Destroy(o);
  if (st == NATS_NOT_YET_CONNECTED) {
    log->warn("NATS: no server at {} yet: retrying in the background", fmt::join(s.servers, ","));
    return {};
  }
  return st == NATS_OK ? std::string() : status_text(st);
}

std::string NatsHook::Impl::ensure_stream() {
  const auto& j = s.jetstream;
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  std::string subject = s.subjects.stream();
  const char* subjects[] = {subject.c_str()};
  cfg.Name = j.stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = j.memory ? js_MemoryStorage : js_FileStorage;
  cfg.Replicas = j.replicas;
  cfg.MaxAge = j.max_age.count() * kNanos;
  cfg.MaxBytes = j.max_bytes;
  cfg.Duplicates = j.duplicate_window.count() * kNanos;
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus st = js_AddStream(&info, js, &cfg, nullptr, &code);
  if (st != NATS_OK && code == JSStreamNameExistErr) {
    st = js_UpdateStream(&info, js, &cfg, nullptr, &code);
    if (st != NATS_OK) {
      // The stream is there, with settings this server will not change
      // (a new replica count on a running stream, say): use it as it is.
      log->warn("NATS: stream {} exists with other settings, kept as it is: {}", j.stream,
                status_text(st));
      st = NATS_OK;
    }
  }
  jsStreamInfo_Destroy(info);
  return st == NATS_OK ? std::string() : status_text(st);
}

std::string NatsHook::Impl::subscribe(std::size_t index, natsSubscription** out) {
  const BridgeSettings& b = s.bridges[index];
  std::string subject = s.subjects.root + "." + escape_token(b.remote.prefix) + "." +
                        escape_token(b.remote.plug) + "." + escape_token(b.remote.source) +
                        ".*";
  auto* shared = new Shared(ex, weak_from_this(), index);
  natsStatus st;
  if (js) {
    // One durable consumer per bridge of this host: it remembers what was
    // acknowledged, so a host that was down reads on from there.
    std::string durable = js_name(fmt::format("{}_{}_{:08x}", s.subjects.prefix,
                                              b.remote.str().substr(0, 40),
                                              // "|kinds": its filter takes every kind (a
                                              // consumer of messages only was named without)
                                              fnv(b.remote.str() + "|" + b.channel.repr() + "|kinds")));
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.ManualAck = true;
    so.Config.Durable = durable.c_str();
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.AckWait = 30 * kNanos;
    so.Config.MaxAckPending = 20000;
    jsErrCode code = static_cast<jsErrCode>(0);
    st = js_Subscribe(out, js, subject.c_str(), on_message, shared, nullptr, &so, &code);
  } else {
    st = natsConnection_Subscribe(out, nc, subject.c_str(), on_message, shared);
  }
  if (st != NATS_OK) {
    delete shared;
    return status_text(st);
  }
  natsSubscription_SetPendingLimits(*out, 1000000, 1024 * 1024 * 1024);
  natsSubscription_SetOnCompleteCB(*out, on_complete, shared);
  subs.push_back(*out);
  // A round trip: once the bridge says it is subscribed, the server has
  // the interest, and nothing published from then on misses it.
  natsConnection_FlushTimeout(nc, 2000);
  return {};
}

// Closes everything; the durable consumers stay on the server (they are
// never unsubscribed, which would delete them).
void NatsHook::Impl::teardown() {
  if (nc) natsConnection_FlushTimeout(nc, 1000);
  if (nc) natsConnection_Close(nc);
  if (rpc) natsConnection_Close(rpc);
  for (natsSubscription* sub : subs) natsSubscription_Destroy(sub);
  subs.clear();
  if (js) jsCtx_Destroy(js);
  js = nullptr;
  if (rpc) natsConnection_Destroy(rpc);
  if (nc) natsConnection_Destroy(nc);
  rpc = nc = nullptr;
}

Task<> NatsHook::Impl::run() {
  auto self = shared_from_this();
  std::string problem = co_await blocking([this] { return connect(&nc, false); });
  if (problem.empty() && s.requests) problem = co_await blocking([this] { return connect(&rpc, true); });
  if (!problem.empty()) {
    log->error("NATS: cannot connect to {}: {}", fmt::join(s.servers, ","), problem);
    co_return;
  }
  if (s.jetstream.enabled) {
    publisher_ = std::make_unique<Shared>(ex, weak_from_this(), 0);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 65536;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = publisher_.get();
    jo.PublishAsync.StallWait = 5;
    natsStatus st = natsConnection_JetStream(&js, nc, &jo);
    if (st != NATS_OK) {
      log->error("NATS: no JetStream context: {}", status_text(st));
      co_return;
    }
    jsPubOptions_Init(&pub_options);
    // An ack that never comes (a node died with it) is reported, and the
    // publish sent again with the same id.
    pub_options.MaxWait = 5000;
  } else {
    publisher_ = std::make_unique<Shared>(ex, weak_from_this(), 0);
  }
  if (s.publish) tasks.spawn("nats publisher", publisher());
  if (!s.bridges.empty()) {
    // The ids of each bridged message's copies, for its later edits,
    // deletes, reactions and replies.
    delivered = host.on_delivered(std::string(kOwner), [this](const Origin& origin, const Channel&,
                                                              std::span<const Receipt> receipts) {
      auto parsed = CopyMap::parse(origin.tag);
      if (!parsed || parsed->first >= s.bridges.size()) return;
      copies.delivered(parsed->second, receipts);
      if (!deferred.empty()) apply_deferred(parsed->first, parsed->second);
      for (std::size_t i = 0; i < paused.size(); ++i) {
        if (paused[i]) drained.notify();
      }
    });
  }
  if (s.requests) {
    auto* shared = new Shared(ex, weak_from_this(), kRequests);
    natsSubscription* sub = nullptr;
    std::string subject = s.subjects.send();
    natsStatus st = natsConnection_Subscribe(&sub, rpc, subject.c_str(), on_message, shared);
    if (st != NATS_OK) {
      delete shared;
      log->error("NATS: cannot take send requests on {}: {}", subject, status_text(st));
    } else {
      natsSubscription_SetOnCompleteCB(sub, on_complete, shared);
      subs.push_back(sub);
      // Once ready() holds, the server has the interest.
      co_await blocking([this] { return natsConnection_FlushTimeout(rpc, 2000); });
      log->info("NATS: send requests on {}", subject);
    }
  }
  // JetStream's API answers only once connected: keep asking.
  asio::steady_timer pause(ex);
  if (js) {
    for (int attempt = 0;; ++attempt) {
      problem = co_await blocking([this] { return ensure_stream(); });
      if (problem.empty()) break;
      if (attempt == 0) log->warn("NATS: stream {} not ready: {} (retrying)", s.jetstream.stream, problem);
      pause.expires_after(std::chrono::milliseconds(500));
      co_await pause.async_wait(asio::use_awaitable);
    }
    log->info("NATS: stream {} keeps {}", s.jetstream.stream, s.subjects.stream());
  }
  stream_ready = true;
  changed.notify();
  for (std::size_t i = 0; i < s.bridges.size(); ++i) tasks.spawn("nats bridge", subscribe_bridge(i));
  log->info("NATS: publishing {} to {}", s.subjects.stream(), fmt::join(s.servers, ","));
}

Task<> NatsHook::Impl::subscribe_bridge(std::size_t index) {
  auto self = shared_from_this();
  const BridgeSettings& b = s.bridges[index];
  asio::steady_timer pause(ex);
  for (int attempt = 0;; ++attempt) {
    std::string problem = co_await blocking([this, index] {
      natsSubscription* sub = nullptr;
      return subscribe(index, &sub);
    });
    if (problem.empty()) break;
    // The other host's stream may not exist yet (it never ran).
    if (attempt == 0) log->warn("NATS: bridge {} <- {}: {} (retrying)", b.name, b.remote.str(), problem);
    pause.expires_after(std::chrono::milliseconds(500));
    co_await pause.async_wait(asio::use_awaitable);
  }
  ++bridges_ready;
  log->info("NATS: bridge {} <- {} subscribed", b.name, b.remote.str());
  changed.notify();
}

Task<> NatsHook::Impl::publisher() {
  auto self = shared_from_this();
  for (;;) {
    co_await queue.wait();
    while (auto item = queue.try_pop()) publish(*item);
    if (std::uint64_t n = queue.take_unreported()) {
      stats.dropped += n;
      log->warn("NATS: fell behind: {} events dropped (the oldest; bus.queue is {})", n, s.queue);
    }
    changed.notify();
    if (queue.closed()) co_return;
  }
}

void NatsHook::Impl::publish(Item& item) {
  const SentMessage& sent = *item.sent;
  Unsent u;
  std::uint64_t n = ++seq;
  // The envelope's id, unique across hosts and runs: JetStream's
  // Nats-Msg-Id and the bridges' dedupe key.
  u.id = fmt::format("{}-{}-{}", s.subjects.prefix, boot, n);
  u.subject = s.subjects.event(sent.channel, bus::kind_of(sent));
  std::array<unsigned char, 8192> buffer;  // the envelope's tree, dropped once serialised
  json::monotonic_resource arena(buffer.data(), buffer.size());
  json::object env = bus::to_envelope(sent, n, &arena);
  env["id"] = u.id;
  u.body = json::serialize(env);
  u.relayed = std::move(item.relayed);
  send(u);
}

void NatsHook::Impl::send(Unsent& u) {
  natsStatus st = NATS_OK;
  const int size = static_cast<int>(u.body.size());
  if (js) pub_options.MsgId = u.id.c_str();  // JetStream's dedupe: the Nats-Msg-Id header
  if (js) publisher_->pending.fetch_add(1);
  if (u.relayed.empty()) {
    // No message object: the client hands each destroyed one to its
    // collector thread and wakes it, which costs more than the publish.
    // The envelope's id says what Nats-Msg-Id would, for plain NATS.
    st = js ? js_PublishAsync(js, u.subject.c_str(), u.body.data(), size, &pub_options)
            : natsConnection_Publish(nc, u.subject.c_str(), u.body.data(), size);
  } else {
    natsMsg* m = nullptr;
    st = natsMsg_Create(&m, u.subject.c_str(), nullptr, u.body.data(), size);
    if (st == NATS_OK) st = natsMsgHeader_Set(m, kRelayedHeader, u.relayed.c_str());
    if (st == NATS_OK) st = js ? js_PublishMsgAsync(js, &m, &pub_options) : natsConnection_PublishMsg(nc, m);
    natsMsg_Destroy(m);
  }
  if (js && st != NATS_OK) publisher_->pending.fetch_sub(1);
  if (st == NATS_OK) {
    ++stats.published;
    return;
  }
  if (js) {
    retry(std::move(u), status_text(st));
    return;
  }
  // Plain NATS is at most once: what the client refuses (closed, or its
  // reconnect buffer full) is lost, and said so.
  ++stats.dropped;
  if (stats.dropped >= lost_logged * 2) {
    lost_logged = stats.dropped;
    log->warn("NATS: publish to {} failed: {} ({} events lost so far)", u.subject, status_text(st),
              stats.dropped);
  }
}

void NatsHook::Impl::retry(Unsent u, const std::string& why) {
  // Said once per 5 s at most: a cluster electing a leader refuses every
  // publish for seconds.
  auto now = std::chrono::steady_clock::now();
  ++unstored;
  if (now - last_retry_log >= std::chrono::seconds(5)) {
    log->warn("NATS: JetStream did not store {} events (last: {}: {}); sending them again", unstored,
              u.id, why);
    last_retry_log = now;
    unstored = 0;
  }
  retries.push_back(std::move(u));
  if (!retrying) {
    retrying = true;
    tasks.spawn("nats retry", retry_later());
  }
}

Task<> NatsHook::Impl::retry_later() {
  auto self = shared_from_this();
  asio::steady_timer pause(ex);
  while (!retries.empty()) {
    pause.expires_after(s.jetstream.retry);
    co_await pause.async_wait(asio::use_awaitable);
    std::deque<Unsent> batch;
    batch.swap(retries);
    for (auto& u : batch) {
      ++stats.retried;
      send(u);
    }
  }
  retrying = false;
  changed.notify();
}

void NatsHook::Impl::take(std::size_t index, std::vector<MsgPtr>& batch) {
  if (index == kRequests) {
    for (auto& m : batch) on_request(std::move(m));
    return;
  }
  auto& q = backlog[index];
  for (auto& m : batch) {
    if (q.size() >= kBacklogLimit) {
      // The channel's network has not taken anything for long: plain NATS
      // loses these (said, counted); JetStream sends them again, as they
      // are not acknowledged.
      ++stats.lagged;
      continue;
    }
    q.push_back(std::move(m));
  }
  if (stats.lagged > lagged_logged) {
    log->warn("NATS: bridge {}: its channel takes nothing: {} events left unrelayed{}", s.bridges[index].name,
              stats.lagged, js ? " (JetStream delivers them again)" : " (lost)");
    lagged_logged = stats.lagged * 2;
  }
  batch.clear();  // the rest (over the limit) go now, with the client's collector
  if (!paused[index]) relay_backlog(index);
}

std::size_t NatsHook::Impl::high_water(std::size_t index) const {
  Plug* plug = s.bridges[index].channel.plug();
  std::size_t capacity = plug ? plug->outbox_policy().capacity : 10000;
  return std::max<std::size_t>(1, capacity / 2);
}

void NatsHook::Impl::relay_backlog(std::size_t index) {
  auto& q = backlog[index];
  const Channel& channel = s.bridges[index].channel;
  const std::size_t high = high_water(index);
  std::size_t n = 0;
  while (!q.empty()) {
    // Never more than the outbox takes: past its capacity it would drop
    // the oldest. Looked at every 16 messages (an overshoot of 15 at most).
    if ((n++ & 15) == 0 && detail::outbox_depth(host, channel) >= high) {
      paused[index] = true;
      tasks.spawn("nats bridge backlog", resume(index));
      break;
    }
    MsgPtr m = std::move(q.front());
    q.pop_front();
    on_bridge(index, m.get());
    dead.push_back(std::move(m));
  }
  bury();
}

Task<> NatsHook::Impl::resume(std::size_t index) {
  auto self = shared_from_this();
  const Channel channel = s.bridges[index].channel;
  const std::size_t low = high_water(index) / 2;
  asio::steady_timer timer(ex);
  // Woken by each delivery of a bridged post; also looks every 20 ms, for
  // an outbox that drains of other posts.
  while (hook && detail::outbox_depth(host, channel) > low) {
    timer.expires_after(std::chrono::milliseconds(20));
    auto either = (drained.wait() || timer.async_wait(asio::use_awaitable));
    co_await std::move(either);
  }
  paused[index] = false;
  if (hook) relay_backlog(index);
}

void NatsHook::Impl::bury() {
  if (dead.empty()) return;
  // Shared: the pool's executor copies its handlers.
  auto batch = std::make_shared<std::vector<MsgPtr>>(std::move(dead));
  asio::post(pool, [batch] { batch->clear(); });
  dead.clear();
}

void NatsHook::Impl::apply_deferred(std::size_t index, std::uint64_t key) {
  auto it = deferred.find(key);
  if (it == deferred.end()) return;
  std::vector<Deferred> changes = std::move(it->second);
  deferred.erase(it);
  if (deferred.empty()) deferred_order.clear();
  for (Deferred& d : changes) {
    try {
      apply_change(index, d.kind, d.data);
    } catch (const std::exception& e) {
      log->warn("NATS: bridge {}: a delayed {} was not applied: {}", s.bridges[index].name, d.kind, e.what());
    }
  }
}

void NatsHook::Impl::on_bridge(std::size_t index, natsMsg* msg) {
  const BridgeSettings& b = s.bridges[index];
  auto ack = [&] {
    if (js) natsMsg_Ack(msg, nullptr);
  };
  // Only the other host's own messages: a copy it relayed from elsewhere
  // (from us, or from a third host we bridge directly) is not taken again.
  if (!header(msg, kRelayedHeader).empty()) {
    ack();
    return;
  }
  std::string id;
  bool message = false;
  try {
    std::string_view body(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    // Parsed into a buffer on the stack: the envelope lives only here.
    unsigned char scratch[8192];
    json::monotonic_resource arena(scratch, sizeof scratch);
    json::value env = json::parse(json::string_view(body.data(), body.size()), &arena);
    json::value* data = env.is_object() ? env.get_object().if_contains("data") : nullptr;
    if (!data || !data->is_object()) throw std::invalid_argument("no data object");
    // The envelope's id is the publish's Nats-Msg-Id: a redelivery, or a
    // publish sent again after a lost ack, has the same.
    if (const json::value* v = env.get_object().if_contains("id"); v && v->is_string()) {
      id = std::string(v->get_string());
    }
    if (!id.empty() && seen.contains(id)) {
      ++stats.duplicates;
      ack();
      return;
    }
    json::object& fields = data->get_object();
    // The author belongs to the other host's network, not to a plug of
    // ours that has the same name.
    if (json::value* user = fields.if_contains("user"); user && user->is_object()) {
      user->get_object()["plug"] = nullptr;
    }
    std::string kind;
    if (const json::value* t = env.get_object().if_contains("type"); t && t->is_string()) {
      kind = std::string(t->get_string());
    }
    if (kind == "edit" || kind == "delete" || kind == "reaction") {
      apply_change(index, kind, fields);
    } else if (kind == "message") {
      message = true;
      map_reply(index, fields);
      // The remote message's own id: its edits, deletes and reactions name it.
      std::string remote_id;
      if (const json::value* v = fields.if_contains("id"); v && v->is_string()) {
        remote_id = std::string(v->get_string());
      }
      auto copy = std::make_shared<const Message>(message_from_json(*data, host));
      // The tag names the remote message: its receipts say where it went.
      auto origin = std::make_shared<const Origin>(
          Origin{std::string(kOwner), remote_id.empty() ? id : CopyMap::tag(index, remote_id)});
      host.post(b.channel, std::move(copy), std::move(origin));
    } else {
      // Joins and parts stay on their host (as the sync hook's text would
      // read oddly from a room's members elsewhere).
      ack();
      return;
    }
  } catch (const std::exception& e) {
    log->warn("NATS: bridge {} <- {}: skipped a malformed event on {}: {}", b.name, b.remote.str(),
              natsMsg_GetSubject(msg), e.what());
    ack();
    return;
  }
  if (!id.empty()) seen.insert(id);
  if (message) ++stats.relayed;
  ack();
}

void NatsHook::Impl::map_reply(std::size_t index, json::object& data) {
  json::value* reply = data.if_contains("reply_to");
  if (!reply) return;
  const CopyMap::Copies* found = nullptr;
  if (reply->is_object()) {
    if (const json::value* v = reply->get_object().if_contains("id"); v && v->is_string()) {
      found = copies.find(CopyMap::key(index, v->get_string()));
    }
  }
  if (!found) {
    // An answer to a message that never crossed: the remote id means
    // nothing here.
    data.erase("reply_to");
    return;
  }
  data["reply_to"] = json::object{{"id", found->first}};
}

void NatsHook::Impl::apply_change(std::size_t index, const std::string& kind, json::object& data) {
  const BridgeSettings& b = s.bridges[index];
  Plug* plug = b.channel.plug();
  if (!plug) return;
  const Features& features = plug->features();
  // Applied in place, so no new copy is recorded (as the sync hook does);
  // the echo is still ours, and goes out marked relayed.
  auto unrecorded = std::make_shared<const Origin>(Origin{std::string(kOwner), {}});
  std::string target;  // the remote message changed or reacted to
  if (kind == "reaction") {
    const json::value* r = data.if_contains("reaction");
    const json::value* on = r && r->is_object() ? r->get_object().if_contains("on") : nullptr;
    const json::value* v = on && on->is_object() ? on->get_object().if_contains("id") : nullptr;
    if (v && v->is_string()) target = std::string(v->get_string());
  } else if (const json::value* v = data.if_contains("id"); v && v->is_string()) {
    target = std::string(v->get_string());
  }
  if (target.empty()) return;
  std::uint64_t key = CopyMap::key(index, target);
  const CopyMap::Copies* ids = copies.find(key);
  if (!ids) {
    // The message may still be on its way into the channel (or never
    // crossed): kept, and applied once it is delivered.
    deferred[key].push_back(Deferred{kind, json::object(data, json::storage_ptr())});
    deferred_order.push_back(key);
    if (deferred_order.size() > kDeferredLimit) {
      if (auto old = deferred.find(deferred_order.front()); old != deferred.end()) {
        old->second.erase(old->second.begin());
        if (old->second.empty()) deferred.erase(old);
      }
      deferred_order.pop_front();
    }
    log->debug("NATS: bridge {}: {} of {}, a message not here (yet): kept", b.name, kind, target);
    return;
  }
  auto at = [&](const std::string& copy_id, bool deleted) {
    return Receipt{copy_id, b.channel, Clock::now(), {}, deleted};
  };
  if (kind == "delete") {
    if (!features.remove) return;
    auto remove = [&](const std::string& copy_id) {
      Message gone;
      gone.deleted = true;
      host.post(b.channel, std::make_shared<const SentMessage>(at(copy_id, true), std::move(gone)), unrecorded);
    };
    remove(ids->first);
    for (const std::string& copy_id : ids->rest) remove(copy_id);
    ++stats.changed;
    return;
  }
  if (kind == "reaction") {
    if (!features.reaction) return;  // dropped, as the sync hook drops it
    json::object reaction = data.at("reaction").as_object();
    data.erase("reaction");
    data.erase("reply_to");
    Message msg = message_from_json(data, host);
    msg.text.reset();
    Reaction r;
    if (const json::value* e = reaction.if_contains("emoji"); e && e->is_string()) r.emoji = std::string(e->get_string());
    if (const json::value* rm = reaction.if_contains("removed"); rm && rm->is_bool()) r.removed = rm->get_bool();
    r.on = std::make_shared<const SentMessage>(at(ids->first, false), Message{});
    msg.reaction = std::move(r);
    host.post(b.channel, std::make_shared<const Message>(std::move(msg)), unrecorded);
    ++stats.changed;
    return;
  }
  // An edit: in place where the network edits, else as a new message.
  data.erase("reply_to");
  Message msg = message_from_json(data, host);
  msg.edited = true;
  if (features.edit) {
    host.post(b.channel, std::make_shared<const SentMessage>(at(ids->first, false), std::move(msg)), unrecorded);
  } else {
    host.post(b.channel, std::make_shared<const Message>(std::move(msg)), unrecorded);
  }
  ++stats.changed;
}

void NatsHook::Impl::on_request(MsgPtr msg) {
  const char* reply = natsMsg_GetReply(msg.get());
  if (!reply || !*reply) return;  // a publish, not a request: nobody to answer
  tasks.spawn("nats send request",
              answer(reply, std::string(natsMsg_GetData(msg.get()),
                                        static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())))));
}

Task<> NatsHook::Impl::answer(std::string reply, std::string body) {
  auto self = shared_from_this();
  auto handled = handle_send(body);
  json::object out = co_await std::move(handled);
  if (out.at("op") == "receipt") {
    ++stats.answered;
  } else {
    ++stats.refused;
  }
  std::string text = json::serialize(out);
  if (rpc) natsConnection_Publish(rpc, reply.c_str(), text.data(), static_cast<int>(text.size()));
}

Task<json::object> NatsHook::Impl::handle_send(const std::string& body) {
  json::parse_options opts;
  opts.max_depth = 64;
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(body.data(), body.size()), ec, {}, opts);
  if (ec) co_return error_reply("", "not a JSON envelope: " + ec.message());
  if (!value.is_object()) co_return error_reply("", "not a JSON object: send one envelope");
  std::string id;
  if (auto* v = value.get_object().if_contains("id"); v && v->is_string()) id = std::string(v->get_string());
  bus::Incoming in;
  if (auto problem = bus::check_envelope(value, "", false, &in)) {
    // Paths from the envelope itself: "data.text", not ".data.text".
    std::string field = problem->field;
    if (field.starts_with('.')) field.erase(0, 1);
    co_return error_reply(std::move(field), problem->problem, id);
  }
  auto channel = bus::resolve_source(host, in.source);
  if (!channel) {
    co_return error_reply("source", fmt::format("no channel '{}' (a channel's name, or plug/source)", in.source), id);
  }
  if (in.kind != bus::Kind::message) {
    co_return error_reply("type", fmt::format("sending '{}' is not supported yet: send a message", in.type), id);
  }
  MessagePtr msg;
  try {
    msg = std::make_shared<const Message>(message_from_json(in.data, host));
  } catch (const std::exception& e) {
    co_return error_reply("data", e.what(), id);
  }
  std::vector<Receipt> receipts;
  try {
    auto sent = host.send(*channel, std::move(msg));
    receipts = co_await std::move(sent);
  } catch (const std::exception& e) {
    co_return error_reply("", fmt::format("not delivered to {}: {}", in.source, e.what()), id);
  }
  json::array ids;
  for (const Receipt& r : receipts) ids.push_back(json::string(r.id));
  co_return json::object{{"op", "receipt"}, {"id", in.id}, {"channel", bus::source_of(*channel)}, {"ids", std::move(ids)}};
}

Task<bool> NatsHook::Impl::wait_for(bool (Impl::*done)() const, std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(ex);
  while (!(this->*done)()) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    // JetStream acks are counted on the client's thread: look again now
    // and then as well as on every change.
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(
        deadline - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
    auto either = (changed.wait() || timer.async_wait(asio::use_awaitable));
    co_await std::move(either);
  }
  co_return true;
}

// ---- NatsHook ------------------------------------------------------------

NatsHook::NatsHook(const Init& init, NatsSettings settings)
    : Hook(init), settings_(std::move(settings)) {}

NatsHook::~NatsHook() {
  if (impl_) {
    impl_->hook = nullptr;
    impl_->teardown();
  }
}

Task<> NatsHook::start() {
  if (impl_) {
    impl_->hook = nullptr;
    impl_->teardown();
  }
  impl_ = std::make_shared<Impl>(*this, settings_);
  impl_->tasks.spawn("nats setup", impl_->run());
  co_return;
}

Task<> NatsHook::stop() {
  if (!impl_) co_return;
  auto impl = impl_;
  if (settings_.publish) {
    auto flushed = impl->wait_for(&Impl::is_flushed, std::chrono::seconds(3));
    if (!co_await std::move(flushed)) log()->warn("NATS: stopping with events not yet stored");
  }
  impl->queue.close();
  co_await impl->tasks.stop(std::chrono::seconds(2));
  // The lambda holds a plain pointer: `impl` keeps it alive meanwhile.
  auto closed = impl->blocking([p = impl.get()] {
    p->teardown();
    return 0;
  });
  co_await std::move(closed);
  impl->hook = nullptr;
  impl_.reset();
}

Task<> NatsHook::on_receive(const Received& received) {
  if (!impl_ || !settings_.publish) co_return;
  std::string relayed;
  if (received.posted_by(kOwner)) relayed = received.origin->tag.empty() ? "1" : received.origin->tag;
  impl_->queue.push(Item{received.sent, std::move(relayed)});
  co_return;
}

const NatsStats& NatsHook::stats() const {
  static const NatsStats kNone;
  if (!impl_) return kNone;
  if (impl_->publisher_) impl_->stats.confirmed = impl_->publisher_->confirmed.load();
  return impl_->stats;
}

Task<bool> NatsHook::ready(std::chrono::milliseconds timeout) {
  if (!impl_) co_return false;
  auto impl = impl_;
  auto done = impl->wait_for(&Impl::is_ready, timeout);
  co_return co_await std::move(done);
}

Task<bool> NatsHook::flush(std::chrono::milliseconds timeout) {
  if (!impl_) co_return false;
  auto impl = impl_;
  auto done = impl->wait_for(&Impl::is_flushed, timeout);
  bool ok = co_await std::move(done);
  if (!ok) co_return false;
  auto flushed = impl->blocking([p = impl.get()] {
    return !p->nc || natsConnection_FlushTimeout(p->nc, 2000) == NATS_OK;
  });
  co_return co_await std::move(flushed);
}

std::unique_ptr<NatsHook> make_nats_hook(Host& host, const Node& root) {
  const Node* bus = root.find("bus");
  if (!wants_nats(bus)) return nullptr;
  NatsSettings settings = read_nats_settings(*bus, host);
  return std::make_unique<NatsHook>(Init{std::string(NatsHook::kOwner), Node::map(), host},
                                    std::move(settings));
}

}  // namespace immp::bus_nats
