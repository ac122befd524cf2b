#include "plugs/irc/irc_connection.hpp"

#include <gtest/gtest.h>

#include <exception>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include "plugs/irc/irc_cap.hpp"
#include "plugs/irc/irc_transport_fake.hpp"
#include "support/async.hpp"

// The connection's protocol logic against an in-memory server and a manual
// clock. Nothing here sleeps: a test runs every ready handler, then either
// the server speaks, the clock moves, or the test asserts.

namespace immp::irc {
namespace {

using namespace std::chrono_literals;
using fake::FakeServer;
using fake::ManualClock;

// What a task started by the fixture did.
template <typename T>
struct Outcome {
  bool done = false;
  std::optional<T> value;
  std::exception_ptr error;

  // The error's what(), or "" when it succeeded (or has not ended).
  std::string error_text() const {
    if (!error) return "";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "unknown exception";
    }
  }
};

std::string privmsg(int i) { return "PRIVMSG #room :line " + std::to_string(i) + "\r\n"; }

std::vector<std::string> privmsgs(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(privmsg(i));
  return out;
}

// privmsg(i) without CR LF, as FakeServer::lines() gives it.
std::string sent(int i) {
  std::string l = privmsg(i);
  return l.substr(0, l.size() - 2);
}

std::vector<std::string> sents(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back(sent(i));
  return out;
}

struct IrcConnection : ::testing::Test {
  asio::io_context io;
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>(io.get_executor());
  std::shared_ptr<FakeServer> server = std::make_shared<FakeServer>(io.get_executor());
  std::ostringstream log_text;
  LoggerPtr log = std::make_shared<spdlog::logger>(
      "immp.plug.irc.test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text));
  ConnectionOptions options;
  std::unique_ptr<Connection> conn;
  std::size_t seen = 0;  // server lines already returned by new_lines()

  IrcConnection() {
    log->set_level(spdlog::level::debug);
    options.host = "irc.test";
    options.port = 6667;
    options.nick = "bridge";
    options.user = "immp";
    options.real_name = "IMMP bridge";
    options.transport = fake::fake_transport(server);
    options.clock = clock;
    // Most tests look at what is written; delivery confirmation has its own.
    options.confirm = false;
  }

  ~IrcConnection() override {
    if (conn) {
      test::run(io, conn->stop());
      settle();
    }
  }

  // Runs every ready handler and those they make ready: afterwards the
  // connection waits for the server or the clock.
  void settle() {
    for (;;) {
      if (io.stopped()) io.restart();
      if (io.poll() == 0) return;
    }
  }

  // Runs ready handlers until `done` holds; false if everything came to
  // rest first (the connection waits for the test).
  template <typename F>
  bool until(F done) {
    while (!done()) {
      if (io.stopped()) io.restart();
      if (io.poll_one() == 0) return done();
    }
    return true;
  }

  void advance(ConnectionClock::Duration d) {
    clock->advance(d);
    settle();
  }

  template <typename T>
  std::shared_ptr<Outcome<T>> start(Task<T> task) {
    auto out = std::make_shared<Outcome<T>>();
    asio::co_spawn(io, std::move(task), [out](std::exception_ptr e, T value) {
      out->done = true;
      out->error = e;
      if (!e) out->value.emplace(std::move(value));
    });
    return out;
  }

  std::shared_ptr<Outcome<bool>> start(Task<> task) {
    return start([](Task<> t) -> Task<bool> {
      co_await std::move(t);
      co_return true;
    }(std::move(task)));
  }

  // The lines the client wrote since the last call.
  std::vector<std::string> new_lines() {
    auto lines = server->lines_from(seen);
    seen += lines.size();
    return lines;
  }

  void make() { conn = std::make_unique<Connection>(io.get_executor(), options, log); }

  // Opens `conn` against a server that offers no capabilities.
  void open_plain() {
    make();
    auto opened = start(conn->open());
    ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
    server->line(":irc.test CAP * LS :");
    ASSERT_TRUE(until([&] { return server->saw("CAP END"); }));
    server->line(":irc.test 001 bridge :Welcome to the Test Network bridge!immp@bridge.example");
    ASSERT_TRUE(until([&] { return opened->done; }));
    ASSERT_EQ(opened->error_text(), "");
    new_lines();
  }

  // Fills the flood-control bucket (a line sent less than send_delay ago
  // holds the next one back).
  void refill() { advance(10s); }
};

// ---- registration ----------------------------------------------------------

TEST_F(IrcConnection, RegistersWithCapLsPassNickUserAndOpensOnWelcome) {
  options.password = "secret";
  make();
  auto opened = start(conn->open());
  settle();
  EXPECT_TRUE(server->connected());
  EXPECT_EQ(new_lines(), (std::vector<std::string>{"CAP LS 302", "PASS secret", "NICK bridge",
                                                   "USER immp 0 * :IMMP bridge"}));
  server->line(":irc.test CAP * LS :");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"CAP END"});
  EXPECT_FALSE(opened->done) << "open() must wait for the welcome";
  EXPECT_FALSE(conn->is_open());
  server->line(":irc.test 001 bridge :Welcome to the Test Network bridge!immp@bridge.example");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_TRUE(conn->is_open());
  EXPECT_EQ(conn->nick(), "bridge");
  EXPECT_EQ(conn->prefix(), "bridge!immp@bridge.example");
  EXPECT_TRUE(conn->caps().empty());
}

