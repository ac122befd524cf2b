// The interface a database engine implements for Database. Internal to
// src/store. A Backend is created, used and destroyed on one worker thread
// only; none of it is thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "store/database.hpp"

namespace immp::store::detail {

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Dialect dialect() const = 0;

  // Runs one statement with `?` placeholders (inside the open transaction,
  // if any). Fills `rows` when non-null; returns the rows changed. Throws
  // std::runtime_error with the engine's message.
  virtual std::int64_t run(const std::string& sql, const std::vector<Value>& params,
                           Rows* rows) = 0;
  // Runs a script of statements without parameters.
  virtual void script(const std::string& sql) = 0;

  virtual void begin() = 0;
  virtual void commit() = 0;
  // Abandons the open transaction, if any. Never throws.
  virtual void rollback() noexcept = 0;

  // False when the connection to the server was lost; reconnect() then
  // tries again (throws when it cannot).
  virtual bool healthy() const { return true; }
  virtual void reconnect() {}

  // Runs one statement whose parameters are the concatenation of `params`
  // (a statement of several rows, one list each), without a result.
  virtual void run_joined(const std::string& sql,
                          std::span<const std::vector<Value>* const> params) {
    std::vector<Value> all;
    for (const auto* p : params) all.insert(all.end(), p->begin(), p->end());
    run(sql, all, nullptr);
  }
};

}  // namespace immp::store::detail
