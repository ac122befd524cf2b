// Python's logging.Formatter for spdlog: a format in any of Python's three
// styles ("%", "{", "$") is compiled once, at configure time, and then
// renders every record without parsing. User documentation: docs/logging.md.
#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "immp/config.hpp"

namespace immp {

enum class FormatStyle {
  percent,  // "%(levelname)-8s %(message)s"
  brace,    // "{levelname:<8} {message}"  (str.format)
  dollar,   // "${levelname} $message"     (string.Template)
};

// What Python's Formatter uses when `format` is absent: the message alone,
// in the style's own spelling ("%(message)s", "{message}", "${message}").
std::string_view default_format(FormatStyle style);

// A compiled format. Immutable, so sinks on any thread may share it.
struct CompiledFormat;

// Compiles `text`. `defaults` are Python's formatter `defaults`: values for
// fields a record does not carry. With `validate` (Python's default), a
// format without any field is refused, as Python refuses it. Anything
// Python would refuse, or would only fail on when a record is formatted
// (an unknown field, a number conversion of a text field, a spec immp cannot
// render), is refused here, failing on `where` (the `format` value) with the
// character position; with a null `where` it throws ConfigError at "logging".
std::shared_ptr<const CompiledFormat> compile_format(
    std::string_view text, FormatStyle style, const std::vector<std::pair<std::string, Node>>& defaults,
    bool validate, const Node* where);

// A spdlog formatter that renders records with `format` as Python's
// Formatter does, then appends `terminator` (the handler's: "\n" for
// streams and files, "" for syslog). `datefmt` is a strftime format for
// asctime in local time; empty means Python's "%Y-%m-%d %H:%M:%S,mmm".
std::unique_ptr<spdlog::formatter> make_formatter(std::shared_ptr<const CompiledFormat> format,
                                                  std::string datefmt, std::string terminator);

}  // namespace immp
