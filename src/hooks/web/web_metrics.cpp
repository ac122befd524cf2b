#include "hooks/web/web_metrics.hpp"

#include <fmt/format.h>

namespace immp::web {

namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string escape_label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Metrics::Key Metrics::key(const Host& host, const Channel& channel) {
  std::string plug = channel.handle ? channel.handle->name() : std::string();
  return {std::move(plug), host.channel_name(channel).value_or("")};
}

std::string Metrics::render(const Host& host, std::size_t stream_clients,
                            std::size_t connections) const {
  std::string out;
  auto counts = [&](std::string_view name, std::string_view help,
                    const std::map<Key, std::uint64_t>& values) {
    family(out, name, "counter", help);
    for (const auto& [k, n] : values) {
      out += fmt::format("{}{{plug=\"{}\",channel=\"{}\"}} {}\n", name, escape_label(k.first),
                         escape_label(k.second), n);
    }
  };
  counts("immp_messages_received_total", "Messages the host received from networks.", in_);
  counts("immp_messages_sent_total", "Messages sent to channels (before delivery).", out_);

  family(out, "immp_plug_up", "gauge", "1 when the plug is active and its link is up.");
  for (Plug* p : host.plugs()) {
    out += fmt::format("immp_plug_up{{plug=\"{}\",state=\"{}\"}} {}\n", escape_label(p->name()),
                       state_name(p->state()), p->state() == State::active && p->online() ? 1 : 0);
  }
  family(out, "immp_hook_up", "gauge", "1 when the hook is active.");
  for (Hook* h : host.hooks()) {
    out += fmt::format("immp_hook_up{{hook=\"{}\",state=\"{}\"}} {}\n", escape_label(h->name()),
                       state_name(h->state()), h->state() == State::active ? 1 : 0);
  }

  auto box = host.outbox_stats();
  family(out, "immp_outbox_pending", "gauge", "Messages waiting in outboxes, all channels.");
  out += fmt::format("immp_outbox_pending {}\n", box.pending);
  family(out, "immp_outbox_total", "counter", "Outbox events by outcome.");
  const std::pair<std::string_view, std::uint64_t> outcomes[] = {
      {"queued", box.queued},         {"delivered", box.delivered}, {"retried", box.retried},
      {"partial", box.partial},       {"failed", box.failed},       {"expired", box.expired},
      {"overflowed", box.overflowed}, {"restored", box.restored},
  };
  for (auto [what, n] : outcomes) {
    out += fmt::format("immp_outbox_total{{outcome=\"{}\"}} {}\n", what, n);
  }
  auto hooks = host.hook_stats();
  family(out, "immp_hook_timeouts_total", "counter",
         "Hook stages cancelled for running past the hook timeout.");
  out += fmt::format("immp_hook_timeouts_total {}\n", hooks.timed_out);
  family(out, "immp_hook_dropped_total", "counter", "Messages lost by hooks that fell behind.");
  out += fmt::format("immp_hook_dropped_total {}\n", hooks.dropped);

  family(out, "immp_stream_clients", "gauge", "Clients following the web stream now.");
  out += fmt::format("immp_stream_clients {}\n", stream_clients);
  family(out, "immp_web_connections", "gauge", "HTTP and WebSocket connections open now.");
  out += fmt::format("immp_web_connections {}\n", connections);
  return out;
}

}  // namespace immp::web
