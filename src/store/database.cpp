#include "store/database.hpp"

#include <boost/asio/co_spawn.hpp>

#include "immp/backoff.hpp"
#include "immp/tasks.hpp"

#include <spdlog/spdlog.h>

#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "store/backend.hpp"
#include "store/sqlite_backend.hpp"

namespace immp::store {

// ---- URLs ------------------------------------------------------------------

using Target = DatabaseTarget;

std::vector<std::string> check_url(const std::string& url, UrlStyle style) {
  return parse_database_url(url, style).warnings;
}

namespace {

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

// ---- the worker ------------------------------------------------------------

namespace detail {

// Work for the worker thread that is not a plain write. Move-only, since it
// carries a coroutine's completion handler.
struct Call {
  virtual ~Call() = default;
  virtual void run(Worker& worker) = 0;
  // Completes with `error` without running (the database is closed).
  virtual void fail(std::exception_ptr error) = 0;
};

struct Job {
  std::string sql;  // a write, when `call` is null
  std::vector<Value> params;
  std::unique_ptr<Call> call;
  const Database::KeptSql* kept = nullptr;  // the write's SQL when it outlives the database
  const std::string& text() const { return kept ? kept->text : sql; }
};

// Owns the thread and its queue. Everything below `backend` is touched by
// the worker thread only.
struct Worker {
  Worker(Target target, Options options)
      : target(std::move(target)),
        options(std::move(options)),
        log(this->options.log ? this->options.log : spdlog::default_logger()) {}
  ~Worker() { stop(); }

  // Called from any thread. False (and `job` untouched) once closed.
  bool push(Job& job) {
    bool wake;
    {
      std::lock_guard lock(mu);
      if (closed) return false;
      // The worker sleeps on an empty queue, or gathers writes (see loop):
      // then a request, or a full batch, ends its wait.
      if (job.call) ++calls;
      wake = queue.empty() || job.call || queue.size() + 1 == kGroupBatch;
      queue.push_back(std::move(job));
    }
    if (wake) cv.notify_one();
    return true;
  }

  void start() {
    thread = std::thread([this] { loop(); });
  }

  // Runs every queued job, then ends the thread. Idempotent.
  void stop() {
    {
      std::lock_guard lock(mu);
      closed = true;
    }
    cv.notify_one();
    if (thread.joinable()) thread.join();
  }

