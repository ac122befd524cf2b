#include "immp/command.hpp"

#include <gtest/gtest.h>

#include "support/async.hpp"

namespace immp {
namespace {

using Args = std::vector<std::string>;

TEST(CommandArity, ReadsRequiredOptionalAndManyFromTheUsage) {
  auto none = CommandArity::of("");
  EXPECT_EQ(none.min, 0u);
  EXPECT_EQ(none.max, 0u);
  auto some = CommandArity::of("<name> <text> [extra]");
  EXPECT_EQ(some.min, 2u);
  EXPECT_EQ(some.max, 3u);
  EXPECT_TRUE(some.accepts(2));
  EXPECT_FALSE(some.accepts(1));
  EXPECT_FALSE(some.accepts(4));
  auto many = CommandArity::of("<pattern> [words...]");
  EXPECT_EQ(many.min, 1u);
  EXPECT_TRUE(many.accepts(100));
  auto at_least_one = CommandArity::of("<words...>");
  EXPECT_FALSE(at_least_one.accepts(0));
  EXPECT_TRUE(at_least_one.accepts(1));
}

TEST(CommandArgs, SpacesSplitOnAnyRunOfWhitespace) {
  EXPECT_EQ(parse_command_args(CommandParser::spaces, "  a  b\tc "), (Args{"a", "b", "c"}));
  EXPECT_EQ(parse_command_args(CommandParser::spaces, ""), Args{});
}

TEST(CommandArgs, ShlexKeepsQuotedWordsTogetherAsPythonDoes) {
  EXPECT_EQ(parse_command_args(CommandParser::shlex, R"(add "hello there" it's)"), std::nullopt)
      << "an unclosed quote cannot be split";
  EXPECT_EQ(parse_command_args(CommandParser::shlex, R"(add "hello there" 'it''s' a\ b)"),
            (Args{"add", "hello there", "its", "a b"}));
  EXPECT_EQ(parse_command_args(CommandParser::shlex, R"("say \"hi\"" "")"),
            (Args{"say \"hi\"", ""}));
}

TEST(CommandArgs, NoneGivesTheRestOfTheLineAsTyped) {
  EXPECT_EQ(parse_command_args(CommandParser::none, " remember  the  milk "),
            Args{"remember  the  milk"});
  EXPECT_EQ(parse_command_args(CommandParser::none, "   "), Args{});
}

TEST(CommandArgs, HybridSplitsUpToTheLastArgumentWhichKeepsTheRest) {
  EXPECT_EQ(parse_command_args(CommandParser::hybrid, "3 new  text here", 2),
            (Args{"3", "new  text here"}));
  EXPECT_EQ(parse_command_args(CommandParser::hybrid, "3", 2), Args{"3"});
}

// A context answers through whoever runs the command.
struct Capture final : CommandReplies {
  std::vector<std::pair<bool, std::string>> said;
  void reply(const CommandContext&, MessagePtr msg) override {
    said.emplace_back(false, msg->plain());
  }
  Task<> reply_private(const CommandContext&, MessagePtr msg) override {
    said.emplace_back(true, msg->plain());
    co_return;
  }
};

TEST(CommandContext, RepliesGoWhereTheRunnerSaysAndUsageNamesTheCommand) {
  asio::io_context io;
  Capture capture;
  Command cmd{.name = "note-add", .usage = "<text>", .run = {}};
  CommandContext ctx(CommandCaller{}, cmd, {"milk"}, capture);
  ctx.reply("added");
  test::run(io, ctx.reply_private("psst"));
  ASSERT_EQ(capture.said.size(), 2u);
  EXPECT_EQ(capture.said[0], std::make_pair(false, std::string("added")));
  EXPECT_EQ(capture.said[1], std::make_pair(true, std::string("psst")));
  EXPECT_EQ(ctx.usage_line(), "note-add <text>");
  EXPECT_THROW(ctx.usage(), BadUsage);
}

// The one place a hook declares its commands.
struct Provider : CommandProvider {
  Provider() {
    add_command({.name = "ping", .help = "Answers pong.", .run = [](CommandContext& ctx) -> Task<> {
                   ctx.reply("pong");
                   co_return;
                 }});
  }
};

TEST(CommandProvider, ListsWhatTheHookDeclared) {
  Provider p;
  ASSERT_EQ(p.commands().size(), 1u);
  EXPECT_EQ(p.commands()[0].name, "ping");
  EXPECT_EQ(p.commands()[0].scope, CommandScope::anywhere);
}

}  // namespace
}  // namespace immp
