// NatsHook: the host's side of NATS (docs/protocol.md, "NATS"). Publishes
// the host's stream as CloudEvents envelopes under subjects that carry
// plug, channel and kind; answers send requests with a receipt or an
// error; relays the messages of other hosts' channels (`bridges`) into
// this host's channels; with `jetstream`, keeps its stream in a JetStream
// stream and reads bridged channels through durable consumers, so a host
// that was down catches up and nothing is doubled.
//
// The runner adds it (named `bus.nats`) when the `bus` section has a url.
// Runs on the host's executor; the NATS client's threads only hand
// messages over to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "bus_nats/nats_settings.hpp"
#include "immp/hook.hpp"
#include "immp/host.hpp"

namespace immp::bus_nats {

struct NatsStats {
  std::uint64_t published = 0;   // events handed to NATS
  std::uint64_t confirmed = 0;   // of those, stored by JetStream (acknowledged)
  std::uint64_t retried = 0;     // publishes JetStream refused or left unanswered, sent again
  std::uint64_t dropped = 0;     // events dropped because the publish queue was full
  std::uint64_t relayed = 0;     // bridged messages posted into this host's channels
  std::uint64_t duplicates = 0;  // bridged messages seen before, skipped
  std::uint64_t changed = 0;     // bridged edits, deletes and reactions applied to copies here
  std::uint64_t lagged = 0;      // bridged events left unrelayed: their channel took nothing for long
  std::uint64_t answered = 0;    // send requests answered with a receipt
  std::uint64_t refused = 0;     // send requests answered with an error
};

class NatsHook final : public Hook {
 public:
  // The owner of the posts that relay bridged messages (Received::origin):
  // their echoes are published marked as relayed and never bridged again.
  static constexpr std::string_view kOwner = "bus.nats";

  NatsHook(const Init& init, NatsSettings settings);
  ~NatsHook() override;

  // Connects (or keeps trying in the background: a host starts without
  // its NATS server), then sets up the stream and the bridges.
  Task<> start() override;
  // Publishes what is queued (bounded wait), then closes. Durable
  // consumers stay on the server for the next start.
  Task<> stop() override;
  Task<> on_receive(const Received& received) override;

  const NatsSettings& settings() const { return settings_; }
  const NatsStats& stats() const;
  // Waits until the stream exists (with JetStream) and every bridge is
  // subscribed; false after `timeout`.
  Task<bool> ready(std::chrono::milliseconds timeout);
  // Waits until every queued event went out (and, with JetStream, was
  // stored); false after `timeout`.
  Task<bool> flush(std::chrono::milliseconds timeout);

  struct Impl;

 private:
  NatsSettings settings_;
  std::shared_ptr<Impl> impl_;
};

// The hook for a config whose `bus` section has a url (named `bus.nats`);
// null otherwise. Throws ConfigError for a bad section.
std::unique_ptr<NatsHook> make_nats_hook(Host& host, const Node& root);

}  // namespace immp::bus_nats
