#include "operators/connection.hpp"

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "core/message_json.hpp"
#include "immp/log.hpp"
#include "operators/json_node.hpp"
#include "operators/lines.hpp"
#include "operators/operators_hook.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for coroutine frames that
// Asio's awaitable_frame_base allocates and frees itself: a false report
// (as in runner/runner.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::operators {

namespace json = boost::json;

namespace {

constexpr int kProtocolVersion = 1;
// The writer sends at most this much per write; events past it wait for
// the next batch (so control frames are never far behind).
constexpr std::size_t kBatchBytes = 256 * 1024;

const std::vector<std::string> kOps = {"hello",  "ready",  "subscribe", "unsubscribe", "send",
                                       "emit",   "log",    "config",    "ping",        "pong",
                                       "status", "control"};

std::string_view type_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "a list";
    case json::kind::object:
      return "an object";
  }
  return "?";
}

// A string field, or nullptr when absent; `bad` when present and not a string.
const json::string* string_field(const json::object& frame, std::string_view key, bool& bad) {
  const json::value* v = frame.if_contains(key);
  if (!v) return nullptr;
  if (!v->is_string()) {
    bad = true;
    return nullptr;
  }
  return &v->get_string();
}

}  // namespace

Connection::Connection(Context& context, asio::local::stream_protocol::socket socket)
    : ctx_(context),
      socket_(std::move(socket)),
      wake_(context.host.executor()),
      writer_ended_(context.host.executor()) {}

Connection::~Connection() { drop_subscriber(); }

void Connection::drop_subscriber() {
  // The bus may still hold the subscriber for a moment (a fan-out in
  // progress): it must not notify our signal after we are gone.
  if (subscriber_) subscriber_->set_waker(nullptr);
  subscriber_.reset();
}

std::size_t Connection::queued() const { return subscriber_ ? subscriber_->queue().size() : 0; }

void Connection::send_line(std::string line) {
  if (closing_) return;
  pending_ += line;
  pending_ += '\n';
  wake_.notify();
}

void Connection::send(const json::object& frame) { send_line(json::serialize(frame)); }

void Connection::reply(json::object frame, const json::value* ref) {
  if (ref) frame["ref"] = *ref;
  send(frame);
}

void Connection::error(std::string field, std::string problem, const json::value* ref) {
  json::object frame{{"op", "error"},
                     {"error", field.empty() ? problem : field + ": " + problem},
                     {"field", field}};
  reply(std::move(frame), ref);
}

void Connection::close(std::string error) {
  if (closing_) return;
  if (!error.empty()) {
    json::object frame{{"op", "error"}, {"error", error}, {"field", ""}};
    send(frame);
  }
  closing_ = true;
  wake_.notify();
}

Task<> Connection::run() {
  auto self = shared_from_this();
  ctx_.tasks.spawn("bus connection writer", writer(self));
  LineSplitter lines(kMaxLine);
  std::array<char, 64 * 1024> buf;
  while (!closing_) {
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    lines.append(std::string_view(buf.data(), n));
    while (auto line = lines.next()) {
      if (line->too_long) {
        error("", fmt::format("line {}: longer than {} bytes: skipped", line->number, kMaxLine), nullptr);
        continue;
      }
      if (line->text.empty()) continue;
      // handle() may wait (a send); the view stays valid because append()
      // is not called meanwhile.
      auto h = handle(line->text, line->number);
      co_await std::move(h);
      if (closing_) break;
    }
  }
  if (operator_) operator_->detach(this);
  drop_subscriber();
  closing_ = true;
  wake_.notify();
  while (!writer_done_) co_await writer_ended_.wait();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

// `self` keeps the connection alive while the writer runs.
Task<> Connection::writer([[maybe_unused]] std::shared_ptr<Connection> self) {
  std::string batch;
  for (;;) {
    batch.clear();
    batch.swap(pending_);
    bool deliver = subscriber_ && operator_ && !operator_->halted();
    if (deliver) {
      if (std::uint64_t missed = subscriber_->take_missed()) {
        batch += fmt::format(R"({{"op":"dropped","count":{}}})", missed);
        batch += '\n';
        operator_->log()->warn("fell behind: {} events dropped (the oldest)", missed);
      }
      while (batch.size() < kBatchBytes) {
        auto e = subscriber_->queue().try_pop();
        if (!e) break;
        batch += R"({"op":"event","event":)";
        batch += bus::envelope_line(**e);
        batch += "}\n";
      }
      if (batch.empty() && subscriber_->queue().closed()) {
        operator_->log()->warn("fell behind with a full queue (overflow: disconnect): disconnected");
        drop_subscriber();
        batch = R"({"op":"error","error":"your queue was full (overflow: disconnect): reconnect and resume with since","field":""})";
        batch += '\n';
        closing_ = true;
      }
    }
    if (batch.empty()) {
      if (closing_) break;
      // The bus notifies wake_ too when it pushes to our subscriber.
      co_await wake_.wait();
      continue;
    }
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(batch), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      closing_ = true;
      boost::system::error_code ignored;
      socket_.shutdown(asio::socket_base::shutdown_receive, ignored);
      break;
    }
  }
  if (closing_) {
    boost::system::error_code ignored;
    // Wakes the reader: the connection is over.
    socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  }
  writer_done_ = true;
  writer_ended_.notify();
}

