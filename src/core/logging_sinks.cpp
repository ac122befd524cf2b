#include "core/logging_sinks.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace immp {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

// ---- FileSink ------------------------------------------------------------

FileSink::FileSink(const fs::path& file, bool truncate, std::uint64_t max_bytes, int backup_count)
    : path_(file), max_bytes_(backup_count > 0 ? max_bytes : 0), backup_count_(backup_count) {
  file_.open(path_.string(), truncate);
  size_ = file_.size();
}

void FileSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  // Python's shouldRollover: the record would bring the file to maxBytes.
  if (max_bytes_ > 0 && size_ > 0 && size_ + formatted.size() >= max_bytes_) rotate();
  file_.write(formatted);
  file_.flush();
  size_ += formatted.size();
}

void FileSink::flush_() { file_.flush(); }

fs::path FileSink::numbered(int n) const {
  fs::path p = path_;
  p += "." + std::to_string(n);
  return p;
}

// Python's doRollover. Rename failures are not fatal: logging carries on in
// the reopened file.
void FileSink::rotate() {
  file_.close();
  std::error_code ec;
  for (int i = backup_count_ - 1; i > 0; --i) {
    if (fs::exists(numbered(i), ec)) {
      fs::remove(numbered(i + 1), ec);
      fs::rename(numbered(i), numbered(i + 1), ec);
    }
  }
  fs::remove(numbered(1), ec);
  fs::rename(path_, numbered(1), ec);
  file_.open(path_.string(), false);
  size_ = file_.size();
}

// ---- RotationSchedule ----------------------------------------------------

namespace {

constexpr std::time_t kDay = 24 * 60 * 60;

std::tm to_tm(std::time_t t, bool utc) {
  std::tm out{};
  if (utc) {
    ::gmtime_r(&t, &out);
  } else {
    ::localtime_r(&t, &out);
  }
  return out;
}

// The inverse of to_tm; out-of-range fields (the 32nd of a month) roll
// over, and local times find their own DST offset.
std::time_t from_tm(std::tm t, bool utc) {
  t.tm_isdst = -1;
  return utc ? ::timegm(&t) : std::mktime(&t);
}

bool calendar(RotationSchedule::Unit unit) {
  return unit == RotationSchedule::Unit::midnight || unit == RotationSchedule::Unit::weekday;
}

}  // namespace

const char* RotationSchedule::suffix() const {
  switch (unit) {
    case Unit::seconds: return "%Y-%m-%d_%H-%M-%S";
    case Unit::minutes: return "%Y-%m-%d_%H-%M";
    case Unit::hours: return "%Y-%m-%d_%H";
    default: return "%Y-%m-%d";
  }
}

std::time_t RotationSchedule::seconds() const {
  switch (unit) {
    case Unit::seconds: return interval;
    case Unit::minutes: return 60 * static_cast<std::time_t>(interval);
    case Unit::hours: return 3600 * static_cast<std::time_t>(interval);
    case Unit::weekday: return 7 * kDay * interval;
    default: return kDay * interval;
  }
}

std::time_t RotationSchedule::next_after(std::time_t now) const {
  if (!calendar(unit)) return now + seconds();
  // Python counts seconds from now and patches DST differences afterwards;
  // counting calendar days and letting mktime find the offset lands on the
  // same wall-clock time without the patch.
  std::tm t = to_tm(now, utc);
  const int now_second = t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec;
  int at = 0;
  int days = 1;  // no atTime: the coming midnight
  if (at_time) {
    at = *at_time;
    days = at < now_second ? 1 : 0;
  }
  if (unit == Unit::weekday) {
    const int day = ((t.tm_wday + 6) % 7 + days) % 7;  // 0 is Monday
    days += (weekday - day + 7) % 7;
  }
  days += (interval - 1) * (unit == Unit::weekday ? 7 : 1);
  t.tm_mday += days;
  t.tm_hour = at / 3600;
  t.tm_min = at / 60 % 60;
  t.tm_sec = at % 60;
  return from_tm(t, utc);
}

