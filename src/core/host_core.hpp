// The host's internal state. Internal to src/core.
#pragma once

#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "immp/host.hpp"
#include "immp/tasks.hpp"
#include "core/outbox.hpp"

namespace immp::detail {

// One message as a hook's on_receive sees it.
struct Delivery {
  SentPtr sent;
  MessagePtr source;
  bool primary = true;
};

// A hook and its place in the pipeline.
struct HookSlot {
  HookSlot(Executor ex, std::unique_ptr<Hook> h, std::optional<int> p)
      : hook(std::move(h)), priority(p), arrived(ex), drained(ex) {}
  std::unique_ptr<Hook> hook;
  std::optional<int> priority;
  bool resource = false;
  // Inbox of an unprioritised hook: its own worker drains it in order, so
  // a slow hook never delays the others.
  std::deque<Delivery> inbox;
  Signal arrived;
  bool worker_waiting = false;
  Signal drained;
  bool feeder_waiting = false;
};

struct HostCore {
  HostCore(Executor ex, HostOptions opts);

  Executor ex;
  HostOptions options;
  LoggerPtr log;
  std::vector<std::unique_ptr<Plug>> plugs;
  std::list<HookSlot> hooks;                // in config order
  std::vector<HookSlot*> before_receivers;  // priority order, then config order
  std::vector<HookSlot*> ordered;           // prioritised on_receive, lowest first
  std::vector<HookSlot*> unordered;         // everyone else with on_receive
  std::vector<Hook*> before_senders;        // priority order
  std::map<std::string, Channel, std::less<>> channels;
  std::map<std::string, Group, std::less<>> groups;
  std::unique_ptr<Outboxes> outboxes;  // made by Host, which it refers to
  OutboxStore* outbox_store = nullptr;  // set by the database resource
  TaskGroup readers;
  TaskGroup workers;
  bool open = false;

  void plan();
  Task<> read(Plug& plug);
  Task<> dispatch(Delivery delivery);
  Task<> work(HookSlot& slot);
  Task<> feed(HookSlot& slot, const Delivery& delivery);
  Task<> run_phase(std::string_view phase, std::vector<Openable*> items, bool starting);
};

}  // namespace immp::detail