  void loop() {
    std::vector<Job> jobs;
    for (;;) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return !queue.empty() || closed; });
        if (queue.empty()) break;
        // Group commit: writes that trickle in wait a moment for company,
        // so that one transaction (one WAL append, one set of dirty pages)
        // carries many. A request (a query, a flush) or a full batch goes
        // at once, so nobody who waits for the database waits longer.
        if (!closed && calls == 0 && queue.size() < kGroupBatch) {
          cv.wait_for(lock, kGroupWindow,
                      [&] { return closed || calls > 0 || queue.size() >= kGroupBatch; });
        }
        calls = 0;
        jobs.swap(queue);
      }
      process(jobs);
      jobs.clear();  // keeps the capacity for the next swap
    }
    backend.reset();
  }

  void process(std::vector<Job>& jobs) {
    std::size_t i = 0;
    while (i < jobs.size()) {
      if (jobs[i].call) {
        jobs[i].call->run(*this);
        jobs[i].call.reset();  // drops the (moved-from) handler here, in order
        ++i;
        continue;
      }
      std::size_t end = i;
      while (end < jobs.size() && !jobs[end].call) ++end;
      apply_writes(jobs.data() + i, jobs.data() + end);
      i = end;
    }
  }

  // Ensures a usable connection for the next request; throws if none.
  Backend& connection() {
    if (!backend) throw std::runtime_error("the database is not open");
    if (!backend->healthy()) backend->reconnect();
    return *backend;
  }

  // One transaction for the lot. If it fails, the batch is replayed one
  // write per transaction so that only the bad writes are lost, and each of
  // those is logged with its SQL.
  void apply_writes(Job* first, Job* last) {
    std::string error;
    if (try_writes(first, last, error)) return;
    if (last - first == 1) {
      log->error("database write failed ({}): {}; SQL: {}", target.describe, error, first->text());
      return;
    }
    for (Job* j = first; j != last; ++j) apply_writes(j, j + 1);
  }

  // True when the writes are committed, or lost with the connection (and
  // logged) after retrying with backoff. False with `error` when the
  // database refused them.
  bool try_writes(Job* first, Job* last, std::string& error) {
    using namespace std::chrono_literals;
    // The shared backoff: jittered, so that several hosts of one shared
    // database do not retry in lockstep when it comes back.
    Backoff backoff(200ms, 3200ms);
    for (int attempt = 0;; ++attempt) {
      try {
        Backend& b = connection();
        try {
          b.begin();
          for (Job* j = first; j != last;) j = run_write(b, j, last);
          b.commit();
          return true;
        } catch (...) {
          b.rollback();
          throw;
        }
      } catch (const std::exception& e) {
        if (backend && backend->healthy()) {
          error = e.what();
          return false;
        }
        if (attempt >= kWriteRetries) {
          for (Job* j = first; j != last; ++j) {
            log->error("database write lost ({}): {}; SQL: {}", target.describe, e.what(),
                       j->text());
          }
          return true;
        }
        log->warn("database {} unavailable, retrying {} writes: {}", target.describe, last - first,
                  e.what());
        std::this_thread::sleep_for(backoff.next());
      }
    }
  }

  static constexpr int kWriteRetries = 5;  // 0.2 s doubling: at most about 6 s in all

  // Runs the write at `j`, with the writes of the same mergeable statement
  // that follow it (see KeptSql) in one statement on SQLite; returns the
  // next write to run.
  Job* run_write(Backend& b, Job* j, Job* last) {
    using KeptSql = Database::KeptSql;
    const KeptSql* kept = j->kept;
    if (kept && kept->mergeable() && target.dialect == Dialect::sqlite &&
        last - j >= static_cast<std::ptrdiff_t>(KeptSql::kRowsPerStatement)) {
      Job* end = j + 1;
      while (end - j < static_cast<std::ptrdiff_t>(KeptSql::kRowsPerStatement) && end->kept == kept)
        ++end;
      if (end - j == static_cast<std::ptrdiff_t>(KeptSql::kRowsPerStatement)) {
        // Only full statements: one text (and one prepared statement) each.
        auto [it, fresh] = merged.try_emplace(kept);
        if (fresh) it->second = kept->with_rows(KeptSql::kRowsPerStatement);
        std::array<const std::vector<Value>*, KeptSql::kRowsPerStatement> params;
        for (std::size_t i = 0; i < params.size(); ++i) params[i] = &j[i].params;
        b.run_joined(it->second, params);
        return end;
      }
    }
    b.run(j->text(), j->params, nullptr);
    return j + 1;
  }

  const Target target;
  const Options options;
  const LoggerPtr log;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<Job> queue;  // guarded by mu
  std::size_t calls = 0;   // requests in `queue`; guarded by mu
  static constexpr std::size_t kGroupBatch = 512;
  static constexpr std::chrono::milliseconds kGroupWindow{1};
  bool closed = false;  // guarded by mu
  std::thread thread;

  std::unique_ptr<Backend> backend;  // worker thread only
  // Statements of kRowsPerStatement rows, by the KeptSql they repeat.
  std::unordered_map<const Database::KeptSql*, std::string> merged;  // worker thread only
};

}  // namespace detail

// ---- Database --------------------------------------------------------------

namespace {

// A request with a result: runs on the worker, completes on the awaiting
// coroutine's executor. `work` keeps that executor's context running while
// the request is away.
template <typename R, typename F, typename Handler>
struct CallFor final : detail::Call {
  CallFor(F f, Handler h)
      : fn(std::move(f)),
        handler(std::move(h)),
        work(asio::prefer(asio::get_associated_executor(handler),
                          asio::execution::outstanding_work.tracked)) {}

  void run(detail::Worker& worker) override {
    std::exception_ptr error;
    R result{};
    try {
      result = fn(worker);
    } catch (...) {
      error = std::current_exception();
    }
    complete(error, std::move(result));
  }
  void fail(std::exception_ptr error) override { complete(error, R{}); }