TEST_F(IrcConnection, RequestsOfferedCapsOnlyAfterTheLastLineOfAMultiLineLs) {
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  new_lines();
  server->line(":irc.test CAP * LS * :multi-prefix sasl=PLAIN unknown-cap");
  settle();
  EXPECT_TRUE(new_lines().empty()) << "nothing is requested while more LS lines follow";
  server->line(":irc.test CAP * LS :echo-message server-time");
  settle();
  // Wanted caps from both lines, in our order; no sasl (not configured).
  EXPECT_EQ(new_lines(),
            std::vector<std::string>{"CAP REQ :server-time echo-message multi-prefix"});
  server->line(":irc.test CAP * ACK :server-time echo-message multi-prefix");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"CAP END"});
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_EQ(conn->caps(), (std::set<std::string>{"echo-message", "multi-prefix", "server-time"}));
  EXPECT_TRUE(conn->has_cap("echo-message"));
  EXPECT_FALSE(conn->has_cap("sasl"));
}

TEST_F(IrcConnection, ARefusedCapRequestStillEndsNegotiation) {
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line(":irc.test CAP * LS :multi-prefix");
  ASSERT_TRUE(until([&] { return server->saw("CAP REQ multi-prefix"); }));
  server->line(":irc.test CAP * NAK :multi-prefix");
  ASSERT_TRUE(until([&] { return server->saw("CAP END"); }));
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_TRUE(conn->caps().empty());
}

TEST_F(IrcConnection, SaslPlainAuthenticatesBeforeCapEnd) {
  options.sasl = {{SaslMechanism::plain}, "acct", "s3cret"};
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  new_lines();
  server->line(":irc.test CAP * LS :sasl=PLAIN,EXTERNAL multi-prefix");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"CAP REQ :multi-prefix sasl"});
  server->line(":irc.test CAP * ACK :multi-prefix sasl");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE PLAIN"});
  server->line("AUTHENTICATE +");
  settle();
  // base64("acct\0acct\0s3cret"): the account is the authorisation identity too.
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE YWNjdABhY2N0AHMzY3JldA=="});
  server->line(":irc.test 900 bridge bridge!immp@host acct :You are now logged in as acct");
  settle();
  EXPECT_TRUE(new_lines().empty()) << "CAP END must wait for 903";
  server->line(":irc.test 903 bridge :SASL authentication successful");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"CAP END"});
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_TRUE(conn->is_open());
  EXPECT_TRUE(conn->has_cap("sasl"));
}

TEST_F(IrcConnection, SaslFailureIsAClearErrorAndNothingRegisters) {
  options.sasl = {{SaslMechanism::plain}, "acct", "wrong"};
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line(":irc.test CAP * LS :sasl");
  ASSERT_TRUE(until([&] { return server->saw("CAP REQ sasl"); }));
  server->line(":irc.test CAP * ACK :sasl");
  ASSERT_TRUE(until([&] { return server->saw("AUTHENTICATE PLAIN"); }));
  server->line("AUTHENTICATE +");
  settle();
  server->line(":irc.test 904 bridge :SASL authentication failed");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(),
            "SASL authentication failed on irc.test:6667: PLAIN: SASL authentication failed");
  EXPECT_FALSE(conn->is_open());
  EXPECT_TRUE(server->client_closed());
  // Told, not dropped: registration ends and we leave.
  auto last = server->lines();
  ASSERT_GE(last.size(), 2u);
  EXPECT_EQ(last[last.size() - 2], "CAP END");
  EXPECT_EQ(last.back(),
            "QUIT :SASL authentication failed on irc.test:6667: PLAIN: SASL authentication failed");
}

TEST_F(IrcConnection, SaslThatTheServerDoesNotOfferFailsRegistration) {
  options.sasl = {{SaslMechanism::plain}, "acct", "s3cret"};
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line(":irc.test CAP * LS :multi-prefix");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "SASL is configured but irc.test:6667 does not offer it");
  EXPECT_TRUE(server->client_closed());
  EXPECT_TRUE(server->saw("CAP END"));
  EXPECT_TRUE(server->saw("QUIT :SASL is configured but irc.test:6667 does not offer it"));
}

// Opens `conn` with SASL up to the first AUTHENTICATE; new_lines() is empty.
#define IRC_START_SASL(ls)                                                       \
  make();                                                                        \
  auto opened = start(conn->open());                                             \
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); })); \
  server->line(":irc.test CAP * LS :" ls);                                       \
  ASSERT_TRUE(until([&] { return server->saw("CAP REQ sasl"); }));               \
  server->line(":irc.test CAP * ACK :sasl");                                     \
  settle();                                                                      \
  new_lines()

