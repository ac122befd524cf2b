// The SDK's SQL value helpers (immp/database.hpp). The database itself lives
// in src/store; these are here so that a plugin linking only libimmp can
// read the rows it gets.
#include "immp/database.hpp"

#include <cmath>
#include <stdexcept>
#include <string_view>

#include <fmt/format.h>

namespace immp::sql {

namespace {

std::string_view kind_of(const Value& v) {
  switch (v.index()) {
    case 0: return "null";
    case 1: return "an integer";
    case 2: return "a real";
    default: return "text";
  }
}

}  // namespace

bool is_null(const Value& value) { return std::holds_alternative<std::monostate>(value); }

std::int64_t as_int(const Value& value) {
  if (auto* n = std::get_if<std::int64_t>(&value)) return *n;
  if (auto* d = std::get_if<double>(&value); d && std::trunc(*d) == *d && std::fabs(*d) < 9.2e18) {
    return static_cast<std::int64_t>(*d);
  }
  throw std::runtime_error("expected an integer, got " + std::string(kind_of(value)));
}

double as_real(const Value& value) {
  if (auto* d = std::get_if<double>(&value)) return *d;
  if (auto* n = std::get_if<std::int64_t>(&value)) return static_cast<double>(*n);
  throw std::runtime_error("expected a number, got " + std::string(kind_of(value)));
}

std::string as_text(const Value& value) {
  if (auto* s = std::get_if<std::string>(&value)) return *s;
  if (auto* n = std::get_if<std::int64_t>(&value)) return std::to_string(*n);
  if (auto* d = std::get_if<double>(&value)) return fmt::format("{}", *d);
  throw std::runtime_error("expected text, got null");
}

}  // namespace immp::sql
