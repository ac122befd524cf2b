#include "hooks/sync/sync_refs.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <filesystem>

#include "support/async.hpp"
#include "support/memory.hpp"
#include "support/postgres_server.hpp"

namespace immp::hooks {
namespace {

namespace fs = std::filesystem;

// Two networks with a room each; the map under test, memory only unless a
// test opens a database.
struct SyncRefsTest : ::testing::Test {
  asio::io_context io;
  Host host{io.get_executor()};
  plugs::MemoryPlug& a = test::add_memory_plug(host, "a");
  plugs::MemoryPlug& b = test::add_memory_plug(host, "b");
  Channel ra = a.channel("room");
  Channel rb = b.channel("room");

  std::optional<std::string> key_for(SyncRefs& refs, const Channel& c, const std::string& id) {
    return test::run(io, refs.key_for(c, id));
  }
  std::vector<Copy> copies(SyncRefs& refs, const std::string& key) {
    return test::run(io, refs.copies(key));
  }
};

TEST_F(SyncRefsTest, AnOriginAndItsCopiesFindOneAnother) {
  SyncRefs refs(host, nullptr, 100, "sync:test");
  OriginPtr origin = refs.add_origin(ra, "m1");
  EXPECT_EQ(origin->owner, "sync:test");
  refs.add_copy(*origin, rb, "c1");
  EXPECT_EQ(key_for(refs, ra, "m1"), origin->tag);
  EXPECT_EQ(key_for(refs, rb, "c1"), origin->tag);
  EXPECT_EQ(key_for(refs, rb, "m1"), std::nullopt) << "an id is only known on its own channel";
  auto all = copies(refs, origin->tag);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].channel, ra) << "origin first";
  EXPECT_EQ(all[0].id, "m1");
  EXPECT_EQ(all[1].channel, rb);
  EXPECT_EQ(all[1].id, "c1");
  EXPECT_EQ(refs.origin_for(origin->tag), origin) << "further copies share the record";
}

TEST_F(SyncRefsTest, MemoryOnlyForgetsTheOldestBeyondItsCapacity) {
  SyncRefs refs(host, nullptr, 16, "sync:test");
  std::vector<OriginPtr> origins;
  for (int i = 0; i < 40; ++i) {
    origins.push_back(refs.add_origin(ra, "m" + std::to_string(i)));
    refs.add_copy(*origins.back(), rb, "c" + std::to_string(i));
  }
  EXPECT_EQ(key_for(refs, rb, "c0"), std::nullopt) << "evicted";
  for (int i = 24; i < 40; ++i) {
    EXPECT_EQ(key_for(refs, rb, "c" + std::to_string(i)), origins[i]->tag) << i;
    EXPECT_EQ(copies(refs, origins[i]->tag).size(), 2u) << i;
  }
}

TEST_F(SyncRefsTest, ARecordStillHeldIsNotReusedWhenTheRingWraps) {
  // An outbox entry or echo still holds the first record: the slot's next
  // message gets a record of its own, and the held one keeps its tag.
  SyncRefs refs(host, nullptr, 16, "sync:test");
  OriginPtr held = refs.add_origin(ra, "m0");
  const std::string tag = held->tag;
  std::vector<std::string> tags;
  for (int i = 1; i < 40; ++i) {
    OriginPtr o = refs.add_origin(ra, "m" + std::to_string(i));
    refs.add_copy(*o, rb, "c" + std::to_string(i));
    tags.push_back(o->tag);
  }
  EXPECT_EQ(held->tag, tag);
  EXPECT_EQ(held->ref, 1u);
  for (int i = 24; i < 40; ++i) {
    EXPECT_EQ(key_for(refs, rb, "c" + std::to_string(i)), tags[i - 1]) << i;
    EXPECT_EQ(refs.origin_for(tags[i - 1])->tag, tags[i - 1]) << i;
  }
}

TEST_F(SyncRefsTest, EveryMessageStaysFoundWhileTheIndexGrows) {
  // The index starts small and grows with the ring: keys and copies
  // indexed before each growth are still found after it.
  SyncRefs refs(host, nullptr, 3000, "sync:test");
  std::vector<OriginPtr> origins;
  for (int i = 0; i < 3000; ++i) {
    origins.push_back(refs.add_origin(ra, "m" + std::to_string(i)));
    refs.add_copy(*origins.back(), rb, "c" + std::to_string(i));
  }
  for (int i = 0; i < 3000; ++i) {
    ASSERT_EQ(key_for(refs, ra, "m" + std::to_string(i)), origins[i]->tag) << i;
    ASSERT_EQ(key_for(refs, rb, "c" + std::to_string(i)), origins[i]->tag) << i;
    ASSERT_EQ(copies(refs, origins[i]->tag).size(), 2u) << i;
    ASSERT_EQ(refs.origin_for(origins[i]->tag), origins[i]) << i;
  }
}

