// The `bus` section of the config when it names a NATS server: what the
// host publishes, which send requests it takes, which channels of other
// hosts it bridges, and JetStream's durability (docs/operators.md, "NATS").
//
//   bus:
//     url: nats://127.0.0.1:4222        # or several: "nats://a:4222,nats://b:4222" or a list
//     prefix: alpha                     # this host's token in subjects (default: the hostname)
//     bridges:
//       - {channel: lobby, remote: beta/irc/#lobby}
//     jetstream: {replicas: 3}
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bus_nats/subject.hpp"
#include "immp/config.hpp"
#include "immp/host.hpp"

namespace immp::bus_nats {

// The schema of the whole `bus` section (runtime_dir of the local socket
// included), for the runner's config schema.
SpecPtr bus_schema();

struct BridgeSettings {
  Channel channel;      // this host's channel that receives
  std::string name;     // as the config wrote it, for logs
  RemoteChannel remote; // the other host's channel it receives from
};

struct JetStreamSettings {
  bool enabled = false;
  std::string stream;  // default: immp_<prefix>
  int replicas = 1;
  std::chrono::seconds max_age{7 * 24 * 3600};
  std::int64_t max_bytes = -1;
  bool memory = false;  // storage: memory rather than file
  std::chrono::seconds duplicate_window{120};
  std::chrono::milliseconds retry{250};  // delay before a refused publish is sent again
};

struct NatsSettings {
  std::vector<std::string> servers;  // "nats://host:port"
  Subjects subjects;                 // root and prefix
  bool publish = true;               // the host's stream goes out
  bool requests = true;              // send requests are answered
  std::size_t queue = 100000;        // events waiting to be published, at most (drop oldest)
  std::vector<BridgeSettings> bridges;
  JetStreamSettings jetstream;
  std::chrono::milliseconds connect_timeout{2000};
};

// Whether the validated `bus` section asks for NATS (has a url).
bool wants_nats(const Node* bus);
// Reads a validated `bus` section; channels are resolved in `host` (its
// `channels` must be added already). Throws ConfigError naming the key.
NatsSettings read_nats_settings(const Node& bus, const Host& host);

}  // namespace immp::bus_nats
