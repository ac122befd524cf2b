#include "operators/lines.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace immp::operators {
namespace {

std::vector<std::string> all(LineSplitter& s, std::vector<std::uint64_t>* too_long = nullptr) {
  std::vector<std::string> out;
  while (auto l = s.next()) {
    if (l->too_long) {
      if (too_long) too_long->push_back(l->number);
      continue;
    }
    out.emplace_back(l->text);
  }
  return out;
}

TEST(LineSplitter, SplitsLinesAcrossReads) {
  LineSplitter s(100);
  s.append("{\"a\":1}\n{\"b\"");
  EXPECT_EQ(all(s), std::vector<std::string>{"{\"a\":1}"});
  s.append(":2}\r\n\n");
  EXPECT_EQ(all(s), (std::vector<std::string>{"{\"b\":2}", ""}));
}

TEST(LineSplitter, ALineOverTheLimitIsReportedOnceAndSkippedToItsEnd) {
  LineSplitter s(8);
  std::vector<std::uint64_t> too_long;
  s.append("ok\n");
  s.append(std::string(20, 'x'));
  EXPECT_EQ(all(s, &too_long), std::vector<std::string>{"ok"});
  s.append(std::string(1000, 'y'));  // still the same line: nothing kept
  EXPECT_EQ(all(s, &too_long), std::vector<std::string>{});
  s.append("zz\nnext\n");
  EXPECT_EQ(all(s, &too_long), std::vector<std::string>{"next"});
  EXPECT_EQ(too_long, std::vector<std::uint64_t>{2});
}

TEST(LineSplitter, ALongLineInOneReadIsReportedWithItsNumber) {
  LineSplitter s(4);
  std::vector<std::uint64_t> too_long;
  s.append("abcdefgh\nab\n");
  EXPECT_EQ(all(s, &too_long), std::vector<std::string>{"ab"});
  EXPECT_EQ(too_long, std::vector<std::uint64_t>{1});
}

}  // namespace
}  // namespace immp::operators
