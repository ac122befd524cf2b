#include "plugs/memory/memory_plug.hpp"

#include <algorithm>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "immp/host.hpp"

namespace immp::plugs {

SpecPtr MemoryPlug::schema() {
  return object({
      {"edit", boolean(), false, "the network edits messages in place"},
      {"delete", boolean(), false, "the network deletes messages"},
      {"reply", boolean(), false, "the network has native replies"},
      {"rich", boolean(), true, "formatting survives"},
      {"echo", boolean(), false, "our own posts come back as incoming messages"},
      {"private", list_of(text()), Node::list(), "sources of private channels"},
      {"public", list_of(text()), Node::list(), "sources listed as public channels"},
      {"delay-ms", integer(), 0, "time each put() takes"},
      {"keep", integer(), 10000, "how many posted messages tests can inspect"},
      {"split-lines", boolean(), false, "each line of a text is a part of its own, as on IRC"},
      {"late-ids", boolean(), false, "ids are known only once put() returns, after the echo"},
      {"pipelined", boolean(), false,
       "put() lets the next message start once its parts are in line, then waits for the "
       "network to confirm them (as IRC's PING does)"},
      {"reaction", boolean(), false, "the network has native reactions"},
      {"thread", boolean(), false, "the network has native threads"},
      {"upload", boolean(), false, "the network takes file uploads"},
      {"max-length", integer(), 0, "longest text of a message in characters (0: no limit)"},
      {"markup", str(), "plain", "plain, irc, markdown, html, mrkdwn or discord"},
      {"rate-limit", real(), 0.0, "messages per second the network allows (0: no limit)"},
      {"rate-burst", integer(), 0, "messages the network takes at once before rate-limit applies"},
      {"chunk", integer(), 4096, "bytes per chunk when a file is fetched from it"},
  });
}

namespace {

Markup markup_of(const Node& node) {
  static constexpr std::pair<std::string_view, Markup> kNames[] = {
      {"plain", Markup::plain}, {"irc", Markup::irc},       {"markdown", Markup::markdown},
      {"html", Markup::html},   {"mrkdwn", Markup::mrkdwn}, {"discord", Markup::discord}};
  for (const auto& [name, markup] : kNames) {
    if (node.as_string() == name) return markup;
  }
  node.fail("must be one of plain, irc, markdown, html, mrkdwn, discord");
}

std::size_t code_points(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// A message as this network has it once posted, sent now. Filled in place:
// the message is copied once, straight into the SentMessage, rather than
// copied and then moved member by member.
std::shared_ptr<SentMessage> on_wire(const Message& msg, const std::string& id,
                                     const Channel& channel) {
  auto sent = std::make_shared<SentMessage>();  // `at`: now
  static_cast<Message&>(*sent) = msg;
  sent->id = id;
  sent->channel = channel;
  sent->Receipt::deleted = sent->Message::deleted;
  return sent;
}

}  // namespace

MemoryPlug::MemoryPlug(const Init& init)
    : Plug(init),
      confirmations_(init.host.executor()),
      run_(base36(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                 Clock::now().time_since_epoch())
                                                 .count())) +
           "."),
      keep_(static_cast<std::size_t>(config().at("keep").as_int())),
      delay_(config().at("delay-ms").as_int()) {
  features_.edit = config().at("edit").as_bool();
  features_.remove = config().at("delete").as_bool();
  features_.reply = config().at("reply").as_bool();
  features_.rich = config().at("rich").as_bool();
  features_.echo = config().at("echo").as_bool();
  features_.reaction = config().at("reaction").as_bool();
  features_.thread = config().at("thread").as_bool();
  features_.upload = config().at("upload").as_bool();
  const Node& max = config().at("max-length");
  if (max.as_int() < 0) max.fail("must be 0 (no limit) or more");
  features_.max_length = static_cast<std::size_t>(max.as_int());
  features_.markup = markup_of(config().at("markup"));
  const Node& rate = config().at("rate-limit");
  if (!(rate.as_double() >= 0.0)) rate.fail("must be 0.0 (no limit) or more");
  features_.rate.per_second = rate.as_double();
  const Node& burst = config().at("rate-burst");
  if (burst.as_int() < 0) burst.fail("must be 0 or more");
  features_.rate.burst = static_cast<std::size_t>(burst.as_int());
  const Node& chunk = config().at("chunk");
  if (chunk.as_int() < 1) chunk.fail("must be at least 1 byte");
  chunk_ = static_cast<std::size_t>(chunk.as_int());
  split_lines_ = config().at("split-lines").as_bool();
  late_ids_ = config().at("late-ids").as_bool();
  pipelined_ = config().at("pipelined").as_bool();
  for (const auto& s : config().at("private").as_list()) private_sources_.insert(s.as_text());
  for (const auto& s : config().at("public").as_list()) public_sources_.insert(s.as_text());
  auto self = std::make_shared<User>();
  self->id = "self";
  self->handle = handle();
  self->username = name();
  self_ = std::move(self);
}