Task<> Connection::handle(std::string_view line, std::uint64_t number) {
  json::parse_options opts;
  opts.max_depth = kMaxDepth;
  boost::system::error_code ec;
  json::value value = json::parse(json::string_view(line.data(), line.size()), ec, {}, opts);
  if (ec) {
    error("", fmt::format("line {}: not a JSON object: {}", number, ec.message()), nullptr);
    co_return;
  }
  if (!value.is_object()) {
    error("", fmt::format("line {}: not a JSON object but {}", number, type_name(value)), nullptr);
    co_return;
  }
  if (operator_) operator_->alive();
  auto h = handle_frame(value.get_object());
  co_await std::move(h);
}

Task<> Connection::handle_frame(json::object& frame) {
  const json::value* ref = frame.if_contains("ref");
  const json::value* op_value = frame.if_contains("op");
  if (!op_value) {
    error("op", "missing", ref);
    co_return;
  }
  if (!op_value->is_string()) {
    error("op", fmt::format("expected a string, got {}", type_name(*op_value)), ref);
    co_return;
  }
  std::string op(op_value->get_string());
  if (op == "ping") {
    reply(json::object{{"op", "pong"}}, ref);
    co_return;
  }
  if (op == "hello") {
    on_hello(frame, ref);
    co_return;
  }
  if (std::find(kOps.begin(), kOps.end(), op) == kOps.end()) {
    std::string hint;
    if (auto near = nearest(op, kOps)) hint = fmt::format(" (did you mean '{}'?)", *near);
    error("op", fmt::format("unknown op '{}'{}", op, hint), ref);
    co_return;
  }
  if (!operator_) {
    error("op", fmt::format("'{}' before hello: say hello with your name and token first", op), ref);
    co_return;
  }
  if (op == "pong") {
    co_return;
  } else if (op == "ready") {
    operator_->ready("ready frame");
  } else if (op == "subscribe") {
    on_subscribe(frame, ref);
  } else if (op == "unsubscribe") {
    drop_subscriber();
    operator_->set_subscriber(nullptr);
  } else if (op == "send") {
    auto s = on_send(frame, ref);
    co_await std::move(s);
  } else if (op == "emit") {
    const json::value* ev = frame.if_contains("event");
    if (!ev) {
      error("event", "missing", ref);
      co_return;
    }
    bus::Incoming in;
    if (auto problem = bus::check_envelope(*ev, "event", true, &in)) {
      error(problem->field, problem->problem, ref);
      co_return;
    }
    auto emitted = ctx_.bus.emit(in, operator_->name());
    std::uint64_t seq = co_await std::move(emitted);
    reply(json::object{{"op", "emitted"}, {"id", std::to_string(seq)}}, ref);
  } else if (op == "log") {
    on_log(frame);
  } else if (op == "config") {
    on_config(frame, ref);
  } else if (op == "status") {
    json::array list;
    for (const OperatorStatus& s : ctx_.owner.status()) {
      list.push_back(json::object{{"name", s.name},
                                  {"phase", phase_name(s.phase)},
                                  {"pid", s.pid},
                                  {"restarts", s.restarts},
                                  {"queued", s.queued},
                                  {"dropped", s.dropped},
                                  {"halted", s.halted},
                                  {"connected", s.connected},
                                  {"status", s.status}});
    }
    reply(json::object{{"op", "status"}, {"operators", std::move(list)}}, ref);
  } else if (op == "control") {
    auto c = on_control(frame, ref);
    co_await std::move(c);
  }
}

