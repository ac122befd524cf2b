#include "plugs/xmpp/xmpp_stream.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "support/async.hpp"

namespace immp::xmpp {
namespace {

using namespace std::chrono_literals;

// An in-memory transport: what the stream writes goes to `server`, which
// answers through push(). No sockets.
class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(Executor ex) : more_(ex) {}
  std::function<void(FakeTransport&, const std::string&)> server;
  std::string written;
  bool tls = false;
  bool closed = false;

  void push(std::string bytes) {
    inbound_ += bytes;
    more_.notify();
  }

  Task<> connect() override { co_return; }
  Task<> start_tls() override {
    tls = true;
    co_return;
  }
  Task<IoResult> read_some(asio::mutable_buffer into) override {
    while (inbound_.empty() && !closed) co_await more_.wait();
    if (closed) co_return IoResult{asio::error::operation_aborted, 0};
    std::size_t n = std::min(into.size(), inbound_.size());
    std::memcpy(into.data(), inbound_.data(), n);
    inbound_.erase(0, n);
    co_return IoResult{{}, n};
  }
  Task<IoResult> write(asio::const_buffer data) override {
    std::string s(static_cast<const char*>(data.data()), data.size());
    written += s;
    if (server) server(*this, s);
    co_return IoResult{{}, data.size()};
  }
  void close() override {
    closed = true;
    more_.notify();
  }
  bool is_tls() const override { return tls; }

 private:
  std::string inbound_;
  Signal more_;
};

constexpr const char* kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='example.org' version='1.0'>";

// A server that offers STARTTLS, then the given mechanisms, then binding.
struct FakeServer {
  std::string mechanisms = "<mechanism>PLAIN</mechanism>";
  std::string auth_answer = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
  bool offer_starttls = true;
  bool authed = false;
  std::string auth_seen;