TEST_F(SyncRefsTest, ADeliveryAfterARestartRebuildsItsMessageFromTheKey) {
  std::string tag;
  {
    SyncRefs before(host, nullptr, 16, "sync:test");
    tag = before.add_origin(ra, "m1")->tag;
  }
  // A restored outbox delivers a copy to a map that never saw the origin.
  SyncRefs after(host, nullptr, 16, "sync:test");
  Origin restored{"sync:test", tag};
  after.add_copy(restored, rb, "c1");
  auto all = copies(after, tag);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].channel, ra);
  EXPECT_EQ(all[0].id, "m1");
  EXPECT_EQ(key_for(after, ra, "m1"), tag);
}

TEST_F(SyncRefsTest, TheDatabaseKeepsWhatTheCacheForgets) {
  std::string t = (fs::temp_directory_path() / "immp-refs-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  {
    auto db = test::run(io, store::Database::open("sqlite:///" + (dir / "refs.db").string()));
    test::run(io, db->migrate("sync", SyncRefs::migrations(db->dialect())));
    std::string first;
    {
      SyncRefs refs(host, db.get(), 16, "sync:test");
      for (int i = 0; i < 40; ++i) {
        OriginPtr o = refs.add_origin(ra, "m" + std::to_string(i));
        refs.add_copy(*o, rb, "c" + std::to_string(i));
        if (i == 0) first = o->tag;
      }
      test::run(io, db->flush());
      // Evicted from memory, found in the database, by copy and by origin.
      EXPECT_EQ(key_for(refs, rb, "c0"), first);
      EXPECT_EQ(key_for(refs, ra, "m0"), first);
      auto all = copies(refs, first);
      ASSERT_EQ(all.size(), 2u);
      EXPECT_EQ(all[0].id, "m0");
      EXPECT_EQ(all[1].id, "c0");
    }
    SyncRefs fresh(host, db.get(), 16, "sync:test");
    EXPECT_TRUE(key_for(fresh, rb, "c39").has_value()) << "a new map finds it in the database";
    EXPECT_EQ(key_for(fresh, rb, "never"), std::nullopt);
    db->close();
  }
  fs::remove_all(dir);
}

TEST_F(SyncRefsTest, CopiesWrittenManyToAStatementKeepEveryRowOnce) {
  // A busy bridge's rows share INSERTs (32 to a statement on SQLite): a
  // copy recorded again, in the same statement or after a restart, is
  // refused without losing the rows around it.
  std::string t = (fs::temp_directory_path() / "immp-refs-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  {
    auto db = test::run(io, store::Database::open("sqlite:///" + (dir / "refs.db").string()));
    test::run(io, db->migrate("sync", SyncRefs::migrations(db->dialect())));
    std::vector<std::string> keys;
    {
      SyncRefs refs(host, db.get(), 16, "sync:test");
      for (int i = 0; i < 100; ++i) {
        OriginPtr o = refs.add_origin(ra, "m" + std::to_string(i));
        refs.add_copy(*o, rb, "c" + std::to_string(i));
        refs.add_copy(*o, rb, "c" + std::to_string(i));  // a repeat, queued beside it
        keys.push_back(o->tag);
      }
      test::run(io, db->flush());
    }
    SyncRefs again(host, db.get(), 16, "sync:test");
    for (int i = 0; i < 100; ++i) {
      // Delivered again after a restart, with a new copy of each.
      OriginPtr o = again.origin_for(keys[static_cast<std::size_t>(i)]);
      again.add_copy(*o, rb, "c" + std::to_string(i));
      again.add_copy(*o, rb, "d" + std::to_string(i));
    }
    test::run(io, db->flush());
    auto rows = test::run(io, db->query("SELECT COUNT(*) FROM sync_refs"));
    EXPECT_EQ(store::as_int(rows[0][0]), 200);
    SyncRefs fresh(host, db.get(), 16, "sync:test");
    for (int i : {0, 31, 32, 63, 99}) {
      std::string n = std::to_string(i);
      EXPECT_EQ(key_for(fresh, rb, "c" + n), keys[static_cast<std::size_t>(i)]);
      EXPECT_EQ(key_for(fresh, rb, "d" + n), keys[static_cast<std::size_t>(i)]);
    }
    db->close();
  }
  fs::remove_all(dir);
}

