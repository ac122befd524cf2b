// The counting allocator of the bench binary (see alloc_count.hpp).
//
// C++: every global operator new and delete is replaced (the shared
// library libimmp binds to these too: the executable's definitions come
// first in symbol lookup). They call malloc/free, so a profiler that
// preloads its own malloc (heaptrack) still sees every allocation.
//
// C: SQLite allocates through its own hooks, which we wrap
// (SQLITE_CONFIG_MALLOC) before anything opens a database. Other C code
// (libc, OpenSSL) is not on the measured paths and is not counted.
#include "alloc_count.hpp"

#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace immp::bench {
namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_news{0};
std::atomic<std::uint64_t> g_mallocs{0};
std::atomic<std::uint64_t> g_bytes{0};

inline void count_new(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_news.fetch_add(1, std::memory_order_relaxed);
    g_bytes.fetch_add(size, std::memory_order_relaxed);
  }
}

inline void count_malloc(std::size_t size) {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_mallocs.fetch_add(1, std::memory_order_relaxed);
    g_bytes.fetch_add(size, std::memory_order_relaxed);
  }
}

void* allocate(std::size_t size) {
  count_new(size);
  for (;;) {
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

void* allocate_aligned(std::size_t size, std::align_val_t align) {
  count_new(size);
  auto a = static_cast<std::size_t>(align);
  if (a < sizeof(void*)) a = sizeof(void*);
  for (;;) {
    void* p = nullptr;
    if (posix_memalign(&p, a, size == 0 ? 1 : size) == 0) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) throw std::bad_alloc();
    handler();
  }
}

// ---- SQLite's allocator, wrapped ----

sqlite3_mem_methods g_sqlite_default{};

void* sqlite_malloc(int n) {
  count_malloc(static_cast<std::size_t>(n));
  return g_sqlite_default.xMalloc(n);
}
void sqlite_free(void* p) { g_sqlite_default.xFree(p); }
void* sqlite_realloc(void* p, int n) {
  count_malloc(static_cast<std::size_t>(n));
  return g_sqlite_default.xRealloc(p, n);
}
int sqlite_size(void* p) { return g_sqlite_default.xSize(p); }
int sqlite_roundup(int n) { return g_sqlite_default.xRoundup(n); }
int sqlite_init(void* app) { return g_sqlite_default.xInit(app); }
void sqlite_shutdown(void* app) { g_sqlite_default.xShutdown(app); }

// Installed before main(): nothing can have initialised SQLite yet.
struct SqliteHooks {
  SqliteHooks() {
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &g_sqlite_default) != SQLITE_OK) return;
    sqlite3_mem_methods counting = g_sqlite_default;
    counting.xMalloc = sqlite_malloc;
    counting.xFree = sqlite_free;
    counting.xRealloc = sqlite_realloc;
    counting.xSize = sqlite_size;
    counting.xRoundup = sqlite_roundup;
    counting.xInit = sqlite_init;
    counting.xShutdown = sqlite_shutdown;
    sqlite3_config(SQLITE_CONFIG_MALLOC, &counting);
  }
} g_sqlite_hooks;

}  // namespace

void alloc_count_start() {
  g_counting.store(false);
  g_news.store(0);
  g_mallocs.store(0);
  g_bytes.store(0);
  g_counting.store(true);
}

AllocCounts alloc_count_now() {
  return AllocCounts{g_news.load(), g_mallocs.load(), g_bytes.load()};
}

AllocCounts alloc_count_stop() {
  g_counting.store(false);
  return alloc_count_now();
}

}  // namespace immp::bench

// ---- the replaced global operators ----

void* operator new(std::size_t size) { return immp::bench::allocate(size); }
void* operator new[](std::size_t size) { return immp::bench::allocate(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return immp::bench::allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return immp::bench::allocate(size);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(std::size_t size, std::align_val_t align) {
  return immp::bench::allocate_aligned(size, align);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return immp::bench::allocate_aligned(size, align);
}
void* operator new(std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return immp::bench::allocate_aligned(size, align);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
  try {
    return immp::bench::allocate_aligned(size, align);
  } catch (...) {
    return nullptr;
  }
}

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