std::time_t RotationSchedule::period_start(std::time_t rollover) const {
  if (!calendar(unit)) return rollover - seconds();
  std::tm t = to_tm(rollover, utc);
  t.tm_mday -= static_cast<int>(seconds() / kDay);
  return from_tm(t, utc);
}

// ---- TimedFileSink -------------------------------------------------------

TimedFileSink::TimedFileSink(const fs::path& file, RotationSchedule schedule, int backup_count)
    : path_(file), schedule_(schedule), backup_count_(backup_count) {
  // Python starts the first period when the file was last written.
  std::time_t start = Clock::to_time_t(Clock::now());
  std::error_code ec;
  if (const auto written = fs::last_write_time(path_, ec); !ec) {
    start = Clock::to_time_t(std::chrono::file_clock::to_sys(written));
  }
  file_.open(path_.string(), false);
  rollover_at_ = schedule_.next_after(start);
}

void TimedFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  const std::time_t now = Clock::to_time_t(std::chrono::floor<std::chrono::seconds>(msg.time));
  if (now >= rollover_at_) rotate(now);
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  file_.write(formatted);
  file_.flush();
}

void TimedFileSink::flush_() { file_.flush(); }

// Python's doRollover, except that a rotated file of the same name (immp
// restarted within the period) is appended to instead of replaced.
void TimedFileSink::rotate(std::time_t now) {
  std::error_code ec;
  std::time_t next = schedule_.next_after(now);
  while (next <= now) next += schedule_.seconds();
  const std::time_t start = schedule_.period_start(rollover_at_);
  rollover_at_ = next;
  // Python never rotates anything but a regular file (/dev/null, a FIFO).
  if (fs::exists(path_, ec) && !fs::is_regular_file(path_, ec)) return;

  const std::tm t = to_tm(start, schedule_.utc);
  char stamp[64];
  const std::size_t n = std::strftime(stamp, sizeof stamp, schedule_.suffix(), &t);
  fs::path target = path_;
  target += "." + std::string(stamp, n);

  file_.close();
  if (fs::exists(target, ec)) {
    {
      std::ofstream out(target, std::ios::binary | std::ios::app);
      std::ifstream in(path_, std::ios::binary);
      out << in.rdbuf();
    }
    fs::remove(path_, ec);
  } else {
    fs::rename(path_, target, ec);
  }
  if (backup_count_ > 0) delete_old();
  // Rename failures are not fatal: logging carries on in the reopened file.
  file_.open(path_.string(), false);
}

// Python's getFilesToDelete: rotated files are the base name, a dot, and a
// dot-separated part with the suffix's shape; the oldest beyond backupCount
// go (the suffix sorts by time).
void TimedFileSink::delete_old() {
  std::string shape = schedule_.suffix();
  for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{"%Y", "####"},
                                 {"%m", "##"},
                                 {"%d", "##"},
                                 {"%H", "##"},
                                 {"%M", "##"},
                                 {"%S", "##"}}) {
    if (const std::size_t at = shape.find(from); at != std::string::npos) {
      shape.replace(at, from.size(), to);
    }
  }
  auto rotated = [&](std::string_view part) {
    if (part.size() != shape.size()) return false;
    for (std::size_t i = 0; i < part.size(); ++i) {
      const bool ok = shape[i] == '#' ? std::isdigit(static_cast<unsigned char>(part[i])) != 0
                                      : shape[i] == part[i];
      if (!ok) return false;
    }
    return true;
  };
  const std::string prefix = path_.filename().string() + ".";
  fs::path dir = path_.parent_path();
  if (dir.empty()) dir = ".";
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string_view rest = std::string_view(name).substr(prefix.size());
    bool match = false;
    while (!match) {
      const std::size_t dot = rest.find('.');
      match = rotated(rest.substr(0, dot));
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    if (match) found.push_back(entry.path());
  }
  if (found.size() <= static_cast<std::size_t>(backup_count_)) return;
  std::sort(found.begin(), found.end());
  found.resize(found.size() - static_cast<std::size_t>(backup_count_));
  for (const fs::path& old : found) fs::remove(old, ec);
}