  // The handler is moved out here and only ever runs or dies on its own
  // executor.
  void complete(std::exception_ptr error, R result) {
    auto ex = asio::get_associated_executor(handler);
    asio::post(ex, [h = std::move(handler), error, r = std::move(result)]() mutable {
      std::move(h)(error, std::move(r));
    });
  }

  F fn;
  Handler handler;
  Executor work;
};

}  // namespace

template <typename R, typename F>
Task<R> Database::call(F fn) {
  auto initiate = [this, fn = std::move(fn)](auto handler) mutable {
    using Handler = decltype(handler);
    detail::Job job;
    job.call = std::make_unique<CallFor<R, F, Handler>>(std::move(fn), std::move(handler));
    if (!worker_->push(job)) {
      job.call->fail(std::make_exception_ptr(
          std::runtime_error("database " + worker_->target.describe + " is closed")));
    }
  };
  // Named, not a temporary inside co_await: see the GCC 12 note in DESIGN.md.
  auto op = asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
      std::move(initiate), asio::use_awaitable);
  co_return co_await std::move(op);
}

Database::Database(std::unique_ptr<detail::Worker> worker) : worker_(std::move(worker)) {}

Database::~Database() { close(); }

namespace {

// The PostgreSQL backend, from libimmp_store_postgres.so (postgres_backend.hpp),
// loaded once, the first time a URL names PostgreSQL, and never unloaded.
std::unique_ptr<detail::Backend> open_postgres_library(const std::string& conninfo) {
  using Open = detail::Backend* (*)(const std::string&);
  static std::string problem;
  static const Open open = []() -> Open {
    // It sits next to the store's library, in the build tree and once
    // installed: by full path (a tool that wraps dlopen, such as heaptrack
    // or a sanitizer, would search its own runtime path for a bare name).
    std::string file = "libimmp_store_postgres.so";
    Dl_info self{};
    if (::dladdr(reinterpret_cast<void*>(&open_postgres_library), &self) && self.dli_fname) {
      auto beside = std::filesystem::path(self.dli_fname).parent_path() / file;
      if (std::filesystem::exists(beside)) file = beside.string();
    }
    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_GLOBAL);
    auto found =
        handle ? reinterpret_cast<Open>(::dlsym(handle, "immp_store_open_postgres_v1")) : nullptr;
    if (!found) problem = ::dlerror();
    return found;
  }();
  if (!open) throw std::runtime_error("PostgreSQL support cannot be loaded: " + problem);
  return std::unique_ptr<detail::Backend>(open(conninfo));
}

}  // namespace

Task<std::unique_ptr<Database>> Database::open(std::string url, Options options) {
  Target target = parse_database_url(url, options.style, options.base_dir).target;
  auto worker = std::make_unique<detail::Worker>(std::move(target), std::move(options));
  worker->start();
  std::unique_ptr<Database> db(new Database(std::move(worker)));
  std::string problem;
  try {
    auto connect = db->call<bool>([](detail::Worker& w) {
      if (w.target.dialect == Dialect::sqlite) {
        w.backend = detail::open_sqlite(w.target.where, w.target.sqlite);
      } else {
        w.backend = open_postgres_library(w.target.where);
      }
      return true;
    });
    co_await std::move(connect);
  } catch (const std::exception& e) {
    problem = e.what();
  }
  if (!problem.empty()) {
    std::string where = db->describe();
    db->close();
    throw std::runtime_error("cannot open database " + where + ": " + problem);
  }
  co_return db;
}

Dialect Database::dialect() const { return worker_->target.dialect; }

const std::string& Database::describe() const { return worker_->target.describe; }

namespace {

// Adds the statement to an error from the engine.
[[noreturn]] void rethrow_with(const std::exception& e, const std::string& sql) {
  throw std::runtime_error(std::string(e.what()) + "; SQL: " + sql);
}

}  // namespace

Task<Rows> Database::query(std::string sql, std::vector<Value> params) {
  auto task = call<Rows>([sql = std::move(sql), params = std::move(params)](detail::Worker& w) {
    Rows rows;
    try {
      w.connection().run(sql, params, &rows);
    } catch (const std::exception& e) {
      rethrow_with(e, sql);
    }
    return rows;
  });
  co_return co_await std::move(task);
}

