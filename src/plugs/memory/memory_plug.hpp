// MemoryPlug: a network that lives in memory, for tests and benchmarks.
// It behaves like a real network as far as its config says: with or without
// edits, deletes, replies and echoes, private channels, slow or failing
// sends.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <set>

#include "immp/plug.hpp"
#include "immp/tasks.hpp"

namespace immp::plugs {

class MemoryPlug final : public Plug {
 public:
  static constexpr std::string_view kPath = "immp.plug.memory.MemoryPlug";
  static constexpr std::string_view kDescription = "An in-memory network for tests and benchmarks.";
  static SpecPtr schema();

  explicit MemoryPlug(const Init& init);

  std::string network_name() const override { return "Memory"; }
  std::string network_id() const override { return "memory:" + name(); }

  Task<> start() override;
  Task<> stop() override;
  Task<PutResult> put(Posting& post) override;
  bool may_be_echo(const SentMessage& sent) const override;
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override;
  Task<std::optional<std::string>> channel_title(const Channel& channel) override;
  Task<std::vector<Channel>> public_channels() override;
  Task<std::vector<Channel>> private_channels() override;
  Task<SentPtr> get_message(const Receipt& receipt) override;
  Task<> delete_message(const Receipt& receipt) override;
  // Files given by add_file(), streamed in chunks of `chunk` bytes.
  Task<FetchResult> fetch_file(const File& file, FileSink sink, std::uint64_t size_limit) override;

  // ---- for tests: what a user of this "network" would do or see ----
  // A network user posts `text` in `source`; returns what was queued.
  SentPtr inject(std::string source, std::string text, std::string user = "alice");
  SentPtr inject(std::string source, Message msg);
  // The same with a given id: an edit or delete of an earlier message.
  SentPtr inject_as(std::string source, std::string id, Message msg);
  // The same at the network's own time `at` (a server timestamp).
  SentPtr inject_at(std::string source, std::string id, Clock::time_point at, Message msg);
  // The network holds a file only it can serve (a download that needs its
  // credentials): the File to attach, fetchable through fetch_file().
  // Without `tell_size`, the network does not say how large it is.
  File add_file(std::string ref, std::string bytes, File::Type type = File::Type::unknown,
                bool tell_size = true);
  // Queues `count` numbered messages in `source`, pacing on the host.
  Task<> flood(std::string source, std::size_t count);
  // Messages posted through put(), most recent last (bounded by `keep`).
  const std::deque<SentPtr>& posted() const { return posted_; }
  std::size_t posted_count() const { return posted_count_; }
  // Deletions seen through delete_message().
  const std::vector<Receipt>& deleted() const { return deleted_; }
  // The room's title, as its users set it.
  void set_title(const std::string& source, std::string title) {
    titles_[source] = std::move(title);
  }
  // Makes put() answer "retry" (as a network that is down) until set back.
  void set_failing(bool failing) { failing_ = failing; }
  // Makes put() answer "retry after `after`" (a rate limit); zero ends it.
  void set_rate_limit(std::chrono::milliseconds after) { rate_limit_ = after; }
  // Makes put() refuse every message for good ("failed").
  void set_rejecting(bool rejecting) { rejecting_ = rejecting; }
  // The link drops after `parts` more parts went out: put() answers
  // "partial" (or "retry" if none went out). Once.
  void drop_link_after(int parts) { drop_after_ = parts; }
  // With `pipelined`: put()s wait for the network's confirmation until
  // release(); release(true) drops the link first, losing what waited.
  void hold_confirmations() { holding_ = true; }
  void release(bool lost);
  // put()s waiting for confirmation now, and the most there ever were.
  std::size_t in_flight() const { return in_flight_; }
  std::size_t max_in_flight() const { return max_in_flight_; }
  // The link goes down or comes back (Plug::set_online).
  void set_link(bool up) { set_online(up, up ? std::string() : "link down (test)"); }
  const UserPtr& user(const std::string& id);

 private:
  // Unique across restarts, as a real network's ids are; short (base 36),
  // as most networks' are, so that they fit in a string without the heap.
  static constexpr char kDigits36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  static std::string base36(std::uint64_t n) {
    char digits[13];  // 36^13 > 2^64
    char* first = std::end(digits);
    do {
      *--first = kDigits36[n % 36];
      n /= 36;
    } while (n > 0);
    return std::string(first, std::end(digits));
  }
  // Made in one buffer: one string built, no temporaries.
  std::string next_id() {
    char buf[64];
    std::size_t n = std::min(run_.size(), sizeof buf - 13);
    std::memcpy(buf, run_.data(), n);
    char digits[13];
    char* first = std::end(digits);
    for (std::uint64_t c = ++counter_; c > 0; c /= 36) *--first = kDigits36[c % 36];
    std::size_t d = static_cast<std::size_t>(std::end(digits) - first);
    std::memcpy(buf + n, first, d);
    return std::string(buf, n + d);
  }

  std::vector<std::optional<RichText>> parts_of(const Message& msg) const;
  Task<PutResult> put_pipelined(Posting& post, std::vector<std::optional<RichText>>& lines,
                                std::size_t count);

  Signal confirmations_;
  bool pipelined_ = false;
  bool holding_ = false;
  std::uint64_t link_epoch_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t max_in_flight_ = 0;

  std::string run_;
  std::map<std::string, std::string> titles_;
  bool split_lines_ = false;
  bool late_ids_ = false;
  bool rejecting_ = false;
  int drop_after_ = -1;
  std::chrono::milliseconds rate_limit_{0};
  std::uint64_t counter_ = 0;
  std::size_t keep_;
  std::chrono::milliseconds delay_;
  bool failing_ = false;
  std::set<std::string> private_sources_;
  std::set<std::string> public_sources_;
  std::deque<SentPtr> posted_;
  std::size_t posted_count_ = 0;
  std::map<std::string, SentPtr> by_id_;  // bounded like posted_
  std::vector<Receipt> deleted_;
  std::map<std::string, UserPtr> users_;
  std::map<std::string, std::shared_ptr<const std::string>> files_;  // ref -> bytes
  std::size_t chunk_ = 4096;
  UserPtr self_;
};

}  // namespace immp::plugs
