#include "store/postgres_backend.hpp"

#include <cstdlib>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <unordered_map>

namespace immp::store::detail {

std::string number_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      // A doubled quote inside ends and restarts the literal: same result.
      std::size_t end = sql.find(c, i + 1);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      std::size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      std::size_t end = sql.find("*/", i + 2);
      end = end == std::string_view::npos ? sql.size() - 1 : end + 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

constexpr std::size_t kMaxCachedStatements = 512;

// Type OIDs from pg_type.h, for turning text results back into values.
constexpr pqxx::oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kFloat4 = 700,
                    kFloat8 = 701, kNumeric = 1700;

Value to_value(const pqxx::field& f) {
  if (f.is_null()) return std::monostate{};
  const char* s = f.c_str();
  switch (f.type()) {
    case kBool:
      return std::int64_t{s[0] == 't'};
    case kInt2:
    case kInt4:
    case kInt8:
    case kOid:
      return std::int64_t{std::strtoll(s, nullptr, 10)};
    case kFloat4:
    case kFloat8:
      return std::strtod(s, nullptr);
    case kNumeric:
      if (std::string_view(s).find_first_of(".eEN") == std::string_view::npos) {
        return std::int64_t{std::strtoll(s, nullptr, 10)};
      }
      return std::strtod(s, nullptr);
    default:
      return std::string(s, f.size());
  }
}

class PostgresBackend final : public Backend {
 public:
  explicit PostgresBackend(std::string conninfo) : conninfo_(std::move(conninfo)) { connect(); }

  Dialect dialect() const override { return Dialect::postgresql; }

  std::int64_t run(const std::string& sql, const std::vector<Value>& params, Rows* rows) override {
    const std::string& name = prepare(sql);
    // Text parameters; the server infers each one's type from the statement.
    std::vector<std::string> text(params.size());
    std::vector<const char*> args(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Value& v = params[i];
      if (std::holds_alternative<std::monostate>(v)) {
        args[i] = nullptr;
        continue;
      }
      if (auto* n = std::get_if<std::int64_t>(&v)) {
        text[i] = std::to_string(*n);
      } else if (auto* d = std::get_if<double>(&v)) {
        text[i] = pqxx::to_string(*d);
      } else {
        text[i] = std::get<std::string>(v);
      }
      args[i] = text[i].c_str();
    }
    auto exec = [&](pqxx::transaction_base& tx) {
      return tx.exec_prepared(name, pqxx::prepare::make_dynamic_params(args));
    };
    pqxx::result r = guard([&] {
      if (tx_) return exec(*tx_);
      pqxx::nontransaction tx(*conn_);
      return exec(tx);
    });
    if (rows) {
      rows->reserve(rows->size() + r.size());
      for (const auto& row : r) {
        Row out;
        out.reserve(row.size());
        for (const auto& f : row) out.push_back(to_value(f));
        rows->push_back(std::move(out));
      }
    }
    return static_cast<std::int64_t>(r.affected_rows());
  }

  void script(const std::string& sql) override {
    guard([&] {
      if (tx_) return tx_->exec(sql);
      pqxx::nontransaction tx(*conn_);
      return tx.exec(sql);
    });
  }

  void begin() override {
    guard([&] {
      tx_.emplace(*conn_);
      return pqxx::result();
    });
  }
  void commit() override {
    guard([&] {
      tx_->commit();
      tx_.reset();
      return pqxx::result();
    });
  }
  void rollback() noexcept override {
    try {
      tx_.reset();  // a pqxx::work aborts when destroyed uncommitted
    } catch (...) {
    }
  }

  bool healthy() const override { return !lost_ && conn_ && conn_->is_open(); }
  void reconnect() override {
    rollback();
    connect();
  }

 private:
  void connect() {
    cache_.clear();
    lost_ = false;
    try {
      conn_ = std::make_unique<pqxx::connection>(conninfo_);
    } catch (const std::exception& e) {
      conn_.reset();
      lost_ = true;
      throw std::runtime_error(trim(e.what()));
    }
  }

  // Runs a libpqxx call, turning its exceptions into one-line
  // std::runtime_errors and noting a lost connection.
  template <typename F>
  pqxx::result guard(F fn) {
    if (!conn_) throw std::runtime_error("not connected");
    try {
      return fn();
    } catch (const pqxx::broken_connection& e) {
      lost_ = true;
      throw std::runtime_error("connection lost: " + trim(e.what()));
    } catch (const pqxx::in_doubt_error& e) {
      lost_ = true;
      throw std::runtime_error("connection lost during commit: " + trim(e.what()));
    } catch (const std::exception& e) {
      throw std::runtime_error(trim(e.what()));
    }
  }

  const std::string& prepare(const std::string& sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxCachedStatements) {
      for (auto& [text, name] : cache_) {
        try {
          conn_->unprepare(name);
        } catch (...) {
        }
      }
      cache_.clear();
    }
    std::string name = "immp_" + std::to_string(++counter_);
    // libpqxx prepares lazily, at the first exec_prepared.
    guard([&] {
      conn_->prepare(name, number_placeholders(sql));
      return pqxx::result();
    });
    return cache_.emplace(sql, std::move(name)).first->second;
  }

  // libpq's messages span lines ("...failed: Connection refused\n\tIs the
  // server running..."); ours are one line.
  static std::string trim(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\n' || c == '\t' || c == '\r') c = ' ';
      if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
      out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  }

  std::string conninfo_;
  std::unique_ptr<pqxx::connection> conn_;
  std::optional<pqxx::work> tx_;
  std::unordered_map<std::string, std::string> cache_;
  std::uint64_t counter_ = 0;
  bool lost_ = false;
};

}  // namespace

std::unique_ptr<Backend> open_postgres(const std::string& conninfo) {
  return std::make_unique<PostgresBackend>(conninfo);
}

}  // namespace immp::store::detail

// What the store's loader looks up (database.cpp, open_postgres_library):
// PostgreSQL is a library of its own, so a process that uses none maps
// neither it nor libpq and the dozen libraries libpq needs.
extern "C" __attribute__((visibility("default"))) immp::store::detail::Backend*
immp_store_open_postgres_v1(const std::string& conninfo) {
  return immp::store::detail::open_postgres(conninfo).release();
}