TEST_F(SyncRefsTest, IdsOfAnyLengthAndCharacterComeBackFromTheDatabase) {
  // Ids are stored with their length first (ordered as they arrive when
  // they count up); what comes back is the id itself.
  std::string t = (fs::temp_directory_path() / "immp-refs-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  {
    auto db = test::run(io, store::Database::open("sqlite:///" + (dir / "refs.db").string()));
    test::run(io, db->migrate("sync", SyncRefs::migrations(db->dialect())));
    std::vector<std::string> ids = {"9",
                                    "10",
                                    "",
                                    "~7:x",
                                    "a:b",
                                    std::string(77, 'l'),
                                    std::string(78, 'm'),
                                    std::string(300, 'n'),
                                    "\xc3\xa9t\xc3\xa9"};
    std::vector<std::string> keys;
    // Copies alternate between a channel numbered at load() and one that
    // is not (the database numbers it).
    Channel other = b.channel("other");
    auto target = [&](std::size_t i) { return i % 2 ? other : rb; };
    {
      SyncRefs refs(host, db.get(), 16, "sync:test");
      test::run(io, refs.load({ra, rb}));
      for (std::size_t i = 0; i < ids.size(); ++i) {
        OriginPtr o = refs.add_origin(ra, "o" + ids[i]);
        refs.add_copy(*o, target(i), ids[i]);
        keys.push_back(o->tag);
      }
      test::run(io, db->flush());
    }
    SyncRefs fresh(host, db.get(), 16, "sync:test");
    for (std::size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(key_for(fresh, target(i), ids[i]), keys[i]) << ids[i].size() << " bytes";
      EXPECT_EQ(key_for(fresh, ra, "o" + ids[i]), keys[i]);
      auto all = copies(fresh, keys[i]);
      ASSERT_EQ(all.size(), 2u);
      EXPECT_EQ(all[0].id, "o" + ids[i]);
      EXPECT_EQ(all[1].id, ids[i]);
      EXPECT_EQ(all[1].channel, target(i));
    }
    db->close();
  }
  fs::remove_all(dir);
}

// A database from before version 3 (keys as text): rows written as
// versions 1 and 2 wrote them, then every migration.
// On SQLite and, where its binaries are installed, PostgreSQL.
struct OldMapTest : SyncRefsTest, ::testing::WithParamInterface<std::tuple<std::size_t, bool>> {
  static test::PostgresServer* postgres() {
    static std::unique_ptr<test::PostgresServer> server = [] {
      auto bin = test::PostgresServer::find_binaries();
      return bin ? std::make_unique<test::PostgresServer>(*bin) : nullptr;
    }();
    return server.get();
  }
};

