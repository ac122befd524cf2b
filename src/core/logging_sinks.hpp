// Python's file and syslog handlers as spdlog sinks, where spdlog's own
// cannot say what Python's handlers do: spdlog's rotating sink renames on
// size but not by Python's rule, its daily sink writes to dated files
// instead of renaming the current one, and its syslog sink goes through
// libc's syslog(), which only reaches /dev/log. User documentation:
// docs/logging.md. Each sink formats with the formatter it is given and is
// safe to call from any thread.
#pragma once

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace immp {

// logging.FileHandler, and logging.handlers.RotatingFileHandler when
// max_bytes and backup_count are both positive: before a record would
// bring the file to max_bytes, debug.log becomes debug.log.1 (.1 becomes
// .2, ... up to backup_count). Flushes after every record, as Python does,
// so a crash loses nothing already logged. Throws spdlog::spdlog_ex when
// the file cannot be opened.
class FileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  FileSink(const std::filesystem::path& file, bool truncate, std::uint64_t max_bytes,
           int backup_count);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  std::filesystem::path numbered(int n) const;
  void rotate();

  std::filesystem::path path_;
  std::uint64_t max_bytes_;
  int backup_count_;
  spdlog::details::file_helper file_;
  std::uint64_t size_ = 0;
};

// When logging.handlers.TimedRotatingFileHandler rotates.
struct RotationSchedule {
  enum class Unit { seconds, minutes, hours, days, midnight, weekday };
  Unit unit = Unit::hours;
  int interval = 1;  // units between rotations, >= 1
  int weekday = 0;   // Unit::weekday: 0 is Monday, as in Python's W0..W6
  bool utc = false;  // compute times and name files in UTC instead of local time
  // Unit::midnight and Unit::weekday: seconds after midnight to rotate at;
  // absent: midnight.
  std::optional<int> at_time;

  // Python's suffix for rotated files: "%Y-%m-%d_%H" for hours, ...
  const char* suffix() const;
  // The first rotation after `now`, as Python's computeRollover (with
  // Python 3.13's handling of interval > 1 for midnight and weekdays).
  std::time_t next_after(std::time_t now) const;
  // The start of the period that ends at `rollover`: the time that names
  // the rotated file.
  std::time_t period_start(std::time_t rollover) const;
  std::time_t seconds() const;  // interval in seconds (a day for midnight)
};

// logging.handlers.TimedRotatingFileHandler: the first record whose time
// reaches the next rotation renames debug.log to debug.log.<start of the
// period> ("debug.log.2026-11-22" for midnight), starts a new debug.log and
// deletes the oldest rotated files beyond backup_count (0 keeps all). The
// first rotation is one period after the file was last written (or after
// now for a new file), as in Python. Rotation is driven by the records'
// own times, so a record logged with an explicit time drives it too.
// Throws spdlog::spdlog_ex when the file cannot be opened.
class TimedFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  TimedFileSink(const std::filesystem::path& file, RotationSchedule schedule, int backup_count);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  void rotate(std::time_t now);
  void delete_old();

  std::filesystem::path path_;
  RotationSchedule schedule_;
  int backup_count_;
  spdlog::details::file_helper file_;
  std::time_t rollover_at_ = 0;
};

// Where logging.handlers.SysLogHandler sends: a Unix socket path, or a
// host and port (UDP unless `stream`).
struct SyslogAddress {
  std::string path;  // non-empty: a Unix socket such as /dev/log
  std::string host;
  std::string port;
  // Unix socket: absent tries a datagram socket, then a stream socket (as
  // Python does); network: absent is UDP.
  std::optional<bool> stream;
};

// logging.handlers.SysLogHandler: each record goes out as Python sends it,
// "<PRI>" + ident + the formatted record + NUL (if append_nul), PRI being
// facility * 8 + the record's syslog severity. A Unix socket that is not
// there yet is retried with each record, as Python does; a host that
// cannot be resolved, or a TCP server that refuses, throws
// std::runtime_error at construction.
class SyslogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  SyslogSink(SyslogAddress address, int facility, std::string ident, bool append_nul);
  ~SyslogSink() override;
  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  bool connect();
  void close();
  bool send_once(const std::string& payload);

  SyslogAddress address_;
  int facility_;
  std::string ident_;
  bool append_nul_;
  int fd_ = -1;
  bool stream_ = false;
  std::vector<unsigned char> peer_;  // network datagrams: the resolved address
  // Every address the host name resolved to: a stream connection tries
  // each in turn, as Python's does ("localhost" may be ::1 first, and the
  // collector listen on 127.0.0.1 only).
  std::vector<std::vector<unsigned char>> peers_;
};

}  // namespace immp
