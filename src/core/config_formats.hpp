// Private helpers shared by the config readers and writers. Not SDK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "immp/config.hpp"

namespace immp::config_detail {

using FileName = std::shared_ptr<const std::string>;

// Deeper nesting than this is refused: real configs are a handful of levels
// deep, and the readers recurse, so a hostile file must not blow the stack.
inline constexpr int kMaxDepth = 200;

// Every node of a parsed tree carries the mark of where it was written. A
// value inside a map carries the mark of its key (the start of its entry):
// NodeMap keeps no separate position for keys, and "unknown key" errors
// must point at the key.
Node parse_yaml(std::string_view text, const FileName& file);
Node parse_json(std::string_view text, const FileName& file);
Node parse_toml(std::string_view text, const FileName& file);

// Each writer renders any tree so that the matching parser gives back an
// equal tree (TOML's limits aside, see config_toml.cpp).
std::string dump_yaml(const Node& root);
std::string dump_json(const Node& root);
std::string dump_toml(const Node& root);

// "a.b" from "a" and "b"; "b" from "" and "b".
std::string child_path(std::string_view parent, std::string_view key);
// "a[2]".
std::string item_path(std::string_view parent, std::size_t index);

// The shortest text that reads back as the same double, always with a '.'
// or an exponent so that it reads back as a real and not an integer.
// Infinities and NaN come out as "inf", "-inf" and "nan".
std::string format_real(double value);

// Appends `s` as a double-quoted string with the escapes JSON and TOML basic
// strings share (\" \\ \b \f \n \r \t, \uXXXX for other controls).
void append_quoted(std::string& out, std::string_view s);

// Strict decimal integer parsing ("-12", "+3"); false on overflow or junk.
bool parse_int64(std::string_view text, std::int64_t& out);

// Positions in a text: line and column (1-based, counted in code points so
// they match what an editor shows) for a byte offset.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text);
  // 1-based line and column of the byte at `offset`.
  void locate(std::size_t offset, int& line, int& column) const;
  // Column in code points for a 0-based line and a byte column on it.
  int column_for(int line0, int byte_column) const;

 private:
  std::string_view text_;
  std::vector<std::size_t> starts_;
};

// Strips a leading UTF-8 byte order mark.
std::string_view strip_bom(std::string_view text);

// A key written twice in one map: PyYAML and Python's json (so IMMP) keep
// the last value, and so do the YAML and JSON readers, with this warning.
void report_duplicate(const Mark& again, const std::string& path, const std::string& key,
                      int first_line);

// Throws the error "nesting too deep" when depth exceeds kMaxDepth.
void check_depth(int depth, const Mark& mark);

}  // namespace immp::config_detail
