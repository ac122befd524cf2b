// The host's internal state. Internal to src/core.
#pragma once

#include <time.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/small_vector.hpp>

#include "core/outbox.hpp"
#include "core/plug_core.hpp"
#include "immp/host.hpp"
#include "immp/queue.hpp"
#include "immp/tasks.hpp"

namespace immp::detail {

// A hook and its place in the pipeline.
struct HookSlot {
  HookSlot(Executor ex, std::unique_ptr<Hook> h, std::optional<int> p, std::size_t capacity)
      : hook(std::move(h)), priority(p), inbox(ex, capacity, Overflow::drop_oldest), drained(ex) {}
  std::unique_ptr<Hook> hook;
  std::optional<int> priority;
  bool resource = false;
  bool removed = false;  // taken out of the host; dispatches in flight skip it
  // The queue of an unprioritised hook: its own worker drains it in order,
  // so a slow hook never delays the others nor the networks.
  ConsumerQueue<Received> inbox;
  bool worker = false;
  // A full queue holds the readers back (a burst fills any queue) while the
  // hook makes progress; readers wait in turn (tickets, first come first
  // served), so no plug's reader starves another's. A hook that takes no
  // message off its queue for the hook timeout is `lagging`: it loses its
  // oldest messages, without holding anyone back, until it has caught up.
  Signal drained;
  bool feeder_waiting = false;
  bool lagging = false;
  std::deque<std::uint64_t> tickets;  // readers waiting for room, in order
  std::uint64_t next_ticket = 0;
  std::uint64_t taken = 0;                    // messages the worker took: its progress
  std::unique_ptr<asio::steady_timer> stall;  // armed while readers wait
  bool stalled = false;
};
using HookSlotPtr = std::shared_ptr<HookSlot>;

// Which hooks run at each stage, in order. Immutable once made: a dispatch
// keeps the plan it started with, so a plan changed under it (a hook added,
// removed or failed at runtime) never invalidates what it iterates.
struct Plan {
  std::vector<HookSlotPtr> before_receivers;  // priority order, then config order
  std::vector<HookSlotPtr> ordered;           // prioritised on_receive, lowest first
  std::vector<HookSlotPtr> unordered;         // everyone else with on_receive
  std::vector<HookSlotPtr> before_senders;    // priority order
};

// One reader per active plug; the watchdog reads its current stage.
struct HostCore;
struct Reader {
  Plug* plug = nullptr;
  HostCore* core = nullptr;
  asio::cancellation_signal* cancel = nullptr;  // the task's, valid while it runs
  const HookSlot* stage = nullptr;              // the hook stage in progress, if any
  const char* stage_name = "";
  std::uint64_t stage_seq = 0;  // bumped at every stage
  std::uint64_t seen_seq = 0;   // the watchdog's last look
  int seen_ticks = 0;
  bool timed_out = false;  // the watchdog cancelled the stage
};

// What one put() attempt needs; Posting is its face to the plug. The
// channel, message, origin and delivered parts are the caller's (the outbox
// entry's, or send()'s): referred to, not copied, so an attempt touches no
// reference count. A before_send hook's changes live in `prepared`.
struct PostingState {
  PlugCore* core = nullptr;
  const Plug* plug = nullptr;
  const Channel* channel = nullptr;
  const MessagePtr* message = nullptr;
  const OriginPtr* origin = nullptr;
  PartIds* parts = nullptr;  // delivered, over every attempt
  std::size_t resume = 0;    // parts delivered before this attempt
  // Announced, not yet sent: from `next` on. Inline for the usual one part.
  boost::container::small_vector<std::string, 1> announced;
  std::size_t next = 0;
  // Posting::ordered(): called once, when set (the outbox's pipeline).
  void (*on_ordered)(void* context) = nullptr;
  void* ordered_context = nullptr;
  std::optional<Outgoing> prepared;  // what before_send made of channel and message
};

struct HostCore {
  HostCore(Host& host, Executor ex, HostOptions opts);

  HookSlotPtr slot_of(const Hook& hook) const;
  Task<> stop_plug(Plug& plug, State final_state);
  Task<> start_plug(Plug& plug);
  Task<> stop_hook(HookSlot& slot, State final_state);
  Task<> start_hook(HookSlot& slot);
  Task<> erase_plug(Plug& plug);

