#include "immp/command.hpp"

#include <cstdint>
#include <memory>
#include <utility>

namespace immp {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view skip_space(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return s.substr(i);
}

std::vector<std::string> split_spaces(std::string_view s, std::size_t max) {
  std::vector<std::string> out;
  s = skip_space(s);
  while (!s.empty()) {
    if (out.size() + 1 == max) {
      // The last argument keeps the rest as typed (trailing space dropped).
      std::size_t end = s.size();
      while (end > 0 && is_space(s[end - 1])) --end;
      out.emplace_back(s.substr(0, end));
      break;
    }
    std::size_t i = 0;
    while (i < s.size() && !is_space(s[i])) ++i;
    out.emplace_back(s.substr(0, i));
    s = skip_space(s.substr(i));
  }
  return out;
}

// Python's shlex.split (POSIX mode, no comments): whitespace separates,
// '...' is literal, "..." keeps a backslash only before a backslash, ", $,
// ` or newline, and a bare backslash escapes the next character.
std::optional<std::vector<std::string>> split_shlex(std::string_view s) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false;
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (is_space(c)) {
      if (in_word) out.push_back(std::exchange(word, {}));
      in_word = false;
      ++i;
    } else if (c == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string_view::npos) return std::nullopt;
      word.append(s.substr(i + 1, end - i - 1));
      in_word = true;
      i = end + 1;
    } else if (c == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char d = s[i];
        if (d == '"') {
          closed = true;
          ++i;
          break;
        }
        if (d == '\\' && i + 1 < s.size() &&
            (s[i + 1] == '\\' || s[i + 1] == '"' || s[i + 1] == '$' || s[i + 1] == '`' ||
             s[i + 1] == '\n')) {
          word.push_back(s[i + 1]);
          i += 2;
          continue;
        }
        word.push_back(d);
        ++i;
      }
      if (!closed) return std::nullopt;
      in_word = true;
    } else if (c == '\\') {
      if (i + 1 >= s.size()) return std::nullopt;  // "No escaped character"
      word.push_back(s[i + 1]);
      in_word = true;
      i += 2;
    } else {
      word.push_back(c);
      in_word = true;
      ++i;
    }
  }
  if (in_word) out.push_back(std::move(word));
  return out;
}

}  // namespace

CommandArity CommandArity::of(std::string_view usage) {
  CommandArity arity;
  usage = skip_space(usage);
  while (!usage.empty()) {
    std::size_t i = 0;
    while (i < usage.size() && !is_space(usage[i])) ++i;
    std::string_view word = usage.substr(0, i);
    usage = skip_space(usage.substr(i));
    bool many = word.ends_with("...>") || word.ends_with("...]") || word.ends_with("...");
    bool needed = word.front() == '<';
    if (many) {
      if (needed) ++arity.min;
      arity.max = SIZE_MAX;
      break;  // anything after "many..." cannot be told apart from it
    }
    if (needed) ++arity.min;
    ++arity.max;
  }
  return arity;
}

std::optional<std::vector<std::string>> parse_command_args(CommandParser parser,
                                                           std::string_view rest, std::size_t max) {
  switch (parser) {
    case CommandParser::spaces: return split_spaces(rest, SIZE_MAX);
    case CommandParser::shlex: return split_shlex(rest);
    case CommandParser::hybrid: return split_spaces(rest, max == 0 ? SIZE_MAX : max);
    case CommandParser::none: {
      std::vector<std::string> out;
      rest = skip_space(rest);
      std::size_t end = rest.size();
      while (end > 0 && is_space(rest[end - 1])) --end;
      if (end > 0) out.emplace_back(rest.substr(0, end));
      return out;
    }
  }
  return std::nullopt;
}

void CommandContext::reply(std::string text) const {
  auto msg = std::make_shared<Message>();
  msg->text = RichText(std::move(text));
  replies_->reply(*this, std::move(msg));
}

void CommandContext::reply(RichText text) const {
  auto msg = std::make_shared<Message>();
  msg->text = std::move(text);
  replies_->reply(*this, std::move(msg));
}

void CommandContext::reply(MessagePtr msg) const { replies_->reply(*this, std::move(msg)); }

Task<> CommandContext::reply_private(std::string text) const {
  auto m = std::make_shared<Message>();
  m->text = RichText(std::move(text));
  MessagePtr msg = std::move(m);
  co_await replies_->reply_private(*this, std::move(msg));
}

Task<> CommandContext::reply_private(MessagePtr msg) const {
  co_await replies_->reply_private(*this, std::move(msg));
}

std::string CommandContext::usage_line() const {
  return command.usage.empty() ? command.name : command.name + " " + command.usage;
}

}  // namespace immp