Task<> MemoryPlug::start() { co_return; }
Task<> MemoryPlug::stop() { co_return; }

const UserPtr& MemoryPlug::user(const std::string& id) {
  auto& u = users_[id];
  if (!u) {
    auto made = std::make_shared<User>();
    made->id = id;
    made->handle = handle();
    made->username = id;
    made->real_name = id;
    u = std::move(made);
  }
  return u;
}

// One part per line when `split-lines` is set, as IRC sends a long text;
// else the whole message is one part.
std::vector<std::optional<RichText>> MemoryPlug::parts_of(const Message& msg) const {
  std::vector<std::optional<RichText>> parts;
  if (!split_lines_ || !msg.text) {
    parts.push_back(msg.text);
    return parts;
  }
  std::string plain = msg.text->plain();
  std::size_t start = 0;
  for (;;) {
    auto end = plain.find('\n', start);
    parts.emplace_back(RichText(plain.substr(start, end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

Task<PutResult> MemoryPlug::put(Posting& post) {
  const MessagePtr& msg = post.message();
  if (failing_) co_return PutResult::retry("network " + name() + " is down");
  if (rate_limit_.count() > 0) co_return PutResult::retry("rate limited", rate_limit_);
  if (rejecting_) co_return PutResult::failed("network " + name() + " refuses the message");
  // What this network cannot take, it refuses as a real one would: a test
  // that sees "failed" knows a hook sent what the Features ruled out.
  if (msg->reaction && !features_.reaction) {
    co_return PutResult::failed("network " + name() + " has no reactions");
  }
  if (!msg->thread.empty() && !features_.thread) {
    co_return PutResult::failed("network " + name() + " has no threads");
  }
  if (!features_.upload) {
    for (const auto& att : msg->attachments) {
      if (std::holds_alternative<File>(att)) {
        co_return PutResult::failed("network " + name() + " takes no uploads");
      }
    }
  }
  if (features_.max_length > 0 && msg->text &&
      code_points(msg->text->plain()) > features_.max_length) {
    co_return PutResult::failed("text over " + std::to_string(features_.max_length) +
                                " characters");
  }
  std::string edit_id;
  if (msg->edited) {
    // An edit of one of our posts keeps its id where supported.
    if (auto* sent = dynamic_cast<const SentMessage*>(msg.get());
        sent && features_.edit && !sent->id.empty()) {
      edit_id = sent->id;
    }
  }
  // One part unless split-lines: then no copy of the text is made here.
  std::vector<std::optional<RichText>> lines;
  if (split_lines_ && msg->text) lines = parts_of(*msg);
  std::size_t count = lines.empty() ? 1 : lines.size();
  if (pipelined_) co_return co_await put_pipelined(post, lines, count);
  for (std::size_t i = post.resume(); i < count; ++i) {
    if (drop_after_ == 0) {
      drop_after_ = -1;
      co_return PutResult::partial("link dropped after " + std::to_string(post.done()) + " parts");
    }
    if (drop_after_ > 0) --drop_after_;
    std::string id = edit_id.empty() ? next_id() : edit_id;
    // Announced before it "reaches the network", unless this network tells
    // ids only in its answer (late-ids): then the host must hold our echoes.
    if (!late_ids_) {
      // Handed over whole when nothing below needs it again (no copy).
      if (keep_ > 0 || features_.echo) {
        post.announce(id);
      } else {
        post.announce(std::move(id));
      }
    }
    ++posted_count_;
    auto part = [&](UserPtr author) {
      auto sent = on_wire(*msg, id, post.channel());
      if (!lines.empty()) sent->text = lines[i];
      if (author) sent->user = std::move(author);
      return sent;
    };
    if (keep_ > 0) {
      // Kept as posted, for tests to inspect and replies to look up.
      auto sent = part(nullptr);
      posted_.push_back(sent);
      by_id_[id] = sent;
      if (posted_.size() > keep_) {
        by_id_.erase(posted_.front()->id);
        posted_.pop_front();
      }
    }
    // Like real networks, the echo arrives while put() is still running.
    if (features_.echo) queue(part(self_));
    // The network's answer comes after its echo, as on many real networks.
    if (delay_.count() > 0) {
      asio::steady_timer t(host().executor(), delay_);
      co_await t.async_wait(asio::use_awaitable);
    }
    if (late_ids_) {
      post.sent(std::move(id));
    } else {
      post.sent();
    }
  }
  co_return PutResult::delivered();
}

// Every part goes "on the wire" at once, in order; the next message may
// start meanwhile; then the network confirms them all, or the link drops
// and they are lost (hold_confirmations, release).
Task<PutResult> MemoryPlug::put_pipelined(Posting& post,
                                          std::vector<std::optional<RichText>>& lines,
                                          std::size_t count) {
  const MessagePtr& msg = post.message();
  std::vector<SentPtr> wire;
  for (std::size_t i = post.resume(); i < count; ++i) {
    std::string id = next_id();
    post.announce(id);
    auto sent = on_wire(*msg, id, post.channel());
    if (!lines.empty()) sent->text = lines[i];
    wire.push_back(std::move(sent));
    posted_.push_back(wire.back());
    ++posted_count_;
  }
  post.ordered();
  ++in_flight_;
  max_in_flight_ = std::max(max_in_flight_, in_flight_);
  std::uint64_t epoch = link_epoch_;
  if (delay_.count() > 0) {
    asio::steady_timer t(host().executor(), delay_);
    co_await t.async_wait(asio::use_awaitable);
  }
  while (holding_ && epoch == link_epoch_) co_await confirmations_.wait();
  --in_flight_;
  if (epoch != link_epoch_) {
    // Lost with the link: the network never saw them.
    for (const auto& part : wire) {
      auto it = std::find(posted_.begin(), posted_.end(), part);
      if (it != posted_.end()) posted_.erase(it);
      --posted_count_;
    }
    co_return PutResult::retry("link dropped before the network confirmed");
  }
  for (std::size_t i = 0; i < wire.size(); ++i) post.sent();
  co_return PutResult::delivered();
}

void MemoryPlug::release(bool lost) {
  holding_ = false;
  if (lost) ++link_epoch_;
  confirmations_.notify();
}

bool MemoryPlug::may_be_echo(const SentMessage& sent) const {
  return late_ids_ && sent.user && sent.user->id == self_->id;
}

Task<std::optional<bool>> MemoryPlug::channel_is_private(const Channel& channel) {
  co_return private_sources_.count(channel.source) > 0;
}

Task<std::optional<std::string>> MemoryPlug::channel_title(const Channel& channel) {
  auto it = titles_.find(channel.source);
  if (it == titles_.end()) co_return std::nullopt;
  co_return it->second;
}

Task<std::vector<Channel>> MemoryPlug::public_channels() {
  std::vector<Channel> out;
  for (const auto& s : public_sources_) out.push_back(Plug::channel(s));
  co_return out;
}

Task<std::vector<Channel>> MemoryPlug::private_channels() {
  std::vector<Channel> out;
  for (const auto& s : private_sources_) out.push_back(Plug::channel(s));
  co_return out;
}

Task<SentPtr> MemoryPlug::get_message(const Receipt& receipt) {
  auto it = by_id_.find(receipt.id);
  co_return it == by_id_.end() ? nullptr : it->second;
}

Task<> MemoryPlug::delete_message(const Receipt& receipt) {
  if (!features_.remove) throw std::runtime_error("network " + name() + " cannot delete");
  deleted_.push_back(receipt);
  co_return;
}

Task<FetchResult> MemoryPlug::fetch_file(const File& file, FileSink sink,
                                         std::uint64_t size_limit) {
  auto it = file.origin == handle() ? files_.find(file.ref) : files_.end();
  if (it == files_.end()) co_return co_await Plug::fetch_file(file, std::move(sink), size_limit);
  // Shared: the bytes outlive a remove_file() while we stream them.
  std::shared_ptr<const std::string> bytes = it->second;
  // A size the network told up front refuses at once; without one (a
  // download without a Content-Length) the limit is found part way.
  if (file.size && bytes->size() > size_limit) {
    co_return FetchResult{
        FetchResult::Kind::too_large, 0,
        std::to_string(bytes->size()) + " bytes, over the limit of " + std::to_string(size_limit)};
  }
  FetchResult result{FetchResult::Kind::done, 0, {}};
  std::string_view rest(*bytes);
  while (!rest.empty()) {
    std::string_view chunk = rest.substr(0, chunk_);
    if (result.bytes + chunk.size() > size_limit) {
      result.kind = FetchResult::Kind::too_large;
      result.reason = "over the limit of " + std::to_string(size_limit) + " bytes";
      co_return result;
    }
    co_await sink(chunk);
    result.bytes += chunk.size();
    rest.remove_prefix(chunk.size());
  }
  co_return result;
}

File MemoryPlug::add_file(std::string ref, std::string bytes, File::Type type, bool tell_size) {
  File f;
  f.title = ref;
  f.type = type;
  f.origin = handle();
  f.ref = ref;
  if (tell_size) f.size = bytes.size();
  files_[std::move(ref)] = std::make_shared<const std::string>(std::move(bytes));
  return f;
}

SentPtr MemoryPlug::inject(std::string source, std::string text, std::string user_id) {
  Message msg;
  msg.text = RichText(std::move(text));
  msg.user = user(user_id);
  return inject(std::move(source), std::move(msg));
}

SentPtr MemoryPlug::inject(std::string source, Message msg) {
  return inject_as(std::move(source), next_id(), std::move(msg));
}

SentPtr MemoryPlug::inject_as(std::string source, std::string id, Message msg) {
  return inject_at(std::move(source), std::move(id), Clock::now(), std::move(msg));
}

SentPtr MemoryPlug::inject_at(std::string source, std::string id, Clock::time_point at,
                              Message msg) {
  auto sent = std::make_shared<const SentMessage>(
      Receipt{std::move(id), Plug::channel(std::move(source)), at, {}, msg.deleted},
      std::move(msg));
  // The network remembers what its users post, for get_message().
  if (keep_ > 0) by_id_[sent->id] = sent;
  queue(sent);
  return sent;
}

Task<> MemoryPlug::flood(std::string source, std::size_t count) {
  const UserPtr& author = user("flooder");
  Channel channel = Plug::channel(std::move(source));
  for (std::size_t i = 0; i < count; ++i) {
    Message msg;
    msg.text = RichText("message " + std::to_string(i));
    msg.user = author;
    auto sent = std::make_shared<const SentMessage>(
        Receipt{next_id(), channel, Clock::now(), {}, false}, std::move(msg));
    if (queue(std::move(sent))) co_await paced();
  }
}

}  // namespace immp::plugs