Task<std::int64_t> Database::execute(std::string sql, std::vector<Value> params) {
  auto task =
      call<std::int64_t>([sql = std::move(sql), params = std::move(params)](detail::Worker& w) {
        try {
          return w.connection().run(sql, params, nullptr);
        } catch (const std::exception& e) {
          rethrow_with(e, sql);
        }
      });
  co_return co_await std::move(task);
}

void Database::write(std::string sql, std::vector<Value> params) {
  detail::Job job{std::move(sql), std::move(params), nullptr};
  if (!worker_->push(job)) {
    worker_->log->error("database write after close ({}); SQL: {}", describe(), job.text());
  }
}

Database::KeptSql Database::KeptSql::rows(std::string head, std::string row, std::string tail) {
  KeptSql k;
  k.text = head + " " + row + " " + tail;
  k.head = std::move(head);
  k.row = std::move(row);
  k.tail = std::move(tail);
  return k;
}

std::string Database::KeptSql::with_rows(std::size_t n) const {
  std::string out = head;
  for (std::size_t i = 0; i < n; ++i) out.append(i ? ", " : " ").append(row);
  return out.append(" ").append(tail);
}

void Database::write(const KeptSql& sql, std::vector<Value> params) {
  detail::Job job{{}, std::move(params), nullptr, &sql};
  if (!worker_->push(job)) {
    worker_->log->error("database write after close ({}); SQL: {}", describe(), job.text());
  }
}

struct Database::Marker {
  explicit Marker(Executor ex) : committed(std::move(ex)) {}
  bool done = false;
  Signal committed;
};

Task<> Database::throttle(std::size_t limit) {
  if (queued() <= limit) co_return;
  if (marker_) {
    std::shared_ptr<Marker> previous = marker_;
    while (!previous->done) co_await previous->committed.wait();
  }
  auto ex = co_await asio::this_coro::executor;
  auto marker = std::make_shared<Marker>(ex);
  marker_ = marker;
  asio::co_spawn(ex, flush(), [marker](std::exception_ptr) {
    marker->done = true;
    marker->committed.notify();
  });
}

std::size_t Database::queued() const {
  std::lock_guard lock(worker_->mu);
  return worker_->queue.size();
}

Task<> Database::flush() {
  // Requests run in order, so this completes after every earlier write.
  auto task = call<bool>([](detail::Worker&) { return true; });
  co_await std::move(task);
}

Task<> Database::migrate(std::string owner, std::vector<std::string> steps) {
  auto task = call<bool>([owner = std::move(owner), steps = std::move(steps)](detail::Worker& w) {
    detail::Backend& b = w.connection();
    std::int64_t current = 0;
    try {
      b.script(
          "CREATE TABLE IF NOT EXISTS immp_migrations ("
          "owner TEXT NOT NULL, version INTEGER NOT NULL, applied_at TEXT NOT NULL, "
          "PRIMARY KEY (owner, version))");
      Rows rows;
      b.run("SELECT MAX(version) FROM immp_migrations WHERE owner = ?", {owner}, &rows);
      if (!rows.empty() && !rows[0].empty() && !is_null(rows[0][0])) current = as_int(rows[0][0]);
    } catch (const std::exception& e) {
      throw std::runtime_error("database migrations of " + owner + ": " + e.what());
    }
    auto known = static_cast<std::int64_t>(steps.size());
    if (current > known) {
      throw std::runtime_error("database schema of " + owner + " is at version " +
                               std::to_string(current) + " but this immp knows only " +
                               std::to_string(known) + "; it was written by a newer immp");
    }
    for (std::int64_t version = current + 1; version <= known; ++version) {
      try {
        b.begin();
        b.script(steps[static_cast<std::size_t>(version - 1)]);
        b.run("INSERT INTO immp_migrations (owner, version, applied_at) VALUES (?, ?, ?)",
              {owner, version, utc_now()}, nullptr);
        b.commit();
      } catch (const std::exception& e) {
        b.rollback();
        throw std::runtime_error("database migration " + owner + " step " +
                                 std::to_string(version) + " failed: " + e.what());
      }
      w.log->info("database {}: applied migration {} step {}", w.target.describe, owner, version);
    }
    return true;
  });
  co_await std::move(task);
}

void Database::close() {
  if (worker_) worker_->stop();
}

}  // namespace immp::store
