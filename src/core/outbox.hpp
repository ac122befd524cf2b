// Outboxes: one ordered, bounded, retrying, persistable queue per
// destination channel. Internal to the host; hooks use Host::post().
#pragma once

#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>

#include <boost/container/small_vector.hpp>

#include "immp/backoff.hpp"
#include "immp/host.hpp"
#include "immp/ring.hpp"
#include "immp/tasks.hpp"

namespace immp::detail {

struct HostCore;
struct PostingState;

// Ids of the parts of one message that went out: inline for the usual one.
using PartIds = boost::container::small_vector<std::string, 1>;

// Outboxes::take_off() moves one field by field: add new fields there too.
struct OutboxEntry {
  std::string id;  // unique across restarts; made when first saved
  std::int64_t seq = 0;
  Channel channel;  // set when saved (the box has it meanwhile)
  MessagePtr message;
  OriginPtr origin;  // who posted it; null if nobody said
  PartIds parts;     // ids of the parts already delivered
  Clock::time_point queued_at;
  bool persisted = false;
};

// Where outbox entries wait while their plug is down. Implemented by the
// database resource. Calls come from the host's executor.
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  // Fire-and-forget; applied in call order. Saving an entry again (same
  // id) updates its delivered parts.
  virtual void save(const OutboxEntry& entry) = 0;
  virtual void remove(const std::string& id) = 0;
  // Every saved entry, oldest first. Entries whose plug is gone come back
  // with a null channel.plug.
  virtual Task<std::vector<OutboxEntry>> load(const Host& host) = 0;
};

// The one door from the store layer into the host: lets the database
// resource keep undelivered messages (null: none).
void set_outbox_store(Host& host, OutboxStore* store);

// Messages waiting in, or going out of, `channel`'s outbox now: for a
// poster that paces itself to what the network takes (the plug's
// OutboxPolicy::capacity is where the oldest start to be dropped).
std::size_t outbox_depth(Host& host, const Channel& channel);
// Messages `channel`'s outbox dropped since the host started: over
// capacity, past the expiry, or refused for good by the network.
std::uint64_t outbox_drops(Host& host, const Channel& channel);

class Outboxes {
 public:
  Outboxes(HostCore& core, LoggerPtr log);

  void post(const Channel& channel, MessagePtr message, OriginPtr origin);
  // Returns an id for unlisten(), which removes the listener only if it is
  // still that one.
  std::uint64_t listen(std::string owner, Host::DeliveryListener listener);
  void unlisten(const std::string& owner, std::uint64_t id);
  // Takes entries saved by an earlier run and starts delivering them.
  Task<> restore(OutboxStore& store);
  void set_store(OutboxStore* store) { store_ = store; }
  // The plug's link or state changed: its outboxes look again at once.
  void wake(const Plug& plug);
  // Waits (bounded) for what is queued to go out, then saves the rest and
  // stops every worker.
  Task<> close(std::chrono::milliseconds timeout);
  Host::OutboxStats stats() const;
  std::size_t depth(const Channel& channel) const;
  std::uint64_t dropped(const Channel& channel) const;

 private:
  struct Box;
  // One put() of one entry, taken out of the box while it runs.
  struct Flight {
    Outboxes* outboxes = nullptr;
    Box* box = nullptr;
    OutboxEntry entry;
    std::optional<PutResult> result;  // set when put() ended
    bool ordered = false;             // put() said the next may start (Posting::ordered)
  };
  // Flights in order. A flight stays where it is while others come and go
  // at the ends (fly() holds it by reference), and a landed flight's node
  // is kept for the next one: no allocation per message once warm (a
  // std::deque of flights allocated a block every second message).
  class FlightList {
   public:
    bool empty() const { return live_.empty(); }
    std::size_t size() const { return live_.size(); }
    Flight& front() { return live_.front(); }
    Flight& back() { return live_.back(); }
    auto begin() const { return live_.begin(); }
    auto end() const { return live_.end(); }
    auto rbegin() { return live_.rbegin(); }
    auto rend() { return live_.rend(); }
    // The caller sets the flight's entry (a spare keeps its old strings'
    // buffers, which the next entry's move-assignment reuses).
    Flight& emplace_back() {
      if (spare_.empty()) return live_.emplace_back();
      live_.splice(live_.end(), spare_, spare_.begin());
      return live_.back();
    }
    void pop_front() {
      Flight& f = live_.front();
      f.entry.message.reset();  // lets go of the message now
      f.entry.origin.reset();
      f.result.reset();
      f.ordered = false;
      spare_.splice(spare_.end(), live_, live_.begin());
    }
    void clear() {
      live_.clear();
      spare_.clear();
    }