TEST_F(IrcConnection, ScramSha256LogsInAndChecksTheServersSignature) {
  // RFC 7677's exchange, with its nonce.
  options.sasl = {{SaslMechanism::scram_sha_256}, "user", "pencil"};
  options.sasl.nonce = [] { return std::string("rOprNGfwEbeRWgbNEkqO"); };
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line(":irc.test CAP * LS :sasl=SCRAM-SHA-256");
  ASSERT_TRUE(until([&] { return server->saw("CAP REQ sasl"); }));
  new_lines();
  server->line(":irc.test CAP * ACK :sasl");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE SCRAM-SHA-256"});
  server->line("AUTHENTICATE +");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE " +
                                                  base64("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")});
  server->line("AUTHENTICATE " +
               base64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  settle();
  EXPECT_EQ(new_lines(),
            std::vector<std::string>{
                "AUTHENTICATE " +
                base64("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                       "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")});
  server->line("AUTHENTICATE " + base64("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE +"});
  server->line(":irc.test 900 bridge bridge!immp@host user :You are now logged in as user");
  server->line(":irc.test 903 bridge :SASL authentication successful");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"CAP END"});
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_EQ(conn->account(), "user");
}

TEST_F(IrcConnection, AServerThatCannotProveOurScramPasswordIsLeft) {
  options.sasl = {{SaslMechanism::scram_sha_256}, "user", "pencil"};
  options.sasl.nonce = [] { return std::string("rOprNGfwEbeRWgbNEkqO"); };
  options.sasl.required = false;  // even so: an impostor is never talked to further
  IRC_START_SASL("sasl");
  server->line("AUTHENTICATE +");
  settle();
  server->line("AUTHENTICATE " +
               base64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  settle();
  new_lines();
  // A server that accepted any proof, with a signature it made up.
  server->line("AUTHENTICATE " + base64("v=" + base64(std::string(32, 'x'))));
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(),
            "SASL SCRAM-SHA-256 with irc.test:6667 aborted: the server's SCRAM signature is "
            "wrong: it does not know our password (an impostor?)");
  auto lines = new_lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "AUTHENTICATE *");
  EXPECT_EQ(lines[1], "CAP END");
  EXPECT_TRUE(lines[2].starts_with("QUIT :SASL SCRAM-SHA-256 with irc.test:6667 aborted"));
  EXPECT_TRUE(server->client_closed());
}

TEST_F(IrcConnection, ASuccessBeforeTheScramSignatureIsRefused) {
  options.sasl = {{SaslMechanism::scram_sha_256}, "user", "pencil"};
  options.sasl.nonce = [] { return std::string("rOprNGfwEbeRWgbNEkqO"); };
  IRC_START_SASL("sasl");
  server->line("AUTHENTICATE +");
  settle();
  server->line("AUTHENTICATE " +
               base64("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  settle();
  server->line(":irc.test 903 bridge :SASL authentication successful");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(),
            "SASL SCRAM-SHA-256 with irc.test:6667 claimed success without proving it knows our "
            "password");
}

TEST_F(IrcConnection, AMechanismTheServerLacksFallsBackToTheNextConfigured) {
  options.sasl = {{SaslMechanism::scram_sha_256, SaslMechanism::plain}, "acct", "s3cret"};
  // Offered without SCRAM: we still ask, as the list may be stale.
  IRC_START_SASL("sasl=PLAIN,EXTERNAL");
  server->line(":irc.test 908 bridge PLAIN,EXTERNAL :are available SASL mechanisms");
  server->line(":irc.test 904 bridge :SASL authentication failed");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE PLAIN"});
  server->line("AUTHENTICATE +");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE YWNjdABhY2N0AHMzY3JldA=="});
  server->line(":irc.test 903 bridge :SASL authentication successful");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"CAP END"});
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
}

TEST_F(IrcConnection, WithoutRequiredSaslAFailedLoginRegistersWithoutAnAccount) {
  options.sasl = {{SaslMechanism::scram_sha_256}, "acct", "s3cret"};
  options.sasl.required = false;
  IRC_START_SASL("sasl=PLAIN");
  EXPECT_FALSE(opened->done);
  server->line(":irc.test 904 bridge :SASL authentication failed");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"CAP END"});
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_EQ(conn->account(), "");
  EXPECT_NE(log_text.str().find("registering without an account"), std::string::npos);
}

TEST_F(IrcConnection, WithRequiredSaslEveryMechanismFailingEndsWithCapEndAndQuit) {
  options.sasl = {{SaslMechanism::scram_sha_256, SaslMechanism::plain}, "acct", "s3cret"};
  IRC_START_SASL("sasl=EXTERNAL");
  server->line(":irc.test 904 bridge :SASL authentication failed");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"AUTHENTICATE PLAIN"});
  server->line(":irc.test 904 bridge :SASL authentication failed");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(),
            "SASL authentication failed on irc.test:6667: SCRAM-SHA-256: SASL authentication "
            "failed; PLAIN: SASL authentication failed");
  auto lines = new_lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "CAP END");
  EXPECT_TRUE(lines[1].starts_with("QUIT :SASL authentication failed"));
}

TEST_F(IrcConnection, WithoutRequiredSaslAServerWithoutSaslIsUsedWithoutAnAccount) {
  options.sasl = {{SaslMechanism::plain}, "acct", "s3cret"};
  options.sasl.required = false;
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line(":irc.test CAP * LS :multi-prefix");
  ASSERT_TRUE(until([&] { return server->saw("CAP REQ multi-prefix"); }));
  server->line(":irc.test CAP * ACK :multi-prefix");
  ASSERT_TRUE(until([&] { return server->saw("CAP END"); }));
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
}

TEST_F(IrcConnection, APlaintextLinkToldToUseTlsQuitsAndSaysWhere) {
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  new_lines();
  server->line(":irc.test CAP * LS :multi-prefix sts=port=6697,duration=300");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "irc.test:6667 requires TLS (STS): reconnecting to port 6697");
  try {
    std::rethrow_exception(opened->error);
  } catch (const StsUpgrade& e) {
    EXPECT_EQ(e.port, 6697);
  } catch (...) {
    ADD_FAILURE() << "not an StsUpgrade";
  }
  EXPECT_EQ(new_lines(), std::vector<std::string>{"QUIT :upgrading to TLS (STS)"})
      << "no CAP REQ: nothing more is said in plaintext";
  EXPECT_FALSE(conn->sts_duration()) << "a plaintext link's duration is not a policy";
}

TEST_F(IrcConnection, ATlsLinkReportsTheStsDurationAndCarriesOn) {
  server->set_tls(true);
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line(":irc.test CAP * LS :sts=port=6697,duration=300");
  ASSERT_TRUE(until([&] { return server->saw("CAP END"); }));
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_EQ(conn->sts_duration(), std::chrono::seconds(300));
}

