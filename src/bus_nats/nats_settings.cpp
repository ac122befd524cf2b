#include "bus_nats/nats_settings.hpp"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

#include "bus/envelope.hpp"

namespace immp::bus_nats {

SpecPtr bus_schema() {
  auto bridge = object({
      {"channel", text(), required, "a channel of this host: its name under channels, or plug/source"},
      {"remote", text(), required, "another host's channel: prefix/plug/source"},
  });
  auto jetstream = object({
      {"enabled", boolean(), true, "false: plain NATS, nothing kept"},
      {"stream", str(), "", "the stream of this host (default: immp_<prefix>)"},
      {"replicas", integer(), 1, "copies kept by a JetStream cluster (1 to 5)"},
      {"max_age", real(), 7.0 * 24 * 3600, "seconds a published event is kept"},
      {"max_bytes", integer(), -1, "bytes the stream keeps at most (-1: no limit)"},
      {"storage", str(), "file", "file or memory"},
      {"duplicate_window", real(), 120.0, "seconds JetStream remembers message ids (dedupe)"},
  });
  return object({
      {"runtime_dir", str(), Node(), "the local socket's directory (docs/operators.md)"},
      {"url", either({str(), list_of(str())}), Node(),
       "NATS server(s): nats://host:port, comma-separated or a list"},
      {"prefix", str(), "", "this host's token in subjects (default: the hostname)"},
      {"root", str(), "immp", "the first token of every subject"},
      {"publish", boolean(), true, "publish the host's stream"},
      {"requests", boolean(), true, "answer send requests on <root>.<prefix>.send"},
      {"queue", integer(), 100000, "events waiting to be published, at most (then drop oldest)"},
      {"bridges", list_of(bridge), Node::list(), "channels of other hosts relayed into ours"},
      {"jetstream", jetstream, Node(), "durability: a stream per host, durable consumers"},
      {"connect_timeout", real(), 2.0, "seconds to wait for the first connection"},
  });
}

bool wants_nats(const Node* bus) {
  if (!bus || !bus->is_map()) return false;
  const Node* url = bus->find("url");
  return url && !url->is_null();
}

namespace {

bool token_chars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "immp";
  return js_name(buf);
}

void check_url(const Node& node, const std::string& url) {
  auto scheme = url.find("://");
  std::string_view s(url);
  if (scheme == std::string::npos) {
    node.fail(fmt::format("'{}' is not a NATS url: expected nats://host:port", url));
  }
  std::string_view name = s.substr(0, scheme);
  if (name != "nats" && name != "tls") {
    node.fail(fmt::format("'{}': the scheme must be nats:// or tls://, not {}://", url, name));
  }
  std::string_view rest = s.substr(scheme + 3);
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (rest.empty() || rest.front() == ':') node.fail(fmt::format("'{}': no host", url));
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = rest.substr(colon + 1);
    while (!port.empty() && port.back() == '/') port.remove_suffix(1);
    int value = 0;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) {
        node.fail(fmt::format("'{}': the port must be a number", url));
      }
      value = value * 10 + (c - '0');
      if (value > 65535) break;
    }
    if (port.empty() || value == 0 || value > 65535) {
      node.fail(fmt::format("'{}': the port must be 1 to 65535", url));
    }
  }
}

double seconds(const Node& n, double min) {
  double s = n.as_double();
  if (!(s >= min) || !std::isfinite(s)) n.fail(fmt::format("must be at least {} seconds", min));
  return s;
}

}  // namespace

