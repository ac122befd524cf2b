#include "plugs/irc/irc_split.hpp"

#include <algorithm>
#include <cstdint>

#include "text/markup_irc.hpp"
#include "plugs/irc/irc_line.hpp"
#include "text/utf8.hpp"

namespace immp::irc {

namespace {

// The smallest unit the splitter moves: a formatting code with its digits,
// a space, or one character (an invalid byte counts as one).
struct Atom {
  enum class Kind { code, space, text };
  std::size_t begin;
  std::size_t size;
  Kind kind;
};

std::vector<Atom> atoms_of(std::string_view line) {
  std::vector<Atom> atoms;
  atoms.reserve(line.size());  // at most one per byte: one allocation
  markup::IrcFormat scratch;
  for (std::size_t i = 0; i < line.size();) {
    if (std::size_t n = markup::read_irc_code(line, i, scratch)) {
      atoms.push_back({i, n, Atom::Kind::code});
      i += n;
    } else if (line[i] == ' ') {
      atoms.push_back({i, 1, Atom::Kind::space});
      ++i;
    } else {
      // An invalid sequence moves as one unit, as repair_utf8 would replace it.
      std::size_t n = unicode::decode_at(line, i).size;
      atoms.push_back({i, n, Atom::Kind::text});
      i += n;
    }
  }
  return atoms;
}

// Splits one line (no '\n'); `state` is the formatting at its start and is
// left at its end.
void split_line(std::string_view line, std::size_t budget, markup::IrcFormat& state,
                std::vector<std::string>& out) {
  std::vector<Atom> atoms = atoms_of(line);
  std::size_t pos = 0;
  auto apply = [&](std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k) {
      if (atoms[k].kind == Atom::Kind::code) markup::read_irc_code(line, atoms[k].begin, state);
    }
  };
  while (pos < atoms.size()) {
    char next = line[atoms[pos].begin];
    std::string prefix = state.reopen(next);
    std::size_t end = pos;
    std::size_t next_pos = pos;
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::size_t used = prefix.size();
      std::size_t i = pos;
      std::size_t last_space = std::string_view::npos;
      // Why not break at leading spaces: that would only drop indentation.
      // Spaces after codes are fine break points (an invisible chunk is
      // dropped below, its codes kept in the state).
      bool after_content = false;
      for (; i < atoms.size(); ++i) {
        const Atom& a = atoms[i];
        if (used + a.size > budget) break;
        if (a.kind == Atom::Kind::space) {
          if (after_content) last_space = i;
        } else {
          after_content = true;
        }
        used += a.size;
      }
      if (i == atoms.size()) {
        end = next_pos = i;
      } else if (atoms[i].kind == Atom::Kind::space && after_content) {
        // Everything before the space that does not fit is on this line.
        end = i;
        next_pos = i + 1;
      } else if (last_space != std::string_view::npos) {
        end = last_space;
        next_pos = last_space + 1;
      } else {
        end = next_pos = i;
      }
      if (end > pos || prefix.empty()) break;
      // Why: without room for one character after the re-opened formatting,
      // losing the formatting beats exceeding the budget or looping.
      prefix.clear();
    }
    if (end == pos) {
      // atoms[pos] does not fit even alone: drop it.
      apply(pos, pos + 1);
      ++pos;
      continue;
    }
    // Codes at the very end of a message show nothing; the state carries them.
    std::size_t shown_end = end;
    while (shown_end > pos && atoms[shown_end - 1].kind == Atom::Kind::code) --shown_end;
    bool visible = false;
    std::string chunk = prefix;
    for (std::size_t k = pos; k < shown_end; ++k) {
      chunk.append(line.substr(atoms[k].begin, atoms[k].size));
      visible = visible || atoms[k].kind == Atom::Kind::text;
    }
    if (visible) out.push_back(std::move(chunk));
    apply(pos, next_pos);
    pos = next_pos;
  }
}

}  // namespace

std::size_t message_budget(std::string_view prefix, std::string_view command,
                           std::string_view target) {
  // ":" prefix " " command " " target " :"
  std::size_t overhead = 1 + prefix.size() + 1 + command.size() + 1 + target.size() + 2;
  return overhead >= kMaxBodyBytes ? 0 : kMaxBodyBytes - overhead;
}

std::size_t privmsg_budget(std::string_view prefix, std::string_view target) {
  return message_budget(prefix, "PRIVMSG", target);
}

std::vector<std::string> split_text(std::string_view text, std::size_t budget) {
  // Most chat lines: one line that fits, without control bytes (so no line
  // break, NUL, CTCP marker or formatting code). The general path below
  // would keep it whole, as it is, if it shows anything; no need to cut it
  // into atoms.
  auto printable = [](char c) { return static_cast<unsigned char>(c) >= 0x20; };
  if (text.size() <= budget && std::all_of(text.begin(), text.end(), printable)) {
    std::vector<std::string> out;
    if (text.find_first_not_of(' ') != std::string_view::npos) out.emplace_back(text);
    return out;
  }
  std::string clean;
  clean.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') continue;
      clean += '\n';
    } else if (c != '\0' && c != kCtcpDelimiter) {
      clean += c;
    }
  }
  std::vector<std::string> out;
  markup::IrcFormat state;
  std::string_view rest = clean;
  while (true) {
    std::size_t nl = rest.find('\n');
    split_line(rest.substr(0, nl), budget, state, out);
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  return out;
}

std::string ctcp_action(std::string_view text) {
  std::string out;
  out.reserve(text.size() + kActionOverhead);
  out += kCtcpDelimiter;
  out += "ACTION ";
  out += text;
  out += kCtcpDelimiter;
  return out;
}

std::vector<std::string> split_action(std::string_view text, std::size_t budget) {
  std::size_t inner = budget > kActionOverhead ? budget - kActionOverhead : 0;
  std::vector<std::string> lines = split_text(text, inner);
  for (std::string& line : lines) line = ctcp_action(line);
  return lines;
}

std::optional<Ctcp> parse_ctcp(std::string_view text) {
  if (text.empty() || text[0] != kCtcpDelimiter) return std::nullopt;
  std::string_view body = text.substr(1);
  if (!body.empty() && body.back() == kCtcpDelimiter) body.remove_suffix(1);
  std::size_t space = body.find(' ');
  Ctcp ctcp;
  ctcp.command = body.substr(0, space);
  if (space != std::string_view::npos) ctcp.params = body.substr(space + 1);
  if (ctcp.command.empty()) return std::nullopt;
  return ctcp;
}

std::optional<std::string_view> parse_action(std::string_view text) {
  std::optional<Ctcp> ctcp = parse_ctcp(text);
  if (!ctcp || ctcp->command != "ACTION") return std::nullopt;
  return ctcp->params;
}

bool is_ctcp(std::string_view text) { return parse_ctcp(text).has_value(); }

}  // namespace immp::irc