  Host& host;
  Executor ex;
  HostOptions options;
  LoggerPtr log;
  // One per plug name ever used; never freed before the host (see PlugHandle).
  // Declared before `plugs`, so destroyed after them: ~Plug clears its handle.
  std::map<std::string, std::unique_ptr<PlugHandle>, std::less<>> handles;
  std::vector<std::unique_ptr<Plug>> plugs;
  PlugHandle& handle(std::string_view name);
  std::list<HookSlotPtr> hooks;  // in config order
  std::shared_ptr<const Plan> plan_;
  std::map<std::string, Channel, std::less<>> channels;
  std::map<std::string, Group, std::less<>> groups;
  std::unique_ptr<Outboxes> outboxes;
  OutboxStore* outbox_store = nullptr;  // set by the database resource
  std::list<Reader> readers_;
  Signal reader_ended;
  TaskGroup readers;
  TaskGroup workers;
  TaskGroup restarts;
  std::unique_ptr<asio::steady_timer> watchdog;
  Host::HookStats hook_stats;
  std::map<std::uint64_t, Host::StateListener> listeners;
  std::map<std::uint64_t, std::function<void(Openable&)>> config_listeners;
  std::uint64_t next_listener = 0;
  bool open = false;

  // The outboxes' clock (queued_at, expiry): milliseconds are plenty for an
  // expiry counted in hours, and the coarse clock reads no hardware counter
  // (about 8 ns a read on this machine against 45 for Clock::now(), read
  // three times per message: queued, expiry checked, delivered).
  Clock::time_point now() const {
    if (options.clock) return options.clock();
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
  }
  static PlugCore& core_of(Plug& plug) { return *plug.core_; }
  void plan();
  void set_state(Openable& item, State state, std::string reason = {});
  void emit(const StateEvent& event);
  void start_reader(Plug& plug);
  void start_worker(const HookSlotPtr& slot);
  Task<> read(Reader& reader);
  Task<> dispatch(Received received, Reader* reader);
  // Hands `r` to the queued (unordered) hooks from the i-th on, as long as
  // each has room: returns the index of the first that has none (to be fed
  // in turn), or the number of hooks. Moves `r` into the last one.
  std::size_t fan_out(const Plan& plan, Received& r, std::size_t i);
  // The rest of a fan-out from hook i on, waiting for room where needed.
  Task<> fan_out_in_turn(std::shared_ptr<const Plan> plan, Received r, std::size_t i);
  Task<> work(HookSlotPtr slot);
  Task<> feed(HookSlot& slot, const Received& received);
  void watch_stall(HookSlot& slot, std::uint64_t taken);
  void tick_watchdog();
  void arm_watchdog();
  bool watchdog_armed = false;
  Task<> restart_plug(Plug& plug);
  Task<> run_phase(std::string_view phase, std::vector<Openable*> items, bool starting);
  // before_send, then one put() attempt; the outcome and parts are in `state`.
  Task<PutResult> attempt(PostingState& state);
  // The before_send stages for `state` (only when there are any); false
  // when a hook dropped the message.
  Task<bool> prepare(PostingState& state);
  // delete_message() for a deleted SentMessage, counted as a put in flight.
  Task<PutResult> remove_message(const Channel& channel, MessagePtr message);
  void put_done(PlugCore& core);
};

// One put() attempt's bookkeeping around the plug's own put(): the Posting,
// and the put counted in flight while it lives (the reader holds back
// possible echoes meanwhile). attempt() uses it, and the outbox, which
// awaits the plug's put() itself: one coroutine frame less per message.
class PutScope {
 public:
  PutScope(HostCore& host, PostingState& state);
  ~PutScope();
  PutScope(const PutScope&) = delete;
  PutScope& operator=(const PutScope&) = delete;
  // Null when the channel's plug was removed; removed() is then the outcome.
  Plug* plug() const { return plug_; }
  Posting& posting() { return *posting_; }
  PutResult removed() const;
  // The outcome of the plug's put() as the outbox takes it.
  PutResult finish(PutResult result) const;

 private:
  HostCore& host_;
  PostingState& state_;
  Plug* plug_ = nullptr;
  std::optional<Posting> posting_;
};

// The host's internals, for the rest of src/core and the store layer.
struct HostAccess {
  static HostCore& core(Host& host) { return *host.core_; }
};

}  // namespace immp::detail
