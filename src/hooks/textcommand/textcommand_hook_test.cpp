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

// IMMP reads a text command's answer as rich text (RichText.unraw): an
// IMMP config's formatting reaches the channel as formatting, not tags.
TEST(TextCommandHook, AnswersKeepIMMPsFormatting) {
  asio::io_context io;
  Host host(io.get_executor());
  auto& a = test::add_memory_plug(host, "a");
  Group all;
  all.name = "all";
  all.anywhere.push_back(&host.plug_handle("a"));
  host.add_group(all);
  test::add_hook<TextCommandHook>(
      host, "text", "commands: {rules: 'Read <b>the rules</> at <l=https://x.test/r>our site</>'}");
  test::add_hook<CommandHook>(host, "commands",
                              "prefix: '!'\nmapping: {all: {groups: [all], hooks: [text]}}");
  test::run(io, host.open());
  a.inject("room", "!rules", "alice");
  ASSERT_TRUE(test::run_until(io, [&] { return a.posted_count() == 1; }, 5s));
  const RichText& text = *a.posted()[0]->text;
  EXPECT_EQ(text.plain(), "Read the rules at our site");
  ASSERT_EQ(text.segments().size(), 4u);
  EXPECT_TRUE(text.segments()[1].bold);
  EXPECT_EQ(text.segments()[3].link, "https://x.test/r");
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