// ---- SyslogSink ----------------------------------------------------------

namespace {

// Python's SysLogHandler.mapPriority, with immp's TRACE as debug (Python
// would send an unknown level as warning).
int severity(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    default: return 2;
  }
}

std::string where(const SyslogAddress& address) {
  return address.path.empty() ? address.host + ":" + address.port : address.path;
}

}  // namespace

SyslogSink::SyslogSink(SyslogAddress address, int facility, std::string ident, bool append_nul)
    : address_(std::move(address)),
      facility_(facility),
      ident_(std::move(ident)),
      append_nul_(append_nul) {
  if (!address_.path.empty()) {
    if (address_.path.size() >= sizeof(sockaddr_un::sun_path)) {
      throw std::runtime_error("the socket path is longer than " +
                               std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    // As C's openlog() and Python: a syslog daemon that is not there yet is
    // no error; each record tries again.
    connect();
    return;
  }
  stream_ = address_.stream.value_or(false);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = stream_ ? SOCK_STREAM : SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(address_.host.c_str(), address_.port.c_str(), &hints, &found);
      rc != 0) {
    throw std::runtime_error("cannot resolve " + where(address_) + ": " + ::gai_strerror(rc));
  }
  for (const addrinfo* a = found; a; a = a->ai_next) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(a->ai_addr);
    peers_.emplace_back(bytes, bytes + a->ai_addrlen);
  }
  ::freeaddrinfo(found);
  peer_ = peers_.front();
  if (!connect()) {
    throw std::runtime_error("cannot connect to " + where(address_) + ": " + std::strerror(errno));
  }
}

SyslogSink::~SyslogSink() { close(); }

void SyslogSink::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SyslogSink::connect() {
  close();
  if (!address_.path.empty()) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::memcpy(un.sun_path, address_.path.data(), address_.path.size());
    std::vector<bool> kinds;
    if (address_.stream) {
      kinds.push_back(*address_.stream);
    } else {
      kinds = {false, true};
    }
    for (const bool stream : kinds) {
      fd_ = ::socket(AF_UNIX, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
      if (fd_ < 0) return false;
      if (::connect(fd_, reinterpret_cast<const sockaddr*>(&un), sizeof un) == 0) {
        stream_ = stream;
        return true;
      }
      const int error = errno;
      close();
      errno = error;
    }
    return false;
  }
  if (!stream_) {
    // UDP stays unconnected, as Python's: an ICMP "port unreachable" from
    // an absent collector must not turn later sends into errors.
    const auto* peer = reinterpret_cast<const sockaddr*>(peer_.data());
    fd_ = ::socket(peer->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return fd_ >= 0;
  }
  int error = ECONNREFUSED;
  for (const auto& candidate : peers_) {
    const auto* peer = reinterpret_cast<const sockaddr*>(candidate.data());
    fd_ = ::socket(peer->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    if (::connect(fd_, peer, static_cast<socklen_t>(candidate.size())) == 0) {
      peer_ = candidate;
      return true;
    }
    error = errno;
    close();
  }
  errno = error;
  return false;
}

bool SyslogSink::send_once(const std::string& payload) {
  if (fd_ < 0 && !connect()) return false;
  if (!stream_ && address_.path.empty()) {
    return ::sendto(fd_, payload.data(), payload.size(), MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(peer_.data()),
                    static_cast<socklen_t>(peer_.size())) == static_cast<ssize_t>(payload.size());
  }
  std::size_t sent = 0;
  while (sent < payload.size()) {
    const ssize_t n = ::send(fd_, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

void SyslogSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  std::string payload = "<" + std::to_string(facility_ * 8 + severity(msg.level)) + ">" + ident_;
  payload.append(formatted.data(), formatted.size());
  if (append_nul_) payload.push_back('\0');
  // As Python: a failed send reconnects once (syslogd restarted) and tries
  // again.
  if (send_once(payload)) return;
  if (connect() && send_once(payload)) return;
  throw spdlog::spdlog_ex("syslog: cannot send to " + where(address_), errno);
}

}  // namespace immp
