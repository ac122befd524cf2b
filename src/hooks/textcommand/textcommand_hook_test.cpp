#include "hooks/textcommand/textcommand_hook.hpp"

#include <gtest/gtest.h>

#include "hooks/command/command_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/memory.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;

TEST(TextCommandHook, EachCommandAnswersItsTextAndHelpListsThem) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a");
  Group all;
  all.name = "all";
  all.anywhere.push_back(&host.plug_handle("a"));
  host.add_group(all);
  test::add_hook<TextCommandHook>(host, "text",
                                  "commands: {rules: 'Be nice.', site: 'https://example.org'}");
  test::add_hook<CommandHook>(host, "commands",
                              "prefix: '!'\nmapping: {all: {groups: [all], hooks: [text, "
                              "commands]}}");
  test::run(io, host.open());
  a.inject("room", "!rules", "alice");
  a.inject("room", "!SITE", "alice");
  a.inject("room", "!rules please", "alice");
  a.inject("room", "!help", "alice");
  ASSERT_TRUE(test::run_until(
      io, [&] { return a.posted_count() == 4; }, 5s));
  EXPECT_EQ(a.posted()[0]->plain(), "Be nice.");
  EXPECT_EQ(a.posted()[1]->plain(), "https://example.org");
  EXPECT_EQ(a.posted()[2]->plain(), "rules:\nAnswers with a fixed text.")
      << "takes no arguments: the usage is answered";
  EXPECT_EQ(a.posted()[3]->plain(), "Available commands:\n- help [command]\n- rules\n- site");
  test::run(io, host.close());
}

TEST(TextCommandHook, ACommandNameWithASpaceIsAConfigError) {
  asio::io_context io;
  Host host(io.get_executor());
  EXPECT_THROW(test::add_hook<TextCommandHook>(host, "text", "commands: {'two words': x}"),
               ConfigError);
}

}  // namespace
}  // namespace immp::hooks