  void operator()(FakeTransport& t, const std::string& s) {
    if (s.find("<stream:stream") != std::string::npos) {
      std::string features;
      if (!t.tls && offer_starttls) {
        features = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>";
      } else if (!authed) {
        features = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + mechanisms +
                   "</mechanisms>";
      } else {
        features = "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>";
      }
      std::string answer = kHeader;
      answer += "<stream:features>";
      answer += features;
      answer += "</stream:features>";
      t.push(std::move(answer));
    } else if (s.find("<starttls") != std::string::npos) {
      t.push("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    } else if (s.find("<auth") != std::string::npos) {
      auth_seen = s;
      if (auth_answer.find("<success") != std::string::npos) authed = true;
      t.push(auth_answer);
    } else if (s.find("xmpp-bind") != std::string::npos) {
      t.push("<iq type='result' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             "<jid>bot@example.org/immp</jid></bind></iq>");
    }
  }
};

struct XmppStreamUnit : ::testing::Test {
  asio::io_context io;
  FakeTransport* transport = nullptr;
  FakeServer server;
  std::unique_ptr<Stream> stream;

  StreamOptions options() {
    StreamOptions o;
    o.host = "example.org";
    o.domain = "example.org";
    o.username = "bot";
    o.password = "secret";
    o.resource = "immp";
    return o;
  }

  void make(StreamOptions o) {
    stream = std::make_unique<Stream>(
        io.get_executor(), std::move(o), immp::logger("test.xmpp"),
        [this](Executor ex, const StreamOptions&) {
          auto t = std::make_unique<FakeTransport>(ex);
          transport = t.get();
          t->server = std::ref(server);
          return t;
        });
  }

  // Opens; the error, or "" on success.
  std::string open() {
    std::string error;
    test::run(io, [&]() -> Task<> {
      try {
        co_await stream->open();
      } catch (const StreamError& e) {
        error = e.what();
      }
    }());
    return error;
  }

  void TearDown() override {
    if (stream) test::run(io, stream->stop());
  }
};

TEST_F(XmppStreamUnit, NegotiatesTlsThenLoginThenBinding) {
  make(options());
  ASSERT_EQ(open(), "");
  EXPECT_TRUE(transport->tls);
  EXPECT_EQ(stream->jid(), "bot@example.org/immp");
  // PLAIN went only over TLS, with an empty authzid.
  EXPECT_NE(server.auth_seen.find("mechanism='PLAIN'>AGJvdABzZWNyZXQ=<"), std::string::npos)
      << server.auth_seen;
}

TEST_F(XmppStreamUnit, RefusesAServerWithoutStartTls) {
  server.offer_starttls = false;
  make(options());
  std::string error = open();
  EXPECT_NE(error.find("does not offer STARTTLS"), std::string::npos) << error;
  EXPECT_EQ(transport->written.find("<auth"), std::string::npos) << "no password was sent";
}

TEST_F(XmppStreamUnit, NeverSendsPlainWithoutTls) {
  server.offer_starttls = false;
  auto o = options();
  o.tls = TlsMode::none;
  make(o);
  std::string error = open();
  EXPECT_NE(error.find("no SASL mechanism in common"), std::string::npos) << error;
  EXPECT_EQ(transport->written.find("<auth"), std::string::npos);
}

TEST_F(XmppStreamUnit, ALoginFailureSaysWhy) {
  server.auth_answer =
      "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/>"
      "<text>Unable to authorize you</text></failure>";
  make(options());
  std::string error = open();
  EXPECT_NE(error.find("refused our login as bot with PLAIN: not-authorized (Unable to "
                       "authorize you)"),
            std::string::npos)
      << error;
}

TEST_F(XmppStreamUnit, AnswersPingsAndHandsOnStanzasInOrder) {
  make(options());
  ASSERT_EQ(open(), "");
  transport->push(
      "<iq type='get' id='p1' from='example.org'><ping xmlns='urn:xmpp:ping'/></iq>"
      "<message from='a@b'><body>one</body></message><message from='a@b'><body>two</body>"
      "</message>");
  Element first, second;
  test::run(io, [&]() -> Task<> {
    first = co_await stream->read();
    second = co_await stream->read();
  }());
  EXPECT_EQ(first.child_text("body"), "one");
  EXPECT_EQ(second.child_text("body"), "two");
  test::poll(io);
  EXPECT_NE(transport->written.find("<iq type='result' id='p1' to='example.org'/>"),
            std::string::npos)
      << transport->written;
}

TEST_F(XmppStreamUnit, AMalformedStanzaEndsTheStreamSayingWhereAndWhat) {
  make(options());
  ASSERT_EQ(open(), "");
  transport->push("<message><body>ok</body></message>\n<message><body>bad</message>");
  std::string error;
  Element ok;
  test::run(io, [&]() -> Task<> {
    ok = co_await stream->read();
    try {
      co_await stream->read();
    } catch (const StreamError& e) {
      error = e.what();
    }
  }());
  EXPECT_EQ(ok.child_text("body"), "ok") << "what came before the error is kept";
  EXPECT_NE(error.find("malformed XML from example.org: line 2"), std::string::npos) << error;
  EXPECT_NE(error.find("mismatched tag"), std::string::npos) << error;
  EXPECT_NE(transport->written.find("<not-well-formed"), std::string::npos);
}

TEST_F(XmppStreamUnit, SendsInOrderAndReportsWhatWasWritten) {
  make(options());
  ASSERT_EQ(open(), "");
  std::uint64_t last = 0;
  for (int i = 0; i < 3; ++i) {
    Element m("message", "jabber:client");
    m.set("to", "a@b").add("body", "jabber:client", "n" + std::to_string(i));
    last = stream->send(m);
  }
  test::run(io, stream->written(last));
  auto at0 = transport->written.find("<body>n0</body>");
  auto at2 = transport->written.find("<body>n2</body>");
  ASSERT_NE(at0, std::string::npos);
  ASSERT_NE(at2, std::string::npos);
  EXPECT_LT(at0, at2);
  EXPECT_EQ(stream->written_count(), last);
}

TEST_F(XmppStreamUnit, AStreamErrorEndsTheStreamWithItsCondition) {
  make(options());
  ASSERT_EQ(open(), "");
  transport->push(
      "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
  std::string error;
  test::run(io, [&]() -> Task<> {
    try {
      co_await stream->read();
    } catch (const StreamError& e) {
      error = e.what();
    }
  }());
  EXPECT_NE(error.find("stream error from example.org: conflict"), std::string::npos) << error;
}

}  // namespace
}  // namespace immp::xmpp