TEST_F(IrcConnection, StsIsIgnoredWhenTurnedOff) {
  options.sts = false;
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line(":irc.test CAP * LS :sts=port=6697");
  ASSERT_TRUE(until([&] { return server->saw("CAP END"); }));
  server->line(":irc.test 001 bridge :Welcome");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
}

TEST_F(IrcConnection, AChallengeLongerThan400BytesIsJoinedFromItsChunks) {
  options.sasl = {{SaslMechanism::scram_sha_256}, "user", "pencil"};
  options.sasl.nonce = [] { return std::string("rOprNGfwEbeRWgbNEkqO"); };
  IRC_START_SASL("sasl");
  server->line("AUTHENTICATE +");
  settle();
  new_lines();
  // A server-first message padded with an extension attribute to 600 bytes
  // of base64: one chunk of 400, then the rest.
  std::string first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                      "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,x=" +
                      std::string(450 - 91, 'y');
  std::string encoded = base64(first);
  ASSERT_GT(encoded.size(), 400u);
  server->line("AUTHENTICATE " + encoded.substr(0, 400));
  settle();
  EXPECT_TRUE(new_lines().empty()) << "more of the challenge is coming";
  server->line("AUTHENTICATE " + encoded.substr(400));
  settle();
  auto lines = new_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(lines[0].starts_with("AUTHENTICATE Yz1iaXdz")) << lines[0];  // "c=biws"
}

TEST_F(IrcConnection, ANickInUseIsRetriedWithUnderscores) {
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  new_lines();
  server->line(":irc.test 433 * bridge :Nickname is already in use");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"NICK bridge_"});
  server->line(":irc.test 433 * bridge_ :Nickname is already in use");
  settle();
  EXPECT_EQ(new_lines(), std::vector<std::string>{"NICK bridge__"});
  server->line(":irc.test CAP * LS :");
  server->line(":irc.test 001 bridge__ :Welcome bridge__!immp@h.example");
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "");
  EXPECT_EQ(conn->nick(), "bridge__");
  EXPECT_EQ(conn->prefix(), "bridge__!immp@h.example");
  EXPECT_NE(log_text.str().find("nick bridge is taken on irc.test:6667; trying bridge_"),
            std::string::npos);
}

TEST_F(IrcConnection, RefusalsDuringRegistrationAreClearErrors) {
  struct Case {
    std::string reply;
    std::string error;
  };
  const std::vector<Case> cases = {
      {":irc.test 432 * bridge :Erroneous nickname",
       "the server refuses the nick bridge: Erroneous nickname"},
      {":irc.test 464 * :Password incorrect", "refused by irc.test:6667: Password incorrect"},
      {":irc.test 465 * :You are banned", "refused by irc.test:6667: You are banned"},
      {"ERROR :Closing link: (bridge@host) [Banned]",
       "the server ended the connection: Closing link: (bridge@host) [Banned]"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reply);
    auto s = std::make_shared<FakeServer>(io.get_executor());
    options.transport = fake::fake_transport(s);
    make();
    auto opened = start(conn->open());
    ASSERT_TRUE(until([&] { return s->saw("USER immp 0 * :IMMP bridge"); }));
    s->line(c.reply);
    ASSERT_TRUE(until([&] { return opened->done; }));
    EXPECT_EQ(opened->error_text(), c.error);
    EXPECT_TRUE(s->client_closed());
    test::run(io, conn->stop());
  }
}

TEST_F(IrcConnection, APingDuringRegistrationIsAnswered) {
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  server->line("PING :irc.test");
  ASSERT_TRUE(until([&] { return server->saw("PONG irc.test"); }));
  EXPECT_FALSE(opened->done);
}

TEST_F(IrcConnection, RegistrationThatNeverEndsTimesOut) {
  options.register_timeout = 20s;
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return server->saw("USER immp 0 * :IMMP bridge"); }));
  advance(19s);
  EXPECT_FALSE(opened->done);
  advance(1s);
  ASSERT_TRUE(opened->done);
  EXPECT_EQ(opened->error_text(),
            "registration with irc.test:6667 failed: timed out connecting and registering");
  EXPECT_TRUE(server->client_closed());
}

TEST_F(IrcConnection, ARefusedConnectionIsAnError) {
  server->refuse("Connection refused");
  make();
  auto opened = start(conn->open());
  ASSERT_TRUE(until([&] { return opened->done; }));
  EXPECT_EQ(opened->error_text(), "cannot connect to the fake server: Connection refused");
  EXPECT_FALSE(conn->is_open());
}

// ---- reading ---------------------------------------------------------------

TEST_F(IrcConnection, APingIsAnsweredAndNotReturned) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  server->line("PING :token123");
  server->line(":alice!a@host PRIVMSG #room :hello");
  ASSERT_TRUE(until([&] { return read->done && server->saw("PONG token123"); }));
  ASSERT_EQ(read->error_text(), "");
  EXPECT_EQ(read->value->command, "PRIVMSG");
  EXPECT_EQ(read->value->nick, "alice");
  EXPECT_EQ(read->value->param(1), "hello");
}

TEST_F(IrcConnection, ALineSplitAcrossReadsIsJoined) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  server->send(":alice!a@host PRIVMSG #room :hel");
  settle();
  EXPECT_FALSE(read->done);
  server->send("lo\r\n:bob!b@host PRIVMSG #room :second\r\n");
  ASSERT_TRUE(until([&] { return read->done; }));
  EXPECT_EQ(read->value->param(1), "hello");
  auto second = start(conn->read());
  ASSERT_TRUE(until([&] { return second->done; }));
  EXPECT_EQ(second->value->param(1), "second");
}

