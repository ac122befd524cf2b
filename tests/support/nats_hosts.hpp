// Hosts for the NATS tests: one io_context may carry several, each with an
// in-memory network `irc` whose channel `lobby` is given, and its
// NatsHook built from a YAML `bus` section, as the runner builds it.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "bus_nats/nats_hook.hpp"
#include "plugs/memory/memory_plug.hpp"
#include "support/async.hpp"
#include "support/memory.hpp"
#include "support/nats_server.hpp"

namespace immp::test {

// One nats-server (JetStream on) for the whole test program.
inline NatsServer& shared_nats_server() {
  static NatsServer server;
  return server;
}

// Adds to `host` the NatsHook of a YAML `bus` section (without `prefix`,
// given here), validated and read as the runner does.
inline bus_nats::NatsHook& add_nats_hook(Host& host, const std::string& prefix,
                                         const std::string& bus) {
  Node section = parse_config("prefix: " + prefix + "\n" + bus, ConfigFormat::yaml, "bus.yaml");
  section.set_path("bus");
  section.repath();
  validate(section, *bus_nats::bus_schema());
  auto hook = std::make_unique<bus_nats::NatsHook>(
      Init{std::string(bus_nats::NatsHook::kOwner), Node::map(), host},
      bus_nats::read_nats_settings(section, host));
  return static_cast<bus_nats::NatsHook&>(host.add_hook(std::move(hook)));
}

struct NatsHost {
  // `bus`: the YAML of the bus section without `prefix` (given here).
  // `network`: the memory plug's config (by default a network that echoes).
  NatsHost(asio::io_context& io_, std::string prefix, std::string lobby, const std::string& bus,
           NodeMap network = {{"echo", true}})
      : io(io_), host(io.get_executor()), mem(add_memory_plug(host, "irc", std::move(network))) {
    host.add_channel("lobby", mem.channel(lobby));
    nats = &add_nats_hook(host, prefix, bus);
  }
  ~NatsHost() {
    if (host.is_open()) run(io, host.close(), std::chrono::seconds(30));
  }
  void open() { run(io, host.open()); }
  void close() { run(io, host.close(), std::chrono::seconds(30)); }
  bool ready(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    return run(io, nats->ready(limit), limit + std::chrono::seconds(5));
  }
  bool flush(std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    return run(io, nats->flush(limit), limit + std::chrono::seconds(5));
  }
  // The texts the network got from the host, in order.
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& p : mem.posted()) out.push_back(p->plain());
    return out;
  }

  asio::io_context& io;
  Host host;
  plugs::MemoryPlug& mem;
  bus_nats::NatsHook* nats = nullptr;
};

}  // namespace immp::test
