// immp_bench [--list] [NAME...]: runs the named benchmarks (all by default),
// each in a child process of its own. IMMP_BENCH_NO_FORK=1 runs them in this
// process instead (for a profiler that does not follow forks: heaptrack,
// valgrind).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "bench.hpp"

namespace immp::bench {
std::map<std::string, Benchmark>& registry() {
  static std::map<std::string, Benchmark> r;
  return r;
}
}  // namespace immp::bench

int main(int argc, char** argv) {
  auto& all = immp::bench::registry();
  int status = 0;
  if (argc > 1 && std::strcmp(argv[1], "--list") == 0) {
    for (auto& [name, b] : all) std::cout << name << "\n";
    return 0;
  }
  for (auto& [name, bench] : all) {
    bool wanted = argc <= 1;
    for (int i = 1; i < argc; ++i) wanted = wanted || name == argv[i];
    if (!wanted) continue;
    // Each in its own process: peak RSS is per process, and one benchmark's
    // memory must not count against the next.
    std::fflush(stdout);
    if (std::getenv("IMMP_BENCH_NO_FORK")) {
      status |= bench(argc, argv);
      continue;
    }
    pid_t child = fork();
    if (child == 0) {
      int rc = bench(argc, argv);
      std::fflush(stdout);
      std::_Exit(rc);
    }
    int rc = 0;
    waitpid(child, &rc, 0);
    status |= WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
  }
  return status;
}