   private:
    std::list<Flight> live_;
    std::list<Flight> spare_;
  };
  // A coroutine parked until it is handed work: resume() runs it at once,
  // inside the call, up to its next suspension (as co_spawn starts a task
  // on its own executor), with no post and, once warm, no allocation.
  class Parking {
   public:
    Parking() = default;
    Parking(const Parking&) = delete;
    Parking& operator=(const Parking&) = delete;
    ~Parking();
    // Suspends until resume(); throws operation_aborted when cancelled.
    Task<> park();
    // Runs the parked coroutine; false when none is parked.
    bool resume();

   private:
    struct Handler {
      virtual void complete(boost::system::error_code ec, bool inline_call) = 0;
      virtual void destroy() = 0;

     protected:
      ~Handler() = default;
    };
    template <typename H>
    struct HandlerOf;
    Handler* parked_ = nullptr;
  };
  // A task that runs pipelined flights one after another, parked between
  // them: a flight costs no task of its own (no spawn per message).
  struct Lane {
    Parking parking;
    Flight* flight = nullptr;  // handed over by launch()
  };
  struct Box {
    Box(Executor ex, Channel c, Backoff b)
        : channel(std::move(c)),
          task_name("outbox " + channel.repr()),
          wake(ex),
          landed(ex),
          backoff(b) {}
    Channel channel;
    std::string task_name;
    Ring<OutboxEntry> entries;  // no allocation per message once warm
    // In flight, oldest first; several only for a plug that pipelines.
    FlightList flights;
    std::list<Lane> lanes;          // made as the pipeline deepens; never fewer
    std::vector<Lane*> idle_lanes;  // parked, waiting for a flight
    Signal wake;                    // an entry arrived, the plug came back, or a retry is due
    Signal landed;                  // a pipelined flight ended
    std::uint64_t dropped = 0;      // overflowed, expired or failed, since the host started
    bool waiting = false;
    bool failing = false;
    bool running = false;
    bool rate_limited = false;  // waiting out the network's "retry after"
    Backoff backoff;
  };
  Box& box(const Channel& channel);
  // Takes in the entry just added at the back of the box.
  void admit(Box& box);
  void save_all(Box& box);
  void persist(Box& box, OutboxEntry& entry);
  void finish(Box& box, OutboxEntry& entry);
  // Drops the first entry if it is older than the expiry; whether it did.
  bool drop_expired(Box& box);
  void report(const Channel& channel, OutboxEntry& entry);
  Task<> run(Box& box);
  // Runs the put() of `flight`; its outcome goes into flight.result.
  Task<> fly(Flight& flight);
  // Whether the flight's put() can start at once: no delete, no before_send.
  bool direct(const Flight& flight) const;
  // Points `state` at the flight's entry (its parts are filled in place).
  void board(Flight& flight, PostingState& state);
  // What an exception out of put() means: a retry; rethrows a stop.
  static PutResult outcome_of(const std::exception_ptr& error);
  // A lane's life: `first`, then each flight launch() hands it.
  Task<> lane(Box& box, Lane& lane, Flight* first);
  // Moves the box's first entry into a new flight at the back.
  Flight& take_off(Box& box);
  // Starts the next entries' put()s while the last flight is ordered.
  void launch(Box& box);
  static void on_ordered(void* flight);
  // Takes the outcome of the oldest flight; false if it must be retried.
  bool land(Box& box, Flight& flight);
  // After a failed flight: waits for the rest, then puts back in order
  // what did not go out.
  Task<> ground(Box& box);
  // Entries of flights that never ended (stopped) go back to the box.
  void reclaim(Box& box);
  Task<> pause(Box& box, std::chrono::milliseconds delay);
  std::string next_id();

  HostCore& core_;
  LoggerPtr log_;
  OutboxStore* store_ = nullptr;
  std::unordered_map<Channel, std::unique_ptr<Box>> boxes_;  // never erased
  Box* last_box_ = nullptr;                                  // the one box() gave last
  struct Listener {
    std::uint64_t id;
    Host::DeliveryListener call;
  };
  std::map<std::string, Listener, std::less<>> listeners_;
  // The listener report() found last (map nodes stay put); reset whenever
  // listeners_ changes.
  std::pair<const std::string, Listener>* last_listener_ = nullptr;
  std::uint64_t next_listener_ = 0;
  // Deliveries whose owner is not listening (yet), kept for it.
  struct Report {
    Origin origin;
    Channel channel;
    std::vector<Receipt> receipts;
  };
  std::map<std::string, std::deque<Report>, std::less<>> unclaimed_;
  std::vector<Receipt> report_scratch_;  // reused by report()
  // Owners that listened at least once, or whose restored entries expect them.
  std::set<std::string, std::less<>> known_owners_;
  static constexpr std::size_t kUnclaimed = 10000;
  TaskGroup workers_;
  Signal settled_;  // some box emptied or failed (for close)
  Host::OutboxStats stats_;
  std::int64_t seq_;
  std::string run_id_;
  std::uint64_t counter_ = 0;
  bool closing_ = false;
};

}  // namespace immp::detail
