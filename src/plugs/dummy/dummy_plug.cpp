#include "plugs/dummy/dummy_plug.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "immp/host.hpp"

namespace immp::plugs {

SpecPtr DummyPlug::schema() {
  // IMMP's DummyPlug reads no key at all (and takes any); these two are
  // immp's, with IMMP's fixed behaviour as their defaults.
  return object({
      {"interval", real(), 10.0, "seconds between the dummy's messages"},
      {"text", str(), "Test", "what the dummy says"},
  });
}

DummyPlug::DummyPlug(const Init& init)
    : Plug(init),
      interval_(static_cast<long>(config().at("interval").as_double() * 1000)),
      text_(config().at("text").as_string()),
      tasks_(init.host.executor(), log()) {
  // A loopback: what is put comes back as it was given, so replies,
  // reactions, threads and files all survive (nothing is rendered).
  features_.echo = true;
  features_.edit = true;
  features_.reply = true;
  features_.reaction = true;
  features_.thread = true;
  features_.upload = true;
  auto user = std::make_shared<User>();
  // As IMMP's: id "dummy", the plug's name as real name, no username.
  user->id = "dummy";
  user->handle = handle();
  user->real_name = name();
  user_ = std::move(user);
  if (interval_.count() <= 0) config().at("interval").fail("must be more than 0 seconds");
}

Task<> DummyPlug::start() {
  // A config written for an earlier immp, whose dummy spoke in `immp`.
  for (const auto& [name, channel] : host().channels()) {
    if (channel.plug() == this && channel.source != kSource) {
      log()->warn("channel '{}' has source '{}', but the dummy speaks only in '{}'", name,
                  channel.source, kSource);
    }
  }
  tasks_.spawn("tick", tick());
  co_return;
}

Task<> DummyPlug::stop() { co_await tasks_.stop(); }

Task<> DummyPlug::tick() {
  asio::steady_timer timer(host().executor());
  Channel channel = Plug::channel(std::string(kSource));
  for (;;) {
    timer.expires_after(interval_);
    co_await timer.async_wait(asio::use_awaitable);
    Message msg;
    msg.text = RichText(text_);
    msg.user = user_;
    queue(std::make_shared<const SentMessage>(
        Receipt{next_id(), channel, Clock::now(), {}, false}, std::move(msg)));
  }
}

Task<PutResult> DummyPlug::put(Posting& post) {
  // Echo it back, as the network would show our own post.
  std::string id = next_id();
  post.announce(id);
  queue(std::make_shared<const SentMessage>(Receipt{id, post.channel(), Clock::now(), {}, false},
                                            Message(*post.message())));
  post.sent();
  co_return PutResult::delivered();
}

Task<std::vector<Channel>> DummyPlug::public_channels() {
  co_return std::vector<Channel>{Plug::channel(std::string(kSource))};
}

Task<std::optional<bool>> DummyPlug::channel_is_private(const Channel&) { co_return false; }

Task<std::optional<std::string>> DummyPlug::channel_title(const Channel&) {
  co_return std::string("Dummy");
}

}  // namespace immp::plugs