TEST_F(IrcConnection, TryReadTakesWhatOneReadBroughtAndHandlesItAsReadDoes) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  server->send(
      ":alice!a@host PRIVMSG #room :first\r\nPING :tok\r\n:bob!b@host PRIVMSG #room :second\r\n"
      ":carol!c@host PRIVMSG #room :thi");
  ASSERT_TRUE(until([&] { return read->done; }));
  EXPECT_EQ(read->value->param(1), "first");
  auto second = conn->try_read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->nick, "bob") << "the PING between is answered, not returned";
  EXPECT_FALSE(conn->try_read()) << "half a line waits for the socket";
  ASSERT_TRUE(until([&] { return server->saw("PONG tok"); }));
  auto third = start(conn->read());
  server->send("rd\r\nERROR :bye\r\n");
  ASSERT_TRUE(until([&] { return third->done; }));
  EXPECT_EQ(third->value->param(1), "third");
  EXPECT_THROW(conn->try_read(), ConnectionError) << "the server's ERROR ends it as read() does";
  EXPECT_FALSE(conn->is_open());
  EXPECT_FALSE(conn->try_read()) << "nothing once closed";
}

TEST_F(IrcConnection, AMalformedServerLineIsSkippedAndLogged) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  server->line(":irc.test");     // no command
  server->line("!!! nonsense");  // not a command
  server->line("");              // blank: skipped quietly
  server->line(":alice!a@host PRIVMSG #room :still here");
  ASSERT_TRUE(until([&] { return read->done; }));
  ASSERT_EQ(read->error_text(), "");
  EXPECT_EQ(read->value->param(1), "still here");
  EXPECT_TRUE(conn->is_open());
  std::string logged = log_text.str();
  std::size_t warnings = 0;
  for (std::size_t pos = 0; (pos = logged.find("skipping a malformed line from irc.test:6667",
                                               pos)) != std::string::npos;
       ++pos) {
    ++warnings;
  }
  EXPECT_EQ(warnings, 2u) << logged;
}

TEST_F(IrcConnection, AnEndlessLineClosesTheLink) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  server->send(std::string(20000, 'x'));
  ASSERT_TRUE(until([&] { return read->done; }));
  EXPECT_EQ(read->error_text(), "line too long");
  EXPECT_FALSE(conn->is_open());
}

TEST_F(IrcConnection, TheServerHangingUpEndsRead) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  server->line(":alice!a@host PRIVMSG #room :last words");
  server->hang_up();
  ASSERT_TRUE(until([&] { return read->done; }));
  EXPECT_EQ(read->value->param(1), "last words") << "what came before the close is read";
  auto next = start(conn->read());
  ASSERT_TRUE(until([&] { return next->done; }));
  EXPECT_EQ(next->error_text(), "the server closed the connection");
  EXPECT_FALSE(conn->is_open());
  EXPECT_EQ(conn->close_reason(), "the server closed the connection");
}

TEST_F(IrcConnection, AnErrorFromTheServerEndsRead) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  server->line("ERROR :Closing link: (immp@host) [Killed (oper (flooding))]");
  ASSERT_TRUE(until([&] { return read->done; }));
  EXPECT_EQ(read->error_text(),
            "the server ended the connection: Closing link: (immp@host) [Killed (oper "
            "(flooding))]");
  EXPECT_TRUE(server->client_closed());
}

// ---- keepalive -------------------------------------------------------------

TEST_F(IrcConnection, SilenceGetsOurPingAndNoAnswerDropsTheLink) {
  // Defaults: PING after 60 s of silence, dead 30 s later.
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  advance(59s);
  EXPECT_FALSE(server->saw("PING :immp"));
  advance(2s);
  EXPECT_EQ(new_lines(), std::vector<std::string>{"PING :immp"});
  advance(29s);  // 90 s of silence: the last moment of grace
  EXPECT_FALSE(read->done);
  EXPECT_TRUE(conn->is_open());
  advance(1s);
  ASSERT_TRUE(read->done);
  EXPECT_EQ(read->error_text(), "ping timeout");
  EXPECT_FALSE(conn->is_open());
  EXPECT_TRUE(server->client_closed());
  EXPECT_NE(log_text.str().find("no answer from irc.test:6667 for 91 s: the link is dead"),
            std::string::npos)
      << log_text.str();
}

TEST_F(IrcConnection, AnAnswerToOurPingKeepsTheLink) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto read = start(conn->read());
  advance(61s);
  ASSERT_EQ(new_lines(), std::vector<std::string>{"PING :immp"});
  server->line(":irc.test PONG irc.test :immp");
  settle();
  EXPECT_FALSE(read->done) << "a PONG is not returned by read()";
  advance(40s);  // 101 s since registration, 40 s since the answer
  EXPECT_FALSE(read->done);
  EXPECT_TRUE(conn->is_open());
  EXPECT_TRUE(new_lines().empty());
  advance(21s);  // silent again: another PING
  EXPECT_EQ(new_lines(), std::vector<std::string>{"PING :immp"});
}

// ---- delivery confirmation ------------------------------------------------

// Reads (and drops) every line until the link closes, as the plug's loop
// does: PONGs are seen only by a reader.
Task<> read_forever(Connection& conn) {
  for (;;) (void)co_await conn.read();
}

