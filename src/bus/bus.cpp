#include "bus/bus.hpp"

#include <array>

#include <fmt/format.h>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>

namespace immp::bus {

namespace json = boost::json;

const std::string& envelope_line(const Event& event) {
  if (event.envelope.empty() && event.sent) {
    // Built, serialised and dropped at once: the tree comes from a buffer
    // on the stack (spilling to the heap for large messages), not from
    // one allocation per node.
    std::array<unsigned char, 8192> buffer;
    json::monotonic_resource arena(buffer.data(), buffer.size());
    json::object envelope = to_envelope(*event.sent, event.seq, &arena);
    event.envelope = json::serialize(envelope);
  }
  return event.envelope;
}

const std::string& event_plain(const Event& event) {
  if (!event.sent) return event.plain;
  if (!event.sent_plain) {
    event.sent_plain = event.sent->text ? event.sent->plain() : std::string();
  }
  return *event.sent_plain;
}

std::string_view event_user_id(const Event& event) {
  if (!event.sent) return event.user_id;
  return event.sent->user ? std::string_view(event.sent->user->id) : std::string_view();
}

std::string_view event_username(const Event& event) {
  if (!event.sent) return event.username;
  return event.sent->user ? std::string_view(event.sent->user->username) : std::string_view();
}

Bus::Bus(Host& host, std::size_t keep) : host_(host), keep_(keep) {}

SubscriberPtr Bus::subscribe(SubscriberOptions options) {
  std::optional<std::uint64_t> since = options.since;
  auto sub = std::make_shared<Subscriber>(host_.executor(), std::move(options));
  if (since && *since < seq_) {
    // Replay what is still kept; what is older is reported as missed.
    std::uint64_t oldest = kept_.empty() ? seq_ + 1 : kept_.front()->seq;
    if (*since + 1 < oldest) sub->missed_ += oldest - *since - 1;
    for (const auto& e : kept_) {
      if (e->seq > *since && sub->filter().matches_now(*e) && !sub->filter().has_groups() &&
          (sub->options().own_events || e->from != sub->name())) {
        sub->queue_.push(e);
        ++sub->accepted_;
      }
    }
  }
  subscribers_.push_back(sub);
  return sub;
}

EventPtr Bus::make_event(const SentPtr& sent) {
  auto e = std::make_shared<Event>();
  e->seq = ++seq_;
  e->kind = kind_of(*sent);
  e->type = kind_name(*e->kind);
  e->channel = sent->channel;
  e->sent = sent;  // what filters match is read from it when asked
  return e;
}

Task<> Bus::publish(const SentPtr& sent) {
  auto event = make_event(sent);
  co_await fan_out(event);
}

Task<std::uint64_t> Bus::emit(const Incoming& in, const std::string& from) {
  auto e = std::make_shared<Event>();
  e->seq = ++seq_;
  e->kind = in.kind;
  e->type = in.type;
  e->channel = resolve_source(host_, in.source);
  e->from = from;
  if (const auto* d = in.data.if_object()) {
    if (const auto* p = d->if_contains("plain"); p && p->is_string()) e->plain = p->as_string();
    if (const auto* t = d->if_contains("text"); t && t->is_string()) e->plain = t->as_string();
    if (const auto* u = d->if_contains("user"); u && u->is_object()) {
      if (const auto* id = u->as_object().if_contains("id"); id && id->is_string()) {
        e->user_id = id->as_string();
      }
      if (const auto* n = u->as_object().if_contains("username"); n && n->is_string()) {
        e->username = n->as_string();
      }
    }
  }
  // The operator's envelope as it sent it, but numbered by the bus and
  // marked with who emitted it.
  json::object env;
  env["specversion"] = "1.0";
  env["immpversion"] = kEnvelopeVersion;
  env["id"] = std::to_string(e->seq);
  env["source"] = in.source;
  env["type"] = in.type;
  if (!in.subject.empty()) env["subject"] = in.subject;
  env["immpoperator"] = from;
  env["immpref"] = in.id;
  if (!in.data.is_null()) {
    env["datacontenttype"] = "application/json";
    env["data"] = in.data;
  }
  e->envelope = json::serialize(env);
  std::uint64_t seq = e->seq;
  EventPtr event = std::move(e);
  co_await fan_out(event);
  co_return seq;
}

Task<> Bus::fan_out(const EventPtr& event) {
  // A snapshot: a group filter may wait, and meanwhile subscribers come
  // and go.
  boost::container::small_vector<SubscriberPtr, 8> subs;
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    SubscriberPtr sub = it->lock();
    if (!sub || sub->queue_.closed()) {
      it = subscribers_.erase(it);
      continue;
    }
    subs.push_back(std::move(sub));
    ++it;
  }
  for (const auto& sub : subs) {
    if (!sub->options().own_events && !event->from.empty() && event->from == sub->name()) continue;
    bool wanted = false;
    if (sub->filter().has_groups()) {
      wanted = co_await sub->filter().matches(host_, *event);
    } else {
      wanted = sub->filter().matches_now(*event);
    }
    if (!wanted) continue;
    if (sub->queue_.push(event)) ++sub->accepted_;
    sub->pushed();
  }
  if (keep_) {
    kept_.push_back(event);
    if (kept_.size() > keep_) kept_.pop_front();
  }
}

std::size_t Bus::subscribers() {
  subscribers_.remove_if([](const auto& w) { return w.expired(); });
  return subscribers_.size();
}

std::string Bus::depths() {
  std::string out;
  for (const auto& w : subscribers_) {
    if (auto s = w.lock()) {
      out += fmt::format("{}{}={}", out.empty() ? "" : " ", s->name(), s->queue().size());
    }
  }
  return out;
}

}  // namespace immp::bus
