#include "hooks/notes/notes_hook.hpp"

#include <gtest/gtest.h>

#include "store/database_hook.hpp"
#include "support/async.hpp"
#include "support/hooks.hpp"
#include "support/process.hpp"
#include "support/roster.hpp"
#include "support/commands.hpp"

namespace immp::hooks {
namespace {

using namespace std::chrono_literals;

const std::string kTick = "\u2705";
const std::string kCross = "\u274C";

// A network with #room and #other, commands behind "!", notes in SQLite.
struct NotesTest : ::testing::Test {
  asio::io_context io;
  test::TempDir dir{"immp-notes"};
  std::unique_ptr<Host> host;
  test::RosterPlug* net = nullptr;
  NotesHook* notes = nullptr;

  void build() {
    HostOptions o;
    o.phase_timeout = 5s;
    host = std::make_unique<Host>(io.get_executor(), o);
    net = &test::add_roster_plug(*host, "net");
    Group people;
    people.name = "people";
    people.anywhere.push_back(&host->plug_handle("net"));
    host->add_group(std::move(people));
    test::add_hook<store::DatabaseHook>(*host, "db",
                                        "url: \"sqlite:///" + (dir / "immp.db").string() + "\"");
    notes = &test::add_hook<NotesHook>(*host, "notes", "");
    test::add_command_hook(*host, "people", "[notes]");
    net->enter("#room", "alice");
    net->enter("#room", "bob");
    test::run(io, host->open());
  }
  ~NotesTest() override { close(); }
  void close() {
    if (host && host->is_open()) test::run(io, host->close());
  }
  // `who` types `text` in `where`; returns the bot's next answer there.
  std::string ask(const std::string& where, const std::string& who, const std::string& text) {
    std::size_t before = net->said(where).size();
    net->say(where, who, text);
    EXPECT_TRUE(test::run_until(io, [&] { return net->said(where).size() > before; }, 5s))
        << "no answer to " << text;
    auto said = net->said(where);
    return said.size() > before ? said[before] : std::string();
  }
};

TEST_F(NotesTest, AddShowEditRemoveInOneChannel) {
  build();
  EXPECT_EQ(ask("#room", "alice", "!note-add buy  milk"), kTick + " Added #1");
  EXPECT_EQ(ask("#room", "bob", "!note-add call <mum>"), kTick + " Added #2");
  std::string shown = ask("#room", "bob", "!note-show 1");
  EXPECT_TRUE(shown.starts_with("1.\tbuy  milk\t")) << shown << " (spacing kept as typed)";
  EXPECT_TRUE(shown.ends_with("s")) << shown;
  EXPECT_TRUE(ask("#room", "bob", "!note 2").starts_with("2.\tcall <mum>\t"));
  EXPECT_EQ(ask("#room", "alice", "!note-edit 2 call dad"), kTick + " Edited");
  EXPECT_TRUE(ask("#room", "alice", "!note 2").starts_with("2.\tcall dad\t"));
  EXPECT_EQ(ask("#room", "alice", "!note-remove 1"), kTick + " Removed 1 note");
  EXPECT_TRUE(ask("#room", "alice", "!note 1").starts_with("1.\tcall dad\t"))
      << "numbers follow the notes that are left";
  EXPECT_EQ(ask("#room", "alice", "!note 2"), kCross + " Does not exist");
}

TEST_F(NotesTest, NotesBelongToTheirChannel) {
  build();
  net->enter("#other", "alice");
  ask("#room", "alice", "!note-add here");
  EXPECT_EQ(ask("#other", "alice", "!notes"), kCross + " No notes");
  EXPECT_EQ(ask("#other", "alice", "!note 1"), kCross + " Does not exist");
}

TEST_F(NotesTest, TheListGoesPrivatelyAndTheChannelIsToldSo) {
  build();
  ask("#room", "alice", "!note-add first");
  ask("#room", "alice", "!note-add second thing");
  EXPECT_EQ(ask("#room", "bob", "!notes"), kTick + " Sent");
  ASSERT_TRUE(test::run_until(io, [&] { return !net->said("dm:bob").empty(); }, 5s));
  std::string list = net->said("dm:bob")[0];
  EXPECT_TRUE(list.starts_with("2 notes in this channel:\n1.\tfirst\t")) << list;
  EXPECT_NE(list.find("\n2.\tsecond thing\t"), std::string::npos) << list;
  // A search, and a caller with no private channel gets it in the room.
  net->no_private("alice");
  std::string found = ask("#room", "alice", "!note-list THING");
  EXPECT_TRUE(found.starts_with("1 matching note in this channel:\n2.\tsecond thing\t")) << found;
  EXPECT_EQ(ask("#room", "alice", "!note-list nothing"), kCross + " No matches");
}

TEST_F(NotesTest, BadArgumentsGetTheUsageLine) {
  build();
  ask("#room", "alice", "!note-add one");
  for (const char* bad : {"!note-edit x text", "!note-remove", "!note-remove 1 z", "!note 0",
                          "!note-show", "!note-add"}) {
    std::string answer = ask("#room", "alice", bad);
    EXPECT_NE(answer.find("note"), std::string::npos) << bad << " -> " << answer;
    EXPECT_EQ(answer.find("Added"), std::string::npos) << bad << " -> " << answer;
    EXPECT_EQ(answer.find("Removed"), std::string::npos) << bad << " -> " << answer;
  }
  EXPECT_TRUE(ask("#room", "alice", "!note 1").starts_with("1.\tone\t")) << "nothing changed";
}

TEST_F(NotesTest, NotesSurviveARestartAndMoveWithChannelMigrate) {
  build();
  ask("#room", "alice", "!note-add keep me");
  close();
  build();
  EXPECT_TRUE(ask("#room", "alice", "!note 1").starts_with("1.\tkeep me\t"));
  bool moved = test::run(io, notes->channel_migrate(net->channel("#room"), net->channel("#new")));
  EXPECT_TRUE(moved);
  net->enter("#new", "alice");
  EXPECT_TRUE(ask("#new", "alice", "!note 1").starts_with("1.\tkeep me\t"));
  EXPECT_EQ(ask("#room", "alice", "!notes"), kCross + " No notes");
}

TEST(Notes, AgoCountsInIMMPsUnits) {
  EXPECT_EQ(NotesHook::ago(100, 159), "59s");
  EXPECT_EQ(NotesHook::ago(0, 3 * 60), "3m");
  EXPECT_EQ(NotesHook::ago(0, 5 * 3600), "5h");
  EXPECT_EQ(NotesHook::ago(0, 3 * 86400), "3d");
}

}  // namespace
}  // namespace immp::hooks