TEST_F(IrcConnection, ALineCountsAsSentOnlyOnceThePingAfterItIsAnswered) {
  options.confirm = true;
  options.burst = 5;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto reader = start(read_forever(*conn));
  auto tries = server->try_writes();
  auto sending = start(conn->send(privmsgs(1, 3)));
  settle();
  auto lines = sents(1, 3);
  lines.push_back("PING :immp-c3");
  EXPECT_EQ(new_lines(), lines);
  EXPECT_EQ(server->try_writes(), tries + 1) << "the PING rides in the same write";
  EXPECT_FALSE(sending->done) << "written is not delivered";
  server->line(":irc.test PONG irc.test :immp-c3");
  ASSERT_TRUE(until([&] { return sending->done; }));
  EXPECT_EQ(sending->value, 3u);
}

TEST_F(IrcConnection, LinesWrittenButNotConfirmedWhenTheLinkDiesDoNotCount) {
  options.confirm = true;
  options.burst = 5;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  server->answer_pings(true);
  auto reader = start(read_forever(*conn));
  auto first = start(conn->send(privmsgs(1, 2)));
  ASSERT_TRUE(until([&] { return first->done; }));
  EXPECT_EQ(first->value, 2u) << "answered: delivered";
  server->answer_pings(false);
  refill();
  auto second = start(conn->send(privmsgs(3, 4)));
  settle();
  EXPECT_EQ(new_lines(), (std::vector<std::string>{sent(1), sent(2), "PING :immp-c2", sent(3),
                                                   sent(4), "PING :immp-c4"}));
  // The socket took both lines, then the server died before answering.
  server->hang_up();
  ASSERT_TRUE(until([&] { return second->done; }));
  EXPECT_EQ(second->value, 0u) << "nothing of it is known to have arrived";
  ASSERT_TRUE(until([&] { return reader->done; }));
}

TEST_F(IrcConnection, EachPacedLineIsConfirmedByThePingAfterIt) {
  options.confirm = true;  // defaults otherwise: a line per 500 ms
  ASSERT_NO_FATAL_FAILURE(open_plain());
  server->answer_pings(true);
  auto reader = start(read_forever(*conn));
  auto sending = start(conn->send(privmsgs(1, 3)));
  settle();
  advance(500ms);
  advance(500ms);
  ASSERT_TRUE(until([&] { return sending->done; }));
  EXPECT_EQ(sending->value, 3u);
  EXPECT_EQ(new_lines(), (std::vector<std::string>{sent(1), "PING :immp-c1", sent(2),
                                                   "PING :immp-c2", sent(3), "PING :immp-c3"}));
}

// The server's answer can be read before the completion of the write that
// carried the PING has run: it counts once the write is noted, without
// another PING. And no answer confirms more than a PING of ours covered.
TEST_F(IrcConnection, AnAnswerThatOvertakesItsWriteCountsOnceTheWriteIsNoted) {
  options.confirm = true;
  options.burst = 5;
  options.send_delay = 0ms;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto reader = start(read_forever(*conn));
  server->stall_writes_after(0);
  auto sending = start(conn->send(privmsgs(1, 2)));
  settle();
  server->line(":irc.test PONG irc.test :immp-c99");  // more than was ever pinged
  settle();
  EXPECT_FALSE(sending->done) << "confirmed before the write was done";
  server->release_writes();
  ASSERT_TRUE(until([&] { return sending->done; }));
  EXPECT_EQ(sending->value, 2u);
  EXPECT_EQ(new_lines(), (std::vector<std::string>{sent(1), sent(2), "PING :immp-c2"}));
  auto more = start(conn->send(privmsgs(3, 3)));
  settle();
  EXPECT_FALSE(more->done) << "the forged answer covered only the PING that was sent";
}

// ---- sending ---------------------------------------------------------------

TEST_F(IrcConnection, LinesTheBucketAllowsAreWrittenAtOnce) {
  options.burst = 5;  // the `burst` key: 5 lines may go at once
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto tries = server->try_writes();
  auto sending = start(conn->send(privmsgs(1, 3)));
  ASSERT_TRUE(until([&] { return sending->done; }));
  EXPECT_EQ(sending->value, 3u);
  EXPECT_EQ(new_lines(), sents(1, 3));
  EXPECT_EQ(server->try_writes(), tries + 1) << "one non-blocking write for all three";
}

// IMMP's pacing, the default: right after the welcome (registration is not
// paced and spends nothing) the first line goes at once, and every later
// one 500 ms after the one before.
TEST_F(IrcConnection, ByDefaultEveryLineWaitsHalfASecondAfterTheOneBefore) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto sending = start(conn->send(privmsgs(1, 4)));
  settle();
  EXPECT_EQ(new_lines(), sents(1, 1)) << "the first line waits for nothing";
  std::vector<std::chrono::milliseconds> at;
  for (auto elapsed = 10ms; elapsed <= 3s; elapsed += 10ms) {
    advance(10ms);
    for (const auto& line : new_lines()) {
      (void)line;
      at.push_back(elapsed);
    }
  }
  ASSERT_EQ(at.size(), 3u);
  // Each 500 ms after the one before as it really went (the clock moves in
  // 10 ms steps, so a line may go up to 10 ms late).
  for (std::size_t i = 0; i < at.size(); ++i) {
    SCOPED_TRACE(i);
    auto gap = at[i] - (i == 0 ? 0ms : at[i - 1]);
    EXPECT_GE(gap, 500ms) << "a line went out early";
    EXPECT_LE(gap, 510ms) << "a line went out late";
  }
  ASSERT_TRUE(sending->done);
  EXPECT_EQ(sending->value, 4u);
  // A line after a pause longer than the delay goes at once again, and
  // holds the next one back.
  advance(2s);
  auto later = start(conn->send(privmsgs(5, 6)));
  settle();
  EXPECT_EQ(new_lines(), sents(5, 5));
  advance(490ms);
  EXPECT_TRUE(new_lines().empty());
  advance(20ms);
  EXPECT_EQ(new_lines(), sents(6, 6));
  ASSERT_TRUE(later->done);
}

