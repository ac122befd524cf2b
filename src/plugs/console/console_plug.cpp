#include "plugs/console/console_plug.hpp"

#include <unistd.h>

#include <cstdlib>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "immp/host.hpp"

namespace immp::plugs {

SpecPtr ConsolePlug::schema() {
  return object({
      {"source", text(), "console", "the channel's source"},
      {"user", str(), "", "your name on the console (default: $USER)"},
  });
}

ConsolePlug::ConsolePlug(const Init& init)
    : Plug(init),
      source_(config().at("source").as_text()),
      tasks_(init.host.executor(), log()),
      input_fd_(STDIN_FILENO),
      output_(stdout) {
  // A terminal shows plain lines and nothing more: no formatting, edits,
  // deletes, replies, reactions, threads or uploads (files arrive as links).
  features_ = Features{};
  features_.markup = Markup::plain;
  auto user = std::make_shared<User>();
  std::string name = config().at("user").as_string();
  if (name.empty()) {
    const char* env = std::getenv("USER");
    name = env && *env ? env : "console";
  }
  user->id = name;
  user->handle = handle();
  user->username = name;
  user_ = std::move(user);
}

Task<> ConsolePlug::start() {
  tasks_.spawn("stdin", read_stream());
  co_return;
}

Task<> ConsolePlug::stop() { co_await tasks_.stop(); }

void ConsolePlug::on_line(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return;
  Message msg;
  msg.user = user_;
  if (line.rfind("/me ", 0) == 0) {
    msg.action = true;
    line.erase(0, 4);
  }
  msg.text = RichText(std::move(line));
  queue(std::make_shared<const SentMessage>(
      Receipt{std::to_string(++counter_), Plug::channel(source_), Clock::now(), {}, false},
      std::move(msg)));
}

Task<> ConsolePlug::read_stream() {
  int fd = ::dup(input_fd_);
  asio::posix::stream_descriptor input(host().executor());
  boost::system::error_code ec;
  input.assign(fd, ec);  // epoll refuses regular files and /dev/null
  if (ec) {
    ::close(fd);
    // Read those on a thread; they never block for long and end at EOF.
    std::thread([this, ex = host().executor()] {
      std::string line;
      int c;
      std::vector<std::string> lines;
      while ((c = std::fgetc(stdin)) != EOF) {
        if (c == '\n') {
          lines.push_back(std::move(line));
          line.clear();
        } else {
          line.push_back(static_cast<char>(c));
        }
      }
      if (!line.empty()) lines.push_back(std::move(line));
      asio::post(ex, [this, lines = std::move(lines)]() mutable {
        for (auto& l : lines) on_line(std::move(l));
      });
    }).detach();
    co_return;
  }
  asio::streambuf buffer(64 * 1024);
  for (;;) {
    auto [err, n] = co_await asio::async_read_until(input, buffer, '\n',
                                                    asio::as_tuple(asio::use_awaitable));
    if (err) {
      if (err == asio::error::operation_aborted) co_return;
      if (err != asio::error::eof && err != asio::error::not_found) {
        log()->warn("stdin: {}", err.message());
      }
      // At EOF keep running: the other plugs are still useful.
      co_return;
    }
    std::string line(asio::buffers_begin(buffer.data()),
                     asio::buffers_begin(buffer.data()) + static_cast<std::ptrdiff_t>(n) - 1);
    buffer.consume(n);
    on_line(std::move(line));
  }
}

std::string ConsolePlug::render(const Message& msg) {
  std::string name = msg.user ? msg.user->display_name() : std::string("?");
  std::string out;
  if (!msg.joined.empty() || !msg.left.empty()) {
    for (const auto& u : msg.joined) out += "-- " + u->display_name() + " joined\n";
    for (const auto& u : msg.left) out += "-- " + u->display_name() + " left\n";
  }
  if (msg.title) out += "-- " + name + " changed the title to: " + *msg.title + "\n";
  if (msg.text) {
    std::string text = msg.text->plain();
    if (msg.edited) text += " (edited)";
    out += msg.action ? "* " + name + " " + text : "<" + name + "> " + text;
    out += "\n";
  }
  for (const auto& a : msg.attachments) {
    if (const auto* f = std::get_if<File>(&a)) {
      out += "[file] " + (f->title.empty() ? f->url : f->title) + "\n";
    }
  }
  return out;
}

Task<PutResult> ConsolePlug::put(Posting& post) {
  std::string text = render(*post.message());
  if (text.empty()) co_return PutResult::delivered();
  if (std::fwrite(text.data(), 1, text.size(), output_) != text.size() ||
      std::fflush(output_) != 0) {
    co_return PutResult::retry("cannot write to the terminal");
  }
  post.sent(std::to_string(++counter_));
  co_return PutResult::delivered();
}

Task<std::vector<Channel>> ConsolePlug::public_channels() {
  co_return std::vector<Channel>{Plug::channel(source_)};
}

Task<std::optional<bool>> ConsolePlug::channel_is_private(const Channel&) { co_return false; }

}  // namespace immp::plugs
