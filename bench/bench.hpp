// Shared helpers of the benchmarks: timing, memory, the JSON line.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "alloc_count.hpp"

namespace immp::bench {

// The most memory this process ever had resident (VmHWM), in MiB.
inline double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
}

// CPU time this process used so far (user + system, every thread), in s.
inline double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(usage.ru_utime) + s(usage.ru_stime);
}

// A line of /proc/<pid>/status ("VmRSS", "VmHWM", "RssAnon", ...) in MiB;
// -1 when absent.
inline double proc_status_mb(const std::string& pid, const std::string& key) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto at = s.find("\n" + key + ":");
  if (at == std::string::npos) return -1;
  return std::strtod(s.c_str() + at + key.size() + 2, nullptr) / 1024.0;
}

// What this process has resident now (VmRSS), in MiB.
inline double rss_mb() { return proc_status_mb("self", "VmRSS"); }

struct Stopwatch {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

inline std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// One JSON object on one line of stdout, keys in the order added.
class Json {
 public:
  explicit Json(std::string_view bench) { str("bench", bench); }

  Json& str(std::string_view key, std::string_view value) {
    this->key(key);
    quote(value);
    return *this;
  }
  Json& num(std::string_view key, double value, int decimals = 3) {
    this->key(key);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
    out_ += buf;
    return *this;
  }
  Json& count(std::string_view key, std::uint64_t value) {
    this->key(key);
    out_ += std::to_string(value);
    return *this;
  }
  // A value written as is (a JSON array, say).
  Json& raw(std::string_view key, std::string_view json) {
    this->key(key);
    out_ += json;
    return *this;
  }
  Json& flag(std::string_view key, bool value) {
    this->key(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  // allocs_per_msg of a window over `messages` messages: everything
  // allocated in the window, every thread. With `inbound` (what composing
  // the incoming messages took, i.e. the source network's side), also the
  // split: allocs_inbound_per_msg + allocs_relay_per_msg (host, hooks,
  // destination plug, database) = allocs_per_msg.
  Json& allocs(const AllocCounts& c, std::uint64_t messages, const AllocCounts* inbound = nullptr) {
    double n = messages ? static_cast<double>(messages) : 1.0;
    num("allocs_per_msg", static_cast<double>(c.total()) / n, 2);
    if (inbound) {
      num("allocs_inbound_per_msg", static_cast<double>(inbound->total()) / n, 2);
      num("allocs_relay_per_msg", static_cast<double>(c.total() - inbound->total()) / n, 2);
    }
    num("alloc_bytes_per_msg", static_cast<double>(c.bytes) / n, 0);
    num("asio_allocs_per_msg", static_cast<double>(c.aligned) / n, 2);
    if (c.mallocs) num("sqlite_allocs_per_msg", static_cast<double>(c.mallocs) / n, 2);
    return *this;
  }
  void print() {
    std::printf("%s}\n", out_.c_str());
    std::fflush(stdout);
  }

 private:
  void key(std::string_view k) {
    out_ += out_.empty() ? "{" : ",";
    quote(k);
    out_ += ':';
  }
  void quote(std::string_view s) {
    out_ += '"';
    for (char c : s) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += c;
      }
    }
    out_ += '"';
  }
  std::string out_;
};

// The median of some figures (the upper one of an even count).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

inline std::string json_array(const std::vector<double>& v, int decimals = 0) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%.*f", i ? "," : "", decimals, v[i]);
    out += buf;
  }
  return out + "]";
}

// Runs `fn` in a child process of its own (its own heap, so its own peak
// RSS) and returns its exit status. IMMP_BENCH_NO_FORK=1: in this process.
inline int in_child(const std::function<int()>& fn) {
  std::fflush(stdout);
  if (std::getenv("IMMP_BENCH_NO_FORK")) return fn();
  pid_t child = fork();
  if (child == 0) {
    int rc = fn();
    std::fflush(stdout);
    std::_Exit(rc);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// A benchmark: runs, prints its JSON lines, returns 0 on success.
using Benchmark = std::function<int(int argc, char** argv)>;
std::map<std::string, Benchmark>& registry();

struct Register {
  Register(const std::string& name, Benchmark b) { registry()[name] = std::move(b); }
};

}  // namespace immp::bench