TEST_F(IrcConnection, FloodControlPacesABurstOneLinePerInterval) {
  // A burst of 5 (the `burst` key), then one line per 500 ms.
  options.burst = 5;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto sending = start(conn->send(privmsgs(1, 8)));
  settle();
  EXPECT_EQ(new_lines(), sents(1, 5));
  // When each further line goes out, on a clock moved in 10 ms steps.
  std::vector<std::chrono::milliseconds> at;
  for (auto elapsed = 10ms; elapsed <= 2s; elapsed += 10ms) {
    advance(10ms);
    for (const auto& line : new_lines()) {
      (void)line;
      at.push_back(elapsed);
    }
  }
  ASSERT_EQ(at.size(), 3u);
  for (std::size_t i = 0; i < at.size(); ++i) {
    SCOPED_TRACE(i);
    auto gap = at[i] - (i == 0 ? 0ms : at[i - 1]);
    EXPECT_GE(gap, 500ms) << "a line went out early";
    EXPECT_LE(gap, 510ms) << "a line went out late";
  }
  ASSERT_TRUE(sending->done);
  EXPECT_EQ(sending->value, 8u);
}

// A timer that fires late (a loaded machine) lets one line go, never the
// backlog that the schedule would have let out meanwhile: servers punish
// lines that arrive close together (ngircd stops reading us for a while).
TEST_F(IrcConnection, ALateTimerDoesNotLetPacedLinesCatchUpInABurst) {
  options.burst = 5;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto sending = start(conn->send(privmsgs(1, 8)));
  settle();
  ASSERT_EQ(new_lines(), sents(1, 5));
  advance(2s);  // the writer's timer was due at 500 ms
  EXPECT_EQ(new_lines(), sents(6, 6)) << "one line for the late timer, not four";
  advance(490ms);
  EXPECT_TRUE(new_lines().empty()) << "the next line waits 500 ms after the late one";
  advance(20ms);
  EXPECT_EQ(new_lines(), sents(7, 7));
  advance(1s);
  EXPECT_EQ(new_lines(), sents(8, 8));
  ASSERT_TRUE(sending->done);
}

// Lines of several sends made in one turn of the executor share one write
// and one confirming PING (what lets a pipelined outbox go faster than one
// server round trip per message).
TEST_F(IrcConnection, SendsOfOneTurnShareOneWriteAndOnePing) {
  options.confirm = true;
  options.send_delay = 0ms;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  auto reader = start(read_forever(*conn));
  auto tries = server->try_writes();
  auto first = conn->queue_lines(privmsgs(1, 2));
  auto second = conn->queue_lines(privmsgs(3, 3));
  auto a = start(conn->delivered(first));
  auto b = start(conn->delivered(second));
  settle();
  auto lines = sents(1, 3);
  lines.push_back("PING :immp-c3");
  EXPECT_EQ(new_lines(), lines);
  EXPECT_EQ(server->try_writes(), tries + 1);
  EXPECT_FALSE(a->done);
  server->line(":irc.test PONG irc.test :immp-c3");
  ASSERT_TRUE(until([&] { return a->done && b->done; }));
  EXPECT_EQ(a->value, 2u);
  EXPECT_EQ(b->value, 1u);
}

TEST_F(IrcConnection, APongIsNotHeldBehindThePacedBacklog) {
  options.burst = 5;  // the `burst` key: 5 lines may go at once
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto sending = start(conn->send(privmsgs(1, 8)));
  auto read = start(conn->read());
  settle();
  ASSERT_EQ(new_lines(), sents(1, 5));
  server->line("PING :token");
  advance(100ms);
  EXPECT_EQ(new_lines(), std::vector<std::string>{"PONG token"});
  EXPECT_FALSE(sending->done);
  // The PONG spent a token: the backlog resumes a little later.
  advance(1s);
  EXPECT_EQ(new_lines(), sents(6, 6));
  advance(500ms);
  advance(500ms);
  EXPECT_EQ(new_lines(), sents(7, 8));
  ASSERT_TRUE(sending->done);
  EXPECT_EQ(sending->value, 8u);
}

TEST_F(IrcConnection, SendCountsTheLinesWrittenBeforeTheLinkDropped) {
  options.send_delay = 0ms;  // no flood control: the fast path writes all
  ASSERT_NO_FATAL_FAILURE(open_plain());
  server->fail_writes_after_lines(3);
  auto sending = start(conn->send(privmsgs(1, 5)));
  ASSERT_TRUE(until([&] { return sending->done; }));
  EXPECT_EQ(sending->value, 3u);
  EXPECT_EQ(new_lines(), sents(1, 3));
  EXPECT_FALSE(conn->is_open());
  EXPECT_EQ(conn->close_reason().rfind("write failed: ", 0), 0u) << conn->close_reason();
  auto after = start(conn->send(privmsgs(6, 6)));
  ASSERT_TRUE(until([&] { return after->done; }));
  EXPECT_EQ(after->value, 0u) << "nothing is written on a closed link";
}

