// The in-memory network as tests configure it: its Features come from its
// config, it refuses what those rule out, and it serves its own files in
// chunks within a size limit.
#include "plugs/memory/memory_plug.hpp"

#include <gtest/gtest.h>

#include "support/async.hpp"
#include "support/memory.hpp"

namespace immp::plugs {
namespace {

struct MemoryPlugTest : ::testing::Test {
  asio::io_context io;
  Host host{io.get_executor()};
};

// Streams `file` from its plug; `chunks` counts the sink's calls.
Task<FetchResult> fetch(const File& file, std::string& into, std::size_t& chunks,
                        std::uint64_t limit) {
  FileSink sink = [&](std::string_view chunk) -> Task<> {
    into.append(chunk);
    ++chunks;
    co_return;
  };
  co_return co_await file.plug()->fetch_file(file, std::move(sink), limit);
}

TEST_F(MemoryPlugTest, FeaturesComeFromTheConfig) {
  auto& plain = test::add_memory_plug(host, "plain");
  const Features& none = plain.features();
  EXPECT_FALSE(none.reaction || none.thread || none.upload);
  EXPECT_EQ(none.max_length, 0u);
  EXPECT_EQ(none.markup, Markup::plain);
  EXPECT_EQ(none.rate.per_second, 0.0);

  auto& rich = test::add_memory_plug(host, "rich",
                                     {{"reaction", true},
                                      {"thread", true},
                                      {"upload", true},
                                      {"max-length", 2000},
                                      {"markup", "discord"},
                                      {"rate-limit", 5.0},
                                      {"rate-burst", 5}});
  const Features& all = rich.features();
  EXPECT_TRUE(all.reaction && all.thread && all.upload);
  EXPECT_EQ(all.max_length, 2000u);
  EXPECT_EQ(all.markup, Markup::discord);
  EXPECT_EQ(all.rate.per_second, 5.0);
  EXPECT_EQ(all.rate.burst, 5u);
}

TEST_F(MemoryPlugTest, AnUnknownMarkupIsAConfigErrorAtTheKey) {
  try {
    test::add_memory_plug(host, "bad", {{"markup", "bbcode"}});
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("plugs.bad.config.markup"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("mrkdwn"), std::string::npos) << e.what();
  }
}

TEST_F(MemoryPlugTest, FilesStreamInChunksWithinTheLimit) {
  auto& net = test::add_memory_plug(host, "net", {{"chunk", 4}});
  File told = net.add_file("told", "0123456789", File::Type::image);
  EXPECT_TRUE(told.fetchable());
  EXPECT_EQ(told.size, 10u);
  std::string bytes;
  std::size_t chunks = 0;
  FetchResult whole = test::run(io, fetch(told, bytes, chunks, 10));
  EXPECT_EQ(whole.kind, FetchResult::Kind::done) << whole.reason;
  EXPECT_TRUE(whole);
  EXPECT_EQ(whole.bytes, 10u);
  EXPECT_EQ(bytes, "0123456789");
  EXPECT_EQ(chunks, 3u) << "4 + 4 + 2 bytes";

  // Over the limit with the size told up front: refused before any byte.
  bytes.clear();
  chunks = 0;
  FetchResult refused = test::run(io, fetch(told, bytes, chunks, 9));
  EXPECT_EQ(refused.kind, FetchResult::Kind::too_large);
  EXPECT_EQ(chunks, 0u);

  // Without a size: the limit is found part way, never passed.
  File untold = net.add_file("untold", "0123456789", File::Type::unknown, false);
  EXPECT_FALSE(untold.size);
  bytes.clear();
  FetchResult cut = test::run(io, fetch(untold, bytes, chunks, 9));
  EXPECT_EQ(cut.kind, FetchResult::Kind::too_large);
  EXPECT_EQ(cut.bytes, 8u);
  EXPECT_EQ(bytes, "01234567");
}

TEST_F(MemoryPlugTest, AFileItDoesNotHoldIsNotFetchable) {
  auto& net = test::add_memory_plug(host, "net");
  auto& other = test::add_memory_plug(host, "other");
  File foreign = other.add_file("x", "bytes");
  std::string bytes;
  FileSink sink = [&](std::string_view chunk) -> Task<> {
    bytes.append(chunk);
    co_return;
  };
  FetchResult r = test::run(io, net.fetch_file(foreign, std::move(sink), 100));
  EXPECT_EQ(r.kind, FetchResult::Kind::not_fetchable);
  EXPECT_TRUE(bytes.empty());
}

TEST_F(MemoryPlugTest, WhatTheFeaturesRuleOutIsRefused) {
  auto& net = test::add_memory_plug(host, "net", {{"max-length", 5}});
  auto& can =
      test::add_memory_plug(host, "can", {{"reaction", true}, {"thread", true}, {"upload", true}});
  host.add_channel("net", net.channel("room"));
  test::run(io, host.open());
  auto send = [&](Plug& plug, Message msg) -> bool {
    auto ptr = std::make_shared<const Message>(std::move(msg));
    try {
      test::run(io, plug.send(plug.channel("room"), ptr));
      return true;
    } catch (const std::runtime_error&) {
      return false;
    }
  };
  Message reaction;
  reaction.reaction = Reaction{"👍", false, nullptr};
  Message threaded;
  threaded.text = RichText("hi");
  threaded.thread = "t";
  Message file;
  file.attachments.emplace_back(File{});
  for (Message* m : {&reaction, &threaded, &file}) {
    EXPECT_FALSE(send(net, *m));
    EXPECT_TRUE(send(can, *m));
  }
  Message five;
  five.text = RichText("héllo");  // five characters, six bytes
  EXPECT_TRUE(send(net, five));
  Message six;
  six.text = RichText("hello!");
  EXPECT_FALSE(send(net, six));
  test::run(io, host.close());
}

TEST_F(MemoryPlugTest, AMessageKeepsTheNetworksOwnTime) {
  auto& net = test::add_memory_plug(host, "net");
  auto at = Clock::time_point(std::chrono::milliseconds(1'600'000'000'123));
  Message msg;
  msg.text = RichText("from the past");
  SentPtr sent = net.inject_at("room", "old-1", at, std::move(msg));
  EXPECT_EQ(sent->at, at);
  EXPECT_EQ(sent->id, "old-1");
}

}  // namespace
}  // namespace immp::plugs
