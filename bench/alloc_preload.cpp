// libimmp_bench_alloc.so: the counting allocator of alloc_count.cpp for a
// process the benchmarks start (the immp binary), loaded with LD_PRELOAD.
// It counts from the start, and on SIGUSR2 writes what it counted so far to
// the file named by IMMP_BENCH_ALLOC_FILE (at load time) as one line:
//   "<dump number> <operator new calls> <SQLite mallocs> <bytes> <aligned_allocs>\n"
// The benchmark reads it before and after a run; the difference is the
// run's. (Everything in the handler is async-signal-safe: open, write,
// close, and formatting by hand.)
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "alloc_count.hpp"

namespace {

char g_path[4096];
unsigned long g_dumps = 0;

char* put_number(char* at, unsigned long long v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *at++ = digits[--n];
  return at;
}

void dump(int) {
  int saved = errno;
  immp::bench::AllocCounts c = immp::bench::alloc_count_now();
  char line[128];
  char* at = put_number(line, ++g_dumps);
  *at++ = ' ';
  at = put_number(at, c.news);
  *at++ = ' ';
  at = put_number(at, c.mallocs);
  *at++ = ' ';
  at = put_number(at, c.bytes);
  *at++ = ' ';
  at = put_number(at, c.aligned);
  *at++ = '\n';
  int fd = ::open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) {
    ssize_t ignored = ::write(fd, line, static_cast<std::size_t>(at - line));
    (void)ignored;
    ::close(fd);
  }
  errno = saved;
}

struct Preload {
  Preload() {
    const char* path = std::getenv("IMMP_BENCH_ALLOC_FILE");
    if (!path || std::strlen(path) >= sizeof g_path) return;
    std::strcpy(g_path, path);
    struct sigaction sa {};
    sa.sa_handler = dump;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, nullptr);
    immp::bench::alloc_count_start();
  }
} g_preload;

}  // namespace
