// Shared helpers of the benchmarks: timing, peak RSS, the JSON line.
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

namespace immp::bench {

inline double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB
}

struct Stopwatch {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// A benchmark: runs, prints its JSON lines, returns 0 on success.
using Benchmark = std::function<int(int argc, char** argv)>;
std::map<std::string, Benchmark>& registry();

struct Register {
  Register(const std::string& name, Benchmark b) { registry()[name] = std::move(b); }
};

}  // namespace immp::bench