TEST_F(IrcConnection, ALineCutByTheDropDoesNotCount) {
  // Through the writer (as on TLS), one batch that breaks inside line 4.
  options.send_delay = 0ms;
  server->set_try_write(false);
  ASSERT_NO_FATAL_FAILURE(open_plain());
  std::size_t three = privmsg(1).size() + privmsg(2).size() + privmsg(3).size();
  server->fail_writes_after(three + 5);
  auto before = server->received().size();
  auto sending = start(conn->send(privmsgs(1, 5)));
  ASSERT_TRUE(until([&] { return sending->done; }));
  EXPECT_EQ(sending->value, 3u);
  EXPECT_EQ(server->received().size(), before + three + 5);
  EXPECT_EQ(new_lines(), sents(1, 3));
}

TEST_F(IrcConnection, APacedSendCountsWhatWentOutBeforeTheServerHungUp) {
  options.burst = 5;  // the `burst` key: 5 lines may go at once
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto sending = start(conn->send(privmsgs(1, 8)));
  settle();
  ASSERT_EQ(new_lines(), sents(1, 5));
  advance(510ms);
  ASSERT_EQ(new_lines(), sents(6, 6));
  server->hang_up();
  advance(500ms);
  ASSERT_TRUE(sending->done);
  EXPECT_EQ(sending->value, 6u);
  EXPECT_TRUE(new_lines().empty());
  EXPECT_FALSE(conn->is_open());
}

TEST_F(IrcConnection, ClosingWakesAWaitingSendWithItsCount) {
  options.burst = 5;  // the `burst` key: 5 lines may go at once
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto sending = start(conn->send(privmsgs(1, 7)));
  settle();
  ASSERT_EQ(new_lines(), sents(1, 5));
  conn->close("shutting down");
  ASSERT_TRUE(until([&] { return sending->done; }));
  EXPECT_EQ(sending->value, 5u);
  EXPECT_EQ(conn->close_reason(), "shutting down");
}

TEST_F(IrcConnection, WhatTheSocketLeftOfAFastWriteGoesBeforeLaterLines) {
  options.send_delay = 0ms;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  // The "kernel" takes line 1 and part of line 2, then nothing for a while.
  server->stall_writes_after(privmsg(1).size() + 4);
  auto tries = server->try_writes();
  auto first = start(conn->send(privmsgs(1, 3)));
  settle();
  auto second = start(conn->send(privmsgs(4, 5)));
  settle();
  EXPECT_EQ(new_lines(), sents(1, 1));
  EXPECT_FALSE(first->done);
  EXPECT_FALSE(second->done);
  EXPECT_EQ(server->try_writes(), tries + 1) << "the second send must queue behind the rest";
  server->release_writes();
  ASSERT_TRUE(until([&] { return first->done && second->done; }));
  EXPECT_EQ(first->value, 3u);
  EXPECT_EQ(second->value, 2u);
  EXPECT_EQ(new_lines(), sents(2, 5));
}

TEST_F(IrcConnection, LinesWithCrOrLfInsideAreNeverWritten) {
  options.send_delay = 0ms;
  ASSERT_NO_FATAL_FAILURE(open_plain());
  const std::vector<std::string> bad = {
      "PRIVMSG #room :one\r\nQUIT :injected\r\n",
      "PRIVMSG #room :two\rQUIT :injected\r\n",
      "PRIVMSG #room :three\nQUIT :injected\r\n",
      std::string("PRIVMSG #room :four\0QUIT\r\n", 26),
      "PRIVMSG #room :no line end",
      "\r\n",
  };
  auto before = server->received();
  for (const auto& line : bad) {
    SCOPED_TRACE(line);
    auto sending = start(conn->send({privmsg(1), line, privmsg(2)}));
    ASSERT_TRUE(until([&] { return sending->done; }));
    EXPECT_NE(sending->error_text().find("line 2 of 3 is not one IRC line"), std::string::npos)
        << sending->error_text();
    EXPECT_FALSE(conn->post(line));
    EXPECT_FALSE(conn->post_urgent(line));
  }
  settle();
  EXPECT_EQ(server->received(), before) << "not even the good lines around a bad one";
  EXPECT_TRUE(conn->is_open());
  auto good = start(conn->send(privmsgs(1, 1)));
  ASSERT_TRUE(until([&] { return good->done; }));
  EXPECT_EQ(good->value, 1u);
}

// ---- leaving ---------------------------------------------------------------

TEST_F(IrcConnection, QuitSendsQuitBeforeQueuedLinesAndCloses) {
  options.burst = 5;  // the `burst` key: 5 lines may go at once
  ASSERT_NO_FATAL_FAILURE(open_plain());
  refill();
  auto sending = start(conn->send(privmsgs(1, 7)));
  settle();
  ASSERT_EQ(new_lines(), sents(1, 5));
  auto quitting = start(conn->quit("bye now", 1s));
  // The writer looks up from its pacing at least every 100 ms.
  advance(100ms);
  ASSERT_TRUE(quitting->done);
  ASSERT_TRUE(sending->done);
  EXPECT_EQ(new_lines(), std::vector<std::string>{"QUIT :bye now"});
  EXPECT_EQ(sending->value, 5u) << "queued lines are dropped, not sent after QUIT";
  EXPECT_EQ(conn->close_reason(), "quit");
  EXPECT_TRUE(server->client_closed());
}

TEST_F(IrcConnection, QuitOnAStalledLinkGivesUpAfterItsGrace) {
  ASSERT_NO_FATAL_FAILURE(open_plain());
  server->stall_writes_after(0);
  auto quitting = start(conn->quit("bye", 1s));
  settle();
  advance(999ms);
  EXPECT_FALSE(quitting->done);
  advance(1ms);
  ASSERT_TRUE(quitting->done);
  EXPECT_EQ(conn->close_reason(), "quit timed out");
  EXPECT_TRUE(server->client_closed());
}

}  // namespace
}  // namespace immp::irc