NatsSettings read_nats_settings(const Node& bus, const Host& host) {
  NatsSettings out;
  const Node& url = bus.at("url");
  auto add_urls = [&](const Node& node) {
    std::string_view all = node.as_string();
    while (!all.empty()) {
      auto comma = all.find(',');
      std::string one(all.substr(0, comma));
      all = comma == std::string_view::npos ? std::string_view() : all.substr(comma + 1);
      while (!one.empty() && one.front() == ' ') one.erase(one.begin());
      while (!one.empty() && one.back() == ' ') one.pop_back();
      if (one.empty()) continue;
      check_url(node, one);
      out.servers.push_back(std::move(one));
    }
  };
  if (url.is_list()) {
    for (const Node& item : url.as_list()) add_urls(item);
  } else {
    add_urls(url);
  }
  if (out.servers.empty()) url.fail("no NATS server: expected nats://host:port");

  const Node& prefix = bus.at("prefix");
  out.subjects.prefix = prefix.as_string().empty() ? hostname() : prefix.as_string();
  if (!token_chars(out.subjects.prefix)) {
    prefix.fail(fmt::format("'{}': a prefix is letters, digits, '-' and '_' only (one subject token)",
                            out.subjects.prefix));
  }
  const Node& root = bus.at("root");
  out.subjects.root = root.as_string();
  if (!token_chars(out.subjects.root)) {
    root.fail(fmt::format("'{}': the root is letters, digits, '-' and '_' only (one subject token)",
                          out.subjects.root));
  }
  out.publish = bus.at("publish").as_bool();
  out.requests = bus.at("requests").as_bool();
  const Node& queue = bus.at("queue");
  if (queue.as_int() < 1) queue.fail("must be at least 1");
  out.queue = static_cast<std::size_t>(queue.as_int());
  out.connect_timeout = std::chrono::milliseconds(
      static_cast<std::int64_t>(seconds(bus.at("connect_timeout"), 0.1) * 1000));

  for (const Node& entry : bus.at("bridges").as_list()) {
    BridgeSettings b;
    const Node& channel = entry.at("channel");
    b.name = channel.as_text();
    auto resolved = bus::resolve_source(host, b.name);
    if (!resolved) {
      channel.fail(fmt::format(
          "no channel '{}' on this host (a name under channels, or plug/source)", b.name));
    }
    b.channel = *resolved;
    const Node& remote = entry.at("remote");
    auto parsed = parse_remote(remote.as_text());
    if (!parsed) {
      remote.fail(fmt::format("'{}': expected prefix/plug/source (another host's channel)",
                              remote.as_text()));
    }
    if (parsed->prefix == out.subjects.prefix) {
      remote.fail(fmt::format("'{}' names this host's own prefix '{}': a bridge joins another host",
                              remote.as_text(), parsed->prefix));
    }
    b.remote = std::move(*parsed);
    out.bridges.push_back(std::move(b));
  }

  const Node& js = bus.at("jetstream");
  if (!js.is_null()) {
    auto& j = out.jetstream;
    j.enabled = js.at("enabled").as_bool();
    j.stream = js.at("stream").as_string();
    if (j.stream.empty()) j.stream = js_name(out.subjects.root + "_" + out.subjects.prefix);
    if (!token_chars(j.stream)) {
      js.at("stream").fail(fmt::format("'{}': a stream name is letters, digits, '-' and '_' only",
                                       j.stream));
    }
    const Node& replicas = js.at("replicas");
    if (replicas.as_int() < 1 || replicas.as_int() > 5) replicas.fail("must be 1 to 5");
    j.replicas = static_cast<int>(replicas.as_int());
    j.max_age = std::chrono::seconds(static_cast<std::int64_t>(seconds(js.at("max_age"), 1)));
    j.max_bytes = js.at("max_bytes").as_int();
    if (j.max_bytes == 0 || j.max_bytes < -1) js.at("max_bytes").fail("must be -1 (no limit) or more than 0");
    const std::string& storage = js.at("storage").as_string();
    if (storage != "file" && storage != "memory") {
      js.at("storage").fail(fmt::format("'{}': expected file or memory", storage));
    }
    j.memory = storage == "memory";
    j.duplicate_window =
        std::chrono::seconds(static_cast<std::int64_t>(seconds(js.at("duplicate_window"), 1)));
  }
  return out;
}

}  // namespace immp::bus_nats