void Connection::on_hello(const json::object& frame, const json::value* ref) {
  if (operator_) {
    error("op", "hello again: this connection is " + operator_->name() + "'s already", ref);
    return;
  }
  bool bad = false;
  const json::string* name = string_field(frame, "name", bad);
  if (!name) {
    error("name", bad ? "expected a string" : "missing", ref);
    return;
  }
  const json::string* token = string_field(frame, "token", bad);
  if (!token) {
    error("token", bad ? "expected a string" : "missing (it is in IMMP_OPERATOR_TOKEN)", ref);
    return;
  }
  if (const json::value* v = frame.if_contains("version"); v && !(v->is_int64() && v->get_int64() == 1)) {
    error("version", "this host speaks version 1", ref);
    return;
  }
  std::shared_ptr<Supervisor> target = ctx_.owner.supervisor(std::string_view(*name));
  if (!target || !target->check_token(std::string_view(*token))) {
    // Said once, then the connection closes: a peer guessing tokens gets
    // nothing else.
    reply(json::object{{"op", "error"},
                       {"error", "token: not the token of a running operator named '" +
                                     std::string(*name) + "'"},
                       {"field", "token"}},
          ref);
    close();
    return;
  }
  if (!target->attach(shared_from_this())) {
    reply(json::object{{"op", "error"},
                       {"error", "name: operator '" + std::string(*name) + "' is connected already"},
                       {"field", "name"}},
          ref);
    close();
    return;
  }
  operator_ = std::move(target);
  operator_->log()->info("connected to the bus");
  reply(json::object{{"op", "welcome"},
                     {"name", operator_->name()},
                     {"version", kProtocolVersion},
                     {"config", node_to_json(operator_->config())},
                     {"scratch", operator_->scratch().string()},
                     {"data", operator_->settings().data.string()},
                     {"seq", ctx_.bus.last_seq()}},
        ref);
}

void Connection::on_subscribe(const json::object& frame, const json::value* ref) {
  bus::SubscriberOptions o;
  o.name = operator_->name();
  o.capacity = operator_->settings().queue;
  o.overflow = operator_->settings().overflow;
  if (const json::value* f = frame.if_contains("filter"); f && !f->is_null()) {
    if (auto problem = bus::Filter::parse(*f, "filter", ctx_.host, o.filter)) {
      error(problem->field, problem->problem, ref);
      return;
    }
  }
  if (const json::value* s = frame.if_contains("since"); s && !s->is_null()) {
    if (s->is_int64() && s->get_int64() >= 0) {
      o.since = static_cast<std::uint64_t>(s->get_int64());
    } else if (s->is_uint64()) {
      o.since = s->get_uint64();
    } else if (s->is_string()) {
      try {
        o.since = std::stoull(std::string(s->get_string()));
      } catch (const std::exception&) {
        error("since", "expected an event id (a number)", ref);
        return;
      }
    } else {
      error("since", fmt::format("expected an event id (a number), got {}", type_name(*s)), ref);
      return;
    }
  }
  if (const json::value* own = frame.if_contains("own"); own && !own->is_null()) {
    if (!own->is_bool()) {
      error("own", "expected a boolean", ref);
      return;
    }
    o.own_events = own->get_bool();
  }
  std::string describe = o.filter.describe();
  drop_subscriber();
  subscriber_ = ctx_.bus.subscribe(std::move(o));
  subscriber_->set_waker(&wake_);
  operator_->set_subscriber(subscriber_);
  operator_->log()->info("subscribed: {}", describe.empty() ? "everything" : describe);
  reply(json::object{{"op", "subscribed"}, {"seq", ctx_.bus.last_seq()}}, ref);
  wake_.notify();
}

