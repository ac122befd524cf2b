// LogTail: the admin UI's live tail of the log. A spdlog sink (added as a
// log tap, immp/log.hpp) that keeps the latest records in a bounded ring,
// each with a sequence number, so that every page reads what it has not
// seen yet. Records hold the text as logged: the hook hides secrets when
// it sends them (Redactor), with what it knows then.
//
// Thread-safe: records arrive on whichever thread logs.
#pragma once

#include <spdlog/sinks/sink.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace immp::webui {

class LogTail final : public spdlog::sinks::sink {
 public:
  struct Record {
    std::uint64_t seq = 0;  // 1, 2, ... in order of arrival
    std::chrono::system_clock::time_point at;
    std::string level;   // "INFO"
    std::string logger;  // "immp.plug.irc"
    std::string text;
  };

  explicit LogTail(std::size_t capacity) : capacity_(capacity) {}

  // Called after each new record, on the thread that logged, outside the
  // ring's lock; it must be quick and must not log.
  void set_on_record(std::function<void()> on_record);

  // The records after `seq` that the ring still holds, oldest first.
  std::vector<Record> since(std::uint64_t seq) const;

  void log(const spdlog::details::log_msg& msg) override;
  void flush() override {}
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<Record> records_;
  std::uint64_t next_ = 1;
  std::function<void()> on_record_;
};

}  // namespace immp::webui
