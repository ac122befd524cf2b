#include "hooks/autorespond/pattern_set.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <regex>

namespace immp::hooks {

namespace {

// RE2's default budget (8 MB) is too small for the DFA of 1,000 patterns:
// past it RE2::Set fails the match. Memory is only used as states are
// met, so a large budget costs nothing up front.
constexpr int64_t kSetMemory = int64_t{256} << 20;

RE2::Options options(bool ignore_case) {
  RE2::Options o;
  o.set_case_sensitive(!ignore_case);
  o.set_log_errors(false);
  return o;
}

// Python's replacement syntax (\1, \g<1>, \\) to the text of one match.
void expand(std::string& out, std::string_view replacement,
            const std::vector<std::string_view>& groups) {
  for (std::size_t i = 0; i < replacement.size(); ++i) {
    char c = replacement[i];
    if (c != '\\' || i + 1 >= replacement.size()) {
      out.push_back(c);
      continue;
    }
    char n = replacement[i + 1];
    if (n >= '0' && n <= '9') {
      std::size_t g = static_cast<std::size_t>(n - '0');
      if (g < groups.size()) out.append(groups[g]);
      ++i;
    } else if (n == 'g' && i + 2 < replacement.size() && replacement[i + 2] == '<') {
      auto end = replacement.find('>', i + 3);
      if (end == std::string_view::npos) {
        out.push_back(c);
        continue;
      }
      std::size_t g = 0;
      bool number = end > i + 3;
      for (std::size_t k = i + 3; k < end; ++k) {
        if (replacement[k] < '0' || replacement[k] > '9')
          number = false;
        else
          g = g * 10 + static_cast<std::size_t>(replacement[k] - '0');
      }
      if (number && g < groups.size()) out.append(groups[g]);
      i = end;
    } else if (n == '\\') {
      out.push_back('\\');
      ++i;
    } else if (n == 'n') {
      out.push_back('\n');
      ++i;
    } else if (n == 't') {
      out.push_back('\t');
      ++i;
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

struct PatternSet::Impl {
  // Where pattern i lives: set slot (RE2) or fallback.
  struct Slot {
    std::unique_ptr<RE2> re2;
    std::unique_ptr<std::regex> fallback;
  };
  std::vector<Slot> slots;
  std::unique_ptr<RE2::Set> set;
  std::vector<std::size_t> set_index;  // set's own index -> pattern index
  std::vector<std::size_t> fallbacks;  // pattern indices tried one by one
  std::vector<Problem> problems;
};

PatternSet::PatternSet(const std::vector<std::string>& patterns, bool ignore_case)
    : impl_(std::make_unique<Impl>()) {
  RE2::Options o = options(ignore_case);
  RE2::Options set_options = o;
  set_options.set_max_mem(kSetMemory);
  impl_->set = std::make_unique<RE2::Set>(set_options, RE2::UNANCHORED);
  impl_->slots.resize(patterns.size());
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    auto re = std::make_unique<RE2>(patterns[i], o);
    std::string error;
    if (re->ok()) {
      int added = impl_->set->Add(patterns[i], &error);
      if (added >= 0) {
        impl_->set_index.push_back(i);
        impl_->slots[i].re2 = std::move(re);
        continue;
      }
    } else {
      error = re->error();
    }
    Problem problem{i, patterns[i], error, false, {}};
    try {
      auto flags = std::regex::ECMAScript | std::regex::optimize;
      if (ignore_case) flags |= std::regex::icase;
      impl_->slots[i].fallback = std::make_unique<std::regex>(patterns[i], flags);
      impl_->fallbacks.push_back(i);
      problem.fallback = true;
    } catch (const std::regex_error& e) {
      problem.fallback_error = e.what();
    }
    impl_->problems.push_back(std::move(problem));
  }
  if (!impl_->set_index.empty() && !impl_->set->Compile()) {
    // Out of memory for the whole set: every pattern goes one by one
    // (correct, only slower).
    for (std::size_t i : impl_->set_index) impl_->fallbacks.push_back(i);
    std::sort(impl_->fallbacks.begin(), impl_->fallbacks.end());
    impl_->set_index.clear();
    impl_->set.reset();
  }
}

PatternSet::~PatternSet() = default;
PatternSet::PatternSet(PatternSet&&) noexcept = default;
PatternSet& PatternSet::operator=(PatternSet&&) noexcept = default;

std::size_t PatternSet::size() const { return impl_->slots.size(); }

const std::vector<PatternSet::Problem>& PatternSet::problems() const { return impl_->problems; }

void PatternSet::match(std::string_view text, std::vector<std::size_t>& out) const {
  out.clear();
  if (impl_->set) {
    re2::StringPiece piece(text.data(), text.size());
    // Asking which patterns matched costs an allocation and a scan to the
    // end; whether any did stops at the first. Most texts match none.
    if (impl_->set->Match(piece, nullptr)) {
      std::vector<int> hits;
      impl_->set->Match(piece, &hits);
      for (int h : hits) out.push_back(impl_->set_index[static_cast<std::size_t>(h)]);
    }
  }
  for (std::size_t i : impl_->fallbacks) {
    const Impl::Slot& s = impl_->slots[i];
    bool hit = s.re2 ? RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *s.re2)
                     : s.fallback && std::regex_search(text.begin(), text.end(), *s.fallback);
    if (hit) out.push_back(i);
  }
  std::sort(out.begin(), out.end());
}

std::optional<std::vector<std::string>> PatternSet::groups(std::size_t i,
                                                           std::string_view text) const {
  const Impl::Slot& s = impl_->slots.at(i);
  std::vector<std::string> out;
  if (s.re2) {
    int n = s.re2->NumberOfCapturingGroups() + 1;
    std::vector<re2::StringPiece> parts(static_cast<std::size_t>(n));
    if (!s.re2->Match(re2::StringPiece(text.data(), text.size()), 0, text.size(), RE2::UNANCHORED,
                      parts.data(), n)) {
      return std::nullopt;
    }
    for (const auto& p : parts) out.emplace_back(p.data() ? std::string(p) : std::string());
    return out;
  }
  if (!s.fallback) return std::nullopt;
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(text.begin(), text.end(), m, *s.fallback)) return std::nullopt;
  for (std::size_t g = 0; g < m.size(); ++g) out.push_back(m[g].matched ? m[g].str() : "");
  return out;
}

std::string PatternSet::replace(std::size_t i, std::string_view text,
                                std::string_view replacement) const {
  const Impl::Slot& s = impl_->slots.at(i);
  std::string out;
  std::vector<std::string_view> groups;
  if (s.re2) {
    int n = s.re2->NumberOfCapturingGroups() + 1;
    std::vector<re2::StringPiece> parts(static_cast<std::size_t>(n));
    std::size_t pos = 0;
    while (pos <= text.size() && s.re2->Match(re2::StringPiece(text.data(), text.size()), pos,
                                              text.size(), RE2::UNANCHORED, parts.data(), n)) {
      std::size_t start = static_cast<std::size_t>(parts[0].data() - text.data());
      std::size_t end = start + parts[0].size();
      out.append(text.substr(pos, start - pos));
      groups.clear();
      for (const auto& p : parts)
        groups.emplace_back(p.data() ? std::string_view(p.data(), p.size()) : std::string_view());
      expand(out, replacement, groups);
      if (end == start) {
        // An empty match: keep the next character and move past it.
        if (start < text.size()) out.push_back(text[start]);
        pos = start + 1;
      } else {
        pos = end;
      }
    }
    if (pos < text.size()) out.append(text.substr(pos));
    return out;
  }
  if (!s.fallback) return std::string(text);
  auto begin = text.begin();
  std::match_results<std::string_view::const_iterator> m;
  auto it = begin;
  while (it <= text.end() &&
         std::regex_search(it, text.end(), m, *s.fallback,
                           it == begin ? std::regex_constants::match_default
                                       : std::regex_constants::match_prev_avail)) {
    out.append(it, m[0].first);
    groups.clear();
    for (std::size_t g = 0; g < m.size(); ++g) {
      groups.emplace_back(
          m[g].matched ? std::string_view(&*m[g].first, static_cast<std::size_t>(m[g].length()))
                       : std::string_view());
    }
    expand(out, replacement, groups);
    if (m[0].length() == 0) {
      if (m[0].second == text.end()) {
        it = text.end();
        break;
      }
      out.push_back(*m[0].second);
      it = m[0].second + 1;
    } else {
      it = m[0].second;
    }
    if (it == text.end()) break;
  }
  out.append(it, text.end());
  return out;
}

std::string format_positional(std::string_view format, const std::vector<std::string>& args) {
  std::string out;
  std::size_t next = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if (c == '{' && i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      ++i;
    } else if (c == '}' && i + 1 < format.size() && format[i + 1] == '}') {
      out.push_back('}');
      ++i;
    } else if (c == '{') {
      auto end = format.find('}', i + 1);
      if (end == std::string_view::npos) {
        out.append(format.substr(i));
        break;
      }
      std::string_view field = format.substr(i + 1, end - i - 1);
      std::size_t index = next;
      bool ok = true;
      if (field.empty()) {
        ++next;
      } else {
        index = 0;
        for (char d : field) {
          if (d < '0' || d > '9')
            ok = false;
          else
            index = index * 10 + static_cast<std::size_t>(d - '0');
        }
      }
      if (ok && index < args.size()) {
        out.append(args[index]);
      } else {
        out.append(format.substr(i, end - i + 1));
      }
      i = end;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace immp::hooks
