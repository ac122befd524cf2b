// The documentation against the code: every config example in docs/ and
// examples/ loads, every built-in class is documented, every linked page
// exists. A user copies examples from the docs; one that does not load is a
// bug as real as one in the code.
#include "runner/runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/logging.hpp"
#include "runner/builtins.hpp"

namespace immp {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = fs::path(IMMP_SOURCE_DIR);

// The IRC plug is being written: until its class is registered, examples
// that use immp.plug.irc.IRCPlug are skipped and docs/plugs/irc.md may be
// missing. Nothing else is excused; once the class is registered both are
// checked like everything else.
constexpr std::string_view kPendingClass = "immp.plug.irc.IRCPlug";
constexpr std::string_view kPendingPage = "docs/plugs/irc.md";

bool is_registered(std::string_view path) {
  const auto& classes = builtin_module().classes;
  return std::any_of(classes.begin(), classes.end(),
                     [&](const ClassInfo& c) { return c.path == path; });
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// "docs/config.md", for messages.
std::string repo_path(const fs::path& file) { return fs::relative(file, kSource).generic_string(); }

std::vector<fs::path> doc_pages() {
  std::vector<fs::path> pages;
  for (const auto& entry : fs::recursive_directory_iterator(kSource / "docs")) {
    if (entry.is_regular_file() && entry.path().extension() == ".md") {
      pages.push_back(entry.path());
    }
  }
  std::sort(pages.begin(), pages.end());
  return pages;
}

struct Block {
  fs::path page;
  int line = 0;      // of the opening fence, 1-based
  std::string lang;  // the info string's first word, lower case
  std::string text;
};

// Fenced code blocks (```lang ... ```), indented fences included: the
// fence's indentation is removed from the block's lines.
std::vector<Block> code_blocks(const fs::path& page) {
  std::vector<Block> blocks;
  std::istringstream in(read_file(page));
  std::string line;
  int number = 0;
  bool open = false;
  std::size_t indent = 0;
  Block current;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::size_t start = line.find_first_not_of(' ');
    bool fence = start != std::string::npos && line.compare(start, 3, "```") == 0;
    if (!open) {
      if (!fence) continue;
      open = true;
      indent = start;
      current = Block{page, number, "", ""};
      std::string info = line.substr(start + 3);
      info.erase(0, info.find_first_not_of(' '));
      current.lang = info.substr(0, info.find_first_of(" {"));
      for (char& c : current.lang)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      continue;
    }
    if (fence && line.find_first_not_of('`', start) == std::string::npos) {
      blocks.push_back(std::move(current));
      open = false;
      continue;
    }
    std::size_t cut = std::min(indent, line.find_first_not_of(' ') == std::string::npos
                                           ? line.size()
                                           : line.find_first_not_of(' '));
    current.text += line.substr(cut);
    current.text += '\n';
  }
  EXPECT_FALSE(open) << repo_path(page) << ":" << current.line << ": code block never closed";
  return blocks;
}

struct TempDir {
  fs::path dir;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "immp-docs-XXXXXX").string();
    dir = mkdtemp(t.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// Builds a Runner from `file` (nothing is started). Returns the error, or
// an empty string when it loads. An example teaches what it shows, so one
// that loads only with warnings (an unknown key) fails too.
std::string load_error(const fs::path& file) {
  std::string error;
  {
    asio::io_context io;
    try {
      Runner runner(file, io);
      for (const ConfigWarning& w : runner.warnings()) error += "warning: " + w.str() + "\n";
    } catch (const ConfigError& e) {
      error = e.what();
    } catch (const std::exception& e) {
      error = std::string("not a ConfigError: ") + e.what();
    }
  }
  // A logging section may have opened files next to `file`: close them
  // before the folder goes, and leave the next test the defaults.
  configure_logging(nullptr, kSource);
  return error;
}

// The error as the reader of the page needs it: "tmp/config.yaml:6:9: ..."
// becomes "docs/x.md:17:9: ..." (the block's line 6 is the page's 17).
std::string on_page(const std::string& error, const fs::path& file, const Block& block) {
  std::string prefix = file.string() + ":";
  if (error.rfind(prefix, 0) != 0) return error;
  std::size_t pos = prefix.size();
  std::size_t end = pos;
  while (end < error.size() && std::isdigit(static_cast<unsigned char>(error[end]))) ++end;
  if (end == pos)
    return repo_path(block.page) + ":" + std::to_string(block.line) + error.substr(pos - 1);
  int line = std::stoi(error.substr(pos, end - pos));
  return repo_path(block.page) + ":" + std::to_string(block.line + line) + error.substr(end);
}

// Each ```yaml block of every page in docs/ is a complete config: with
// nothing but itself in a fresh folder, it builds a host. A fragment that
// is not a whole config must say ```text. The JSON and TOML examples of
// docs/config.md (the formats section) are held to the same rule.
TEST(Docs, EveryConfigExampleLoads) {
  const bool irc_registered = is_registered(kPendingClass);
  int checked = 0;
  for (const fs::path& page : doc_pages()) {
    const bool is_config_reference = repo_path(page) == "docs/config.md";
    for (const Block& block : code_blocks(page)) {
      std::string extension;
      if (block.lang == "yaml" || block.lang == "yml") {
        extension = ".yaml";
      } else if (is_config_reference && (block.lang == "json" || block.lang == "toml")) {
        extension = "." + block.lang;
      } else {
        continue;
      }
      std::string where = repo_path(page) + ":" + std::to_string(block.line);
      if (!irc_registered && block.text.find(kPendingClass) != std::string::npos) {
        std::cout << "[ SKIPPED  ] " << where << ": uses " << kPendingClass
                  << ", which is not registered yet\n";
        continue;
      }
      TempDir tmp;
      fs::path file = tmp.dir / ("config" + extension);
      std::ofstream(file, std::ios::binary) << block.text;
      std::string error = load_error(file);
      ++checked;
      EXPECT_EQ(error, "") << where << ": this " << block.lang
                           << " block does not load as a config (use ```text for a fragment):\n"
                           << on_page(error, file, block) << "\n---\n"
                           << block.text;
    }
  }
  // Guards against a parser that finds nothing and passes.
  EXPECT_GE(checked, 10) << "too few config examples found under docs/";
}

TEST(Docs, EveryExampleConfigFileLoads) {
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(kSource / "examples")) {
    const fs::path& file = entry.path();
    if (!entry.is_regular_file() || (file.extension() != ".yaml" && file.extension() != ".yml")) {
      continue;
    }
    // Loaded where it is: its relative paths start at its own folder.
    // Nothing is written (no -w) and nothing is started.
    std::string error = load_error(file);
    ++checked;
    EXPECT_EQ(error, "") << repo_path(file) << " does not load:\n" << error;
  }
  EXPECT_GE(checked, 1) << "no examples/*.yaml found";
}

TEST(Docs, EveryBuiltinClassIsDocumented) {
  std::string all;
  for (const fs::path& page : doc_pages()) all += read_file(page);
  for (const ClassInfo& info : builtin_module().classes) {
    EXPECT_NE(all.find(info.path), std::string::npos)
        << info.path << " is registered in builtin_module() but no page under docs/ names it";
  }
}

// Relative link targets of a markdown page: "](target)" and "](target#anchor)".
std::vector<std::pair<int, std::string>> relative_links(const fs::path& page) {
  std::vector<std::pair<int, std::string>> links;
  std::istringstream in(read_file(page));
  std::string line;
  int number = 0;
  bool in_code = false;
  while (std::getline(in, line)) {
    ++number;
    std::size_t start = line.find_first_not_of(' ');
    if (start != std::string::npos && line.compare(start, 3, "```") == 0) {
      in_code = !in_code;
      continue;
    }
    if (in_code) continue;
    // Inline code spans show markup, not links: blanked before looking. A
    // span opens with a run of backticks and closes at a run as long.
    for (std::size_t i = 0; i < line.size();) {
      if (line[i] != '`') {
        ++i;
        continue;
      }
      std::size_t run = line.find_first_not_of('`', i);
      if (run == std::string::npos) break;
      const std::string fence = line.substr(i, run - i);
      std::size_t close = run;
      while ((close = line.find(fence, close)) != std::string::npos &&
             close + fence.size() < line.size() && line[close + fence.size()] == '`') {
        close = line.find_first_not_of('`', close);
      }
      if (close == std::string::npos) break;
      std::fill(line.begin() + static_cast<std::ptrdiff_t>(run),
                line.begin() + static_cast<std::ptrdiff_t>(close), ' ');
      i = close + fence.size();
    }
    for (std::size_t at = line.find("]("); at != std::string::npos; at = line.find("](", at + 2)) {
      std::size_t end = line.find(')', at + 2);
      if (end == std::string::npos) break;
      std::string target = line.substr(at + 2, end - at - 2);
      if (target.empty() || target[0] == '#' || target.find("://") != std::string::npos ||
          target.rfind("mailto:", 0) == 0) {
        continue;
      }
      links.emplace_back(number, target.substr(0, target.find('#')));
    }
  }
  return links;
}

void expect_links_exist(const fs::path& page) {
  const bool irc_registered = is_registered(kPendingClass);
  for (const auto& [line, target] : relative_links(page)) {
    fs::path file = (page.parent_path() / target).lexically_normal();
    if (!irc_registered && repo_path(file) == kPendingPage) continue;
    EXPECT_TRUE(fs::exists(file)) << repo_path(page) << ":" << line << ": links to " << target
                                  << ", which does not exist";
  }
}

TEST(Docs, EveryPageLinkedFromTheReadmeExists) {
  auto links = relative_links(kSource / "README.md");
  EXPECT_GE(links.size(), 5u) << "the README's documentation links were not found";
  expect_links_exist(kSource / "README.md");
}

TEST(Docs, EveryLinkBetweenDocsPagesResolves) {
  for (const fs::path& page : doc_pages()) expect_links_exist(page);
}

}  // namespace
}  // namespace immp
