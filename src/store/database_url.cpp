#include "store/database_url.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string_view>

#include "immp/config.hpp"

namespace immp::store {

std::string redact_url(const std::string& url) {
  std::string out = url;
  auto scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    auto start = scheme_end + 3;
    auto at = out.find('@', start);
    auto slash = out.find_first_of("/?", start);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      auto colon = out.find(':', start);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  for (std::size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    pos += 9;
    auto end = out.find('&', pos);
    out.replace(pos, (end == std::string::npos ? out.size() : end) - pos, "***");
  }
  return out;
}

namespace {

using Names = std::vector<std::string>;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool contains(const Names& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Peewee's schemes (playhouse.db_url) and Tortoise's, by engine.
const Names kSqliteSchemes = {"sqlite",      "sqlite3",        "sqliteext",
                              "sqlite+pool", "sqliteext+pool", "apsw"};
const Names kPostgresSchemes = {"postgres",         "postgresql",       "postgres+pool",
                                "postgresql+pool",  "postgresext",      "postgresqlext",
                                "postgresext+pool", "postgresqlext+pool", "psycopg",
                                "psycopg3",         "psycopg3+pool",    "asyncpg"};
// Engines IMMP's ORMs reached that immp does not: named in the error.
struct Unsupported {
  std::string_view scheme;
  std::string_view engine;
};
constexpr std::array kUnsupported = {
    Unsupported{"mysql", "MySQL"},          Unsupported{"mysql+pool", "MySQL"},
    Unsupported{"aiomysql", "MySQL"},       Unsupported{"mssql", "SQL Server"},
    Unsupported{"oracle", "Oracle"},        Unsupported{"cockroachdb", "CockroachDB"},
    Unsupported{"cockroachdb+pool", "CockroachDB"}, Unsupported{"crdb", "CockroachDB"},
    Unsupported{"crdb+pool", "CockroachDB"},
};

// One query parameter: decoded, and as written (to hand on to libpq as is).
struct Param {
  std::string key;
  std::string value;
  std::string raw;
};

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// As Python's parse_qsl: `+` is a space, %XX a byte.
std::string decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 &&
               hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::vector<Param> parse_query(std::string_view query) {
  std::vector<Param> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    Param p;
    p.key = decode(part.substr(0, eq));
    p.value = eq == std::string_view::npos ? std::string() : decode(part.substr(eq + 1));
    p.raw = std::string(part);
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<double> number(const std::string& s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool integer(const std::string& s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

std::string suggestion(const std::string& key, const Names& known) {
  auto near = nearest(key, known);
  return near ? " (did you mean '" + *near + "'?)" : "";
}

// ---- SQLite ------------------------------------------------------------------

struct PragmaRule {
  std::string_view name;
  std::vector<std::string_view> words;  // accepted keywords; empty: an integer
};

const std::vector<PragmaRule> kPragmas = {
    {"journal_mode", {"delete", "truncate", "persist", "memory", "wal", "off"}},
    {"synchronous", {"off", "normal", "full", "extra", "0", "1", "2", "3"}},
    {"foreign_keys", {"on", "off", "true", "false", "yes", "no", "1", "0"}},
    {"secure_delete", {"on", "off", "true", "false", "yes", "no", "1", "0", "fast"}},
    {"temp_store", {"default", "file", "memory", "0", "1", "2"}},
    {"journal_size_limit", {}},
    {"cache_size", {}},
    {"mmap_size", {}},
    {"wal_autocheckpoint", {}},
};

// Settings of Python's sqlite3 module, Peewee or Tortoise that steer the
// Python side only: one connection on one thread here.
const Names kSqliteDriverOnly = {
    "check_same_thread", "isolation_level", "detect_types",  "cached_statements",
    "uri",               "factory",         "autoconnect",   "thread_safe",
    "autorollback",      "autocommit",      "max_connections", "stale_timeout",
    "install_regexp_functions", "c_extensions", "rank_functions", "hash_functions",
    "regexp_function",   "bloomfilter",     "json_contains", "pragmas",
    "returning_clause"};

Names sqlite_known() {
  Names known = {"timeout", "busy_timeout"};
  for (const auto& rule : kPragmas) known.emplace_back(rule.name);
  return known;
}

void sqlite_params(const std::vector<Param>& params, bool pooled, ParsedUrl& out,
                   const std::function<std::runtime_error(const std::string&)>& fail) {
  for (const Param& p : params) {
    const std::string key = lower(p.key);
    if (key == "timeout" && !pooled) {
      // Peewee: seconds to wait for a lock held by another connection.
      auto seconds = number(p.value);
      if (!seconds || *seconds < 0 || *seconds > 3600) {
        throw fail("timeout=" + p.value + " must be a number of seconds from 0 to 3600");
      }
      out.target.sqlite.busy_timeout =
          std::chrono::milliseconds(std::lround(*seconds * 1000));
      continue;
    }
    if (key == "busy_timeout") {
      // Tortoise: PRAGMA busy_timeout, in milliseconds.
      auto ms = number(p.value);
      if (!ms || !integer(p.value) || *ms < 0 || *ms > 3600000) {
        throw fail("busy_timeout=" + p.value + " must be milliseconds from 0 to 3600000");
      }
      out.target.sqlite.busy_timeout = std::chrono::milliseconds(static_cast<long>(*ms));
      continue;
    }
    auto rule = std::find_if(kPragmas.begin(), kPragmas.end(),
                             [&](const PragmaRule& r) { return r.name == key; });
    if (rule != kPragmas.end()) {
      std::string value = lower(p.value);
      bool ok = rule->words.empty()
                    ? integer(value)
                    : std::find(rule->words.begin(), rule->words.end(), value) != rule->words.end();
      if (!ok) {
        std::string expected = "an integer";
        if (!rule->words.empty()) {
          expected = "one of";
          for (auto w : rule->words) expected += " " + std::string(w);
        }
        throw fail(key + "=" + p.value + ": expected " + expected);
      }
      out.target.sqlite.pragmas.emplace_back(key, value);
      continue;
    }
    if (contains(kSqliteDriverOnly, key) || (key == "timeout" && pooled)) {
      out.warnings.push_back("parameter '" + p.key +
                             "' configured IMMP's Python database driver and means nothing "
                             "here (immp keeps one SQLite connection on a thread of its own); "
                             "ignored");
      continue;
    }
    out.warnings.push_back("parameter '" + p.key + "' is not a SQLite setting immp knows" +
                           suggestion(key, sqlite_known()) +
                           "; ignored (immp applies timeout, busy_timeout, journal_mode, "
                           "synchronous, foreign_keys, journal_size_limit, cache_size, "
                           "temp_store, mmap_size, wal_autocheckpoint, secure_delete)");
  }
}

// The file a SQLite URL names, before resolving: ":memory:" or a path.
std::string sqlite_path(std::string_view rest, UrlStyle style, ParsedUrl& out,
                        const std::function<std::runtime_error(const std::string&)>& fail) {
  if (style == UrlStyle::tortoise) {
    if (rest.empty()) throw fail("no file name (e.g. sqlite://immp.db)");
    return std::string(rest);
  }
  // Peewee: the URL's path without its first slash; the host part (what
  // follows `//` up to the next `/`) is ignored, and an empty path is an
  // in-memory database.
  auto slash = rest.find('/');
  std::string_view netloc = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (netloc.empty() || netloc == ":memory:") {
    std::string file(path.empty() ? path : path.substr(1));
    if (netloc.empty() && file.empty()) {
      out.warnings.push_back(
          "names no file, so it is an in-memory database (as in IMMP): nothing in it survives a "
          "restart; write sqlite:///immp.db for a file");
    }
    return file.empty() ? ":memory:" : file;
  }
  // `sqlite://immp.db`: Peewee dropped `immp.db` (in memory) or read
  // `sqlite://data/immp.db` as immp.db. Neither can be what was meant.
  std::string peewee(path.empty() ? std::string_view(":memory:") : path.substr(1));
  std::string file(rest);
  out.warnings.push_back(
      "IMMP's DatabaseHook (Peewee) read this URL as " +
      (peewee == ":memory:" ? std::string("an in-memory database") : "the file '" + peewee + "'") +
      "; immp opens the file '" + file + "' (write sqlite:///" + file + " to say so)");
  return file;
}

// ---- PostgreSQL --------------------------------------------------------------

// libpq's connection parameters (PostgreSQL 17), handed on as written.
// `replication` is left out: it would turn the connection into a
// replication stream.
const Names kLibpqParams = {
    "host",          "hostaddr",      "port",         "dbname",       "user",
    "password",      "passfile",      "require_auth", "channel_binding", "connect_timeout",
    "client_encoding", "options",     "application_name", "fallback_application_name",
    "keepalives",    "keepalives_idle", "keepalives_interval", "keepalives_count",
    "tcp_user_timeout", "gssencmode", "sslmode",      "requiressl",   "sslcompression",
    "sslcert",       "sslkey",        "sslpassword",  "sslcertmode",  "sslrootcert",
    "sslcrl",        "sslcrldir",     "sslsni",       "requirepeer",  "ssl_min_protocol_version",
    "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
    "target_session_attrs", "load_balance_hosts", "sslnegotiation"};

// Pool and driver settings of Peewee, psycopg, asyncpg or Tortoise.
const Names kPostgresDriverOnly = {
    "min_size",      "max_size",        "minsize",        "maxsize",
    "max_queries",   "max_inactive_connection_lifetime", "statement_cache_size",
    "max_cached_statement_lifetime", "max_cacheable_statement_size", "command_timeout",
    "max_connections", "stale_timeout", "autoconnect",    "thread_safe",
    "autorollback",  "autocommit",      "register_hstore", "server_side_cursors",
    "isolation_level", "connection_class", "fetch_inserted", "register_unicode",
    "server_settings", "prefer_psycopg3"};

std::string postgres_uri(std::string_view rest, const std::vector<Param>& params, bool pooled,
                         ParsedUrl& out,
                         const std::function<std::runtime_error(const std::string&)>& fail) {
  std::vector<std::string> query;
  bool has_sslmode = false, has_timeout = false, has_encoding = false;
  for (const Param& p : params) {
    has_sslmode = has_sslmode || p.key == "sslmode";
    has_timeout = has_timeout || p.key == "connect_timeout";
    has_encoding = has_encoding || p.key == "client_encoding";
  }
  Names known = kLibpqParams;
  known.insert(known.end(), {"ssl", "timeout", "schema", "encoding"});
  for (const Param& p : params) {
    if (contains(kLibpqParams, p.key)) {
      query.push_back(p.raw);
    } else if (p.key == "ssl") {
      // asyncpg's (and Tortoise's) switch; libpq says it with sslmode.
      std::string v = lower(p.value);
      std::string mode;
      if (v == "true" || v == "1" || v == "yes" || v == "on") mode = "require";
      if (v == "false" || v == "0" || v == "no" || v == "off") mode = "disable";
      for (std::string_view m : {"disable", "allow", "prefer", "require", "verify-ca",
                                 "verify-full"}) {
        if (v == m) mode = v;
      }
      if (mode.empty()) throw fail("ssl=" + p.value + ": expected true, false or an sslmode");
      if (!has_sslmode) query.push_back("sslmode=" + mode);
      has_sslmode = true;
    } else if (p.key == "timeout" && !pooled) {
      // asyncpg: seconds to connect.
      auto seconds = number(p.value);
      if (!seconds || *seconds <= 0) throw fail("timeout=" + p.value + " must be seconds above 0");
      if (!has_timeout) {
        query.push_back("connect_timeout=" + std::to_string(std::lround(std::ceil(*seconds))));
      }
      has_timeout = true;
    } else if (p.key == "schema") {
      // Tortoise: the schema its tables live in.
      if (p.value.empty() || p.value.find_first_of(" \\,'\"") != std::string::npos) {
        throw fail("schema=" + p.value + ": expected one schema name");
      }
      query.push_back("options=" + encode("-c search_path=" + p.value));
    } else if (p.key == "encoding") {
      // Peewee's PostgresqlDatabase: the client encoding.
      if (!has_encoding) query.push_back("client_encoding=" + encode(p.value));
      has_encoding = true;
    } else if (contains(kPostgresDriverOnly, p.key) || (p.key == "timeout" && pooled)) {
      out.warnings.push_back("parameter '" + p.key +
                             "' configured IMMP's Python database driver or pool and means "
                             "nothing here (immp keeps one PostgreSQL connection on a thread of "
                             "its own); ignored");
    } else {
      throw fail("unknown PostgreSQL parameter '" + p.key + "'" + suggestion(p.key, known) +
                 " (libpq and IMMP's drivers refuse it too)");
    }
  }
  // libpq waits for the OS to give up on an unreachable host (minutes);
  // a start-up phase should hear about it sooner.
  if (!has_timeout) query.push_back("connect_timeout=10");
  std::string uri = "postgresql://" + std::string(rest);
  for (std::size_t i = 0; i < query.size(); ++i) uri += (i == 0 ? "?" : "&") + query[i];
  return uri;
}

}  // namespace

ParsedUrl parse_database_url(const std::string& url, UrlStyle style,
                             const std::filesystem::path& base_dir) {
  auto fail = [&](const std::string& why) {
    return std::runtime_error("database URL '" + redact_url(url) + "': " + why);
  };
  auto sep = url.find("://");
  if (sep == std::string::npos || sep == 0) {
    throw fail("expected sqlite://... or postgresql://...");
  }
  const std::string scheme = lower(url.substr(0, sep));
  std::string_view rest = std::string_view(url).substr(sep + 3);
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const std::vector<Param> params = parse_query(query);
  const bool pooled = scheme.find("+pool") != std::string::npos;
  ParsedUrl out;

  if (contains(kSqliteSchemes, scheme)) {
    out.target.dialect = sql::Dialect::sqlite;
    std::string path = sqlite_path(rest, style, out, fail);
    sqlite_params(params, pooled, out, fail);
    if (path == ":memory:") {
      out.target.where = ":memory:";
      out.target.describe = "sqlite://:memory:";
      return out;
    }
    std::filesystem::path file(path);
    if (file.is_relative()) file = base_dir / file;
    file = std::filesystem::absolute(file).lexically_normal();
    out.target.where = file.string();
    out.target.describe = "sqlite file " + file.string();
    return out;
  }

  if (contains(kPostgresSchemes, scheme)) {
    out.target.dialect = sql::Dialect::postgresql;
    out.target.where = postgres_uri(rest, params, pooled, out, fail);
    out.target.describe = redact_url(url);
    return out;
  }

  for (const Unsupported& u : kUnsupported) {
    if (scheme == u.scheme) {
      throw fail(std::string(u.engine) +
                 " is not supported by immp, which stores in SQLite or PostgreSQL (e.g. "
                 "sqlite:///immp.db or postgresql://user:password@host/immp)");
    }
  }
  Names schemes = kSqliteSchemes;
  schemes.insert(schemes.end(), kPostgresSchemes.begin(), kPostgresSchemes.end());
  throw fail("unsupported scheme '" + scheme + "'" + suggestion(scheme, schemes) +
             " (expected sqlite or postgresql)");
}

}  // namespace immp::store