TEST_P(OldMapTest, WhatTheOldTableKnewIsFoundAfterTheMigration) {
  std::string t = (fs::temp_directory_path() / "immp-refs-XXXXXX").string();
  fs::path dir = mkdtemp(t.data());
  {
    auto [version, on_postgres] = GetParam();
    std::string url = "sqlite:///" + (dir / "refs.db").string();
    if (on_postgres) {
      if (!test::PostgresServer::find_binaries()) {
        GTEST_SKIP() << test::PostgresServer::missing_reason();
      }
      url = postgres()->create_database("immp_refs_v" + std::to_string(version));
    }
    auto db = test::run(io, store::Database::open(url));
    std::vector<std::string> steps = SyncRefs::migrations(db->dialect());
    ASSERT_EQ(steps.size(), 4u);
    test::run(io, db->migrate("sync", {steps.begin(), steps.begin() + version}));
    SyncRefs memory(host, nullptr, 16, "sync:test");
    std::string tag = memory.add_origin(ra, "m1")->tag;
    std::string tag2 = memory.add_origin(rb, "m2")->tag;
    Channel other = b.channel("other");
    if (version < 3) {
      for (auto row : std::vector<std::vector<store::Value>>{
               {b.network_id(), "room", "c1", tag},
               {b.network_id(), "other", "c1", tag},  // the same id on another channel
               {a.network_id(), "room", "c2", tag2},
               {b.network_id(), "room", "lost", "not a key"}}) {
        test::run(io, db->execute("INSERT INTO sync_refs (network, channel, message, key)"
                                  " VALUES (?, ?, ?, ?)",
                                  std::move(row)));
      }
    } else {
      // Version 3: numbered channels, ids as they are.
      for (auto row : std::vector<std::vector<store::Value>>{
               {a.network_id(), "room"}, {b.network_id(), "room"}, {b.network_id(), "other"}}) {
        test::run(io, db->execute("INSERT INTO sync_channels (network, channel) VALUES (?, ?)",
                                  std::move(row)));
      }
      std::string number = "(SELECT id FROM sync_channels WHERE network = ? AND channel = ?)";
      for (auto row : std::vector<std::vector<store::Value>>{
               {"c1", b.network_id(), "room", "m1", a.network_id(), "room"},
               {"c1", b.network_id(), "other", "m1", a.network_id(), "room"},
               {"c2", a.network_id(), "room", "m2", b.network_id(), "room"}}) {
        test::run(io, db->execute("INSERT INTO sync_refs (message, channel, origin, origin_channel)"
                                  " VALUES (?, " +
                                      number + ", ?, " + number + ")",
                                  std::move(row)));
      }
    }
    test::run(io, db->migrate("sync", steps));
    auto count = test::run(io, db->query("SELECT COUNT(*) FROM sync_refs"));
    EXPECT_EQ(store::as_int(count[0][0]), 3) << "the row without a key dropped";
    auto ids =
        test::run(io, db->query("SELECT message, origin FROM sync_refs WHERE message LIKE '%c2'"));
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(store::as_text(ids[0][0]), "2c2") << "stored with its length first";
    EXPECT_EQ(store::as_text(ids[0][1]), "2m2");

    // Both ways of writing: before load() (the database numbers the
    // channels), and after (the map does).
    for (bool loaded : {false, true}) {
      SyncRefs fresh(host, db.get(), 16, "sync:test");
      if (loaded) test::run(io, fresh.load({ra, rb}));
      EXPECT_EQ(key_for(fresh, rb, "c1"), tag);
      EXPECT_EQ(key_for(fresh, other, "c1"), tag);
      EXPECT_EQ(key_for(fresh, ra, "m1"), tag) << "an origin, found by its key";
      EXPECT_EQ(key_for(fresh, ra, "c2"), tag2);
      EXPECT_EQ(key_for(fresh, rb, "m2"), tag2);
      EXPECT_EQ(key_for(fresh, rb, "lost"), std::nullopt);
      auto all = copies(fresh, tag);
      ASSERT_EQ(all.size(), 3u);
      EXPECT_EQ(all[0].channel, ra);
      EXPECT_EQ(all[0].id, "m1");
      std::vector<std::string> where;
      for (std::size_t i = 1; i < all.size(); ++i) where.push_back(all[i].channel.source);
      std::sort(where.begin(), where.end());
      EXPECT_EQ(where, (std::vector<std::string>{"other", "room"}));
      // New rows, and a repeat refused.
      std::string n = loaded ? "4" : "3";
      OriginPtr o = fresh.add_origin(ra, "m" + n);
      fresh.add_copy(*o, rb, "c" + n);
      fresh.add_copy(*o, rb, "c" + n);
      test::run(io, db->flush());
    }
    count = test::run(io, db->query("SELECT COUNT(*) FROM sync_refs"));
    EXPECT_EQ(store::as_int(count[0][0]), 5);
    SyncRefs fresh(host, db.get(), 16, "sync:test");
    for (std::string n : {"3", "4"}) {
      auto key = key_for(fresh, rb, "c" + n);
      ASSERT_TRUE(key.has_value());
      EXPECT_EQ(key_for(fresh, ra, "m" + n), key);
      auto all = copies(fresh, *key);
      ASSERT_EQ(all.size(), 2u);
      EXPECT_EQ(all[1].channel, rb);
      EXPECT_EQ(all[1].id, "c" + n);
    }
    auto channels = test::run(io, db->query("SELECT COUNT(*) FROM sync_channels"));
    EXPECT_EQ(store::as_int(channels[0][0]), 3) << "each channel numbered once";
    db->close();
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(FromVersion, OldMapTest,
                         ::testing::Combine(::testing::Values(1u, 2u, 3u), ::testing::Bool()),
                         [](const auto& info) {
                           return "V" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "Postgres" : "Sqlite");
                         });

}  // namespace
}  // namespace immp::hooks
