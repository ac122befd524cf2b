// The counting allocator of the bench binary (see alloc_count.hpp).
//
// C++: every global operator new and delete is replaced (the shared
// library libimmp binds to these too: the executable's definitions come
// first in symbol lookup). They call malloc/free, so a profiler that
// preloads its own malloc (heaptrack) still sees every allocation.
//
// C: Asio allocates coroutine frames and handler memory its recycling
// cache cannot serve with aligned_alloc: that one C function is wrapped
// here (the next definition, libc's or a profiler's, is found with
// dlsym(RTLD_NEXT)). SQLite allocates through its own hooks, which we wrap
// (SQLITE_CONFIG_MALLOC) before anything opens a database. Other C code
// (libc, OpenSSL) is not on the measured paths and is not counted.
#include "alloc_count.hpp"

#include <dlfcn.h>
#include <sqlite3.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace immp::bench {
namespace {

// Per-thread counters, summed when read: counting is a plain add to a
// counter only its thread writes (no locked instruction on the hot path,
// which would cost the benchmark a tenth of its time), and a window is the
// difference of two sums.
struct Slot {
  std::atomic<std::uint64_t> news{0}, mallocs{0}, bytes{0}, aligned{0};
};
constexpr int kSlots = 256;  // threads ever seen; later ones share the last
Slot g_slots[kSlots];
std::atomic<int> g_next_slot{0};
thread_local Slot* t_slot = nullptr;

inline Slot& slot() {
  if (!t_slot) {
    int i = g_next_slot.fetch_add(1, std::memory_order_relaxed);
    t_slot = &g_slots[i < kSlots ? i : kSlots - 1];
  }
  return *t_slot;
}

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t by) {
  c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

inline void count_new(std::size_t size) {
  Slot& s = slot();
  bump(s.news, 1);
  bump(s.bytes, size);
}

inline void count_malloc(std::size_t size) {
  Slot& s = slot();
  bump(s.mallocs, 1);
  bump(s.bytes, size);
}

inline void count_aligned(std::size_t size) {
  Slot& s = slot();
  bump(s.aligned, 1);
  bump(s.bytes, size);
}

AllocCounts sum() {
  AllocCounts c;
  for (auto& s : g_slots) {
    c.news += s.news.load(std::memory_order_relaxed);
    c.mallocs += s.mallocs.load(std::memory_order_relaxed);
    c.bytes += s.bytes.load(std::memory_order_relaxed);
    c.aligned += s.aligned.load(std::memory_order_relaxed);
  }
  return c;
}

AllocCounts g_start;     // the sums when the window opened
AllocCounts g_stopped;   // the window's counts once closed
bool g_open = false;

AllocCounts minus(const AllocCounts& a, const AllocCounts& b) {
  return AllocCounts{a.news - b.news, a.mallocs - b.mallocs, a.bytes - b.bytes,
                     a.aligned - b.aligned};
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
  g_start = sum();
  g_open = true;
}

AllocCounts alloc_count_now() { return g_open ? minus(sum(), g_start) : g_stopped; }

AllocCounts alloc_count_this_thread() {
  Slot& s = slot();
  return AllocCounts{s.news.load(std::memory_order_relaxed), s.mallocs.load(std::memory_order_relaxed),
                     s.bytes.load(std::memory_order_relaxed), s.aligned.load(std::memory_order_relaxed)};
}

AllocCounts alloc_count_stop() {
  if (g_open) g_stopped = minus(sum(), g_start);
  g_open = false;
  return g_stopped;
}

}  // namespace immp::bench

// ---- C's aligned_alloc, wrapped ----

extern "C" void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  using Fn = void* (*)(std::size_t, std::size_t);
  static Fn next = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "aligned_alloc"));
  immp::bench::count_aligned(size);
  return next(align, size);
}

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