Task<> Connection::on_send(const json::object& frame, const json::value* ref) {
  const json::value* ev = frame.if_contains("event");
  if (!ev) {
    error("event", "missing", ref);
    co_return;
  }
  bus::Incoming in;
  if (auto problem = bus::check_envelope(*ev, "event", false, &in)) {
    error(problem->field, problem->problem, ref);
    co_return;
  }
  auto channel = bus::resolve_source(ctx_.host, in.source);
  if (!channel) {
    error("event.source", fmt::format("no channel '{}' (a channel's name, or plug/source)", in.source), ref);
    co_return;
  }
  if (in.kind != bus::Kind::message) {
    error("event.type", fmt::format("sending '{}' is not supported yet: send a message", in.type), ref);
    co_return;
  }
  MessagePtr msg;
  try {
    msg = std::make_shared<const Message>(message_from_json(in.data, ctx_.host));
  } catch (const std::exception& e) {
    error("event.data", e.what(), ref);
    co_return;
  }
  std::vector<Receipt> receipts;
  try {
    auto sent = ctx_.host.send(*channel, std::move(msg));
    receipts = co_await std::move(sent);
  } catch (const std::exception& e) {
    error("event", fmt::format("not delivered to {}: {}", in.source, e.what()), ref);
    co_return;
  }
  json::array ids;
  for (const Receipt& r : receipts) ids.push_back(json::string(r.id));
  reply(json::object{{"op", "receipt"}, {"channel", bus::source_of(*channel)}, {"ids", std::move(ids)}},
        ref);
}

void Connection::on_log(const json::object& frame) {
  bool bad = false;
  const json::string* message = string_field(frame, "message", bad);
  if (!message) {
    error("message", bad ? "expected a string" : "missing", frame.if_contains("ref"));
    return;
  }
  auto level = spdlog::level::info;
  if (const json::string* l = string_field(frame, "level", bad)) {
    std::string_view s(*l);
    if (s == "debug") level = spdlog::level::debug;
    else if (s == "info") level = spdlog::level::info;
    else if (s == "warning" || s == "warn") level = spdlog::level::warn;
    else if (s == "error") level = spdlog::level::err;
    else if (s == "critical") level = spdlog::level::critical;
    else {
      error("level", "expected debug, info, warning, error or critical", frame.if_contains("ref"));
      return;
    }
  }
  LoggerPtr log = operator_->log();
  if (const json::string* sub = string_field(frame, "logger", bad); sub && !sub->empty()) {
    std::string name(*sub);
    bool ok = name.size() <= 64 &&
              std::all_of(name.begin(), name.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
              });
    // A bounded number of sub-loggers: each one is a logger for the host's life.
    if (ok && (sub_loggers_.count(name) || sub_loggers_.size() < 32)) {
      sub_loggers_.insert(name);
      log = logger("immp.operator." + operator_->name() + "." + name);
    }
  }
  log->log(level, "{}", std::string_view(*message));
}

void Connection::on_config(const json::object& frame, const json::value* ref) {
  if (const json::value* set = frame.if_contains("set"); set && !set->is_null()) {
    if (!set->is_object()) {
      error("set", fmt::format("expected an object (the new config block), got {}", type_name(*set)), ref);
      return;
    }
    operator_->reload(json_to_node(*set, ""), true);
  }
  reply(json::object{{"op", "config"}, {"config", node_to_json(operator_->config())}}, ref);
}

Task<> Connection::on_control(const json::object& frame, const json::value* ref) {
  if (!operator_->settings().admin) {
    error("op", "control needs `admin: true` in this operator's config entry", ref);
    co_return;
  }
  bool bad = false;
  const json::string* target = string_field(frame, "operator", bad);
  if (!target) {
    error("operator", bad ? "expected a string" : "missing", ref);
    co_return;
  }
  const json::string* action = string_field(frame, "action", bad);
  if (!action) {
    error("action", bad ? "expected a string" : "missing", ref);
    co_return;
  }
  auto c = ctx_.owner.control(std::string_view(*target), std::string_view(*action));
  auto problem = co_await std::move(c);
  if (problem) {
    error(problem->starts_with("unknown operator") ? "operator" : "action", *problem, ref);
    co_return;
  }
  reply(json::object{{"op", "done"}}, ref);
}

}  // namespace immp::operators
