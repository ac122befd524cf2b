// An out-of-tree immp plugin: the `greeter` module, file `hooks`.
//
// Built as <plugin dir>/greeter/hooks.so, it provides the class
// `greeter.hooks.GreeterHook`. When someone writes "!hello" in any channel,
// the hook answers in that channel: "Hello, <display name>!". With
// `remember: true` it counts, in the database resource, how often it greeted
// each user, and says so from the second time on, across restarts too:
// "Hello again, <display name>! (3 times now)".
//
// Everything a plugin needs comes from the immp SDK (include/immp/):
// Hook to derive from, the config schema helpers, the database resource's
// interface, describe<T>() and the IMMP_PLUGIN entry point.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <immp/database.hpp>
#include <immp/hook.hpp>
#include <immp/host.hpp>
#include <immp/message.hpp>
#include <immp/plug.hpp>
#include <immp/registry.hpp>

namespace greeter {

class GreeterHook final : public immp::Hook {
 public:
  // The dotted path a config names under `hooks: <name>: path:`. It must be
  // `<module>.<file>.<Class>` for the .so at `<module>/<file>.so`.
  static constexpr std::string_view kPath = "greeter.hooks.GreeterHook";
  static constexpr std::string_view kDescription = "Answers !hello with a greeting.";

  // The hook's `config` section. immp validates it before the constructor
  // runs: unknown keys are errors, missing keys get these defaults, so the
  // constructor can read every key without checking.
  static immp::SpecPtr schema() {
    return immp::object({
        {"greeting", immp::str(), "Hello", "the word to greet with"},
        {"command", immp::str(), "!hello", "the message that asks for a greeting"},
        {"name", immp::str(), "", "who the greeting comes from (default: the hook's name)"},
        {"remember", immp::boolean(), false,
         "count greetings per user in the database resource, across restarts"},
    });
  }

  explicit GreeterHook(const immp::Init& init)
      : Hook(init),
        greeting_(config().at("greeting").as_string()),
        command_(config().at("command").as_string()),
        remember_(config().at("remember").as_bool()) {
    // A config value that is the right type but unusable: fail() reports it
    // as `file:line:col: hooks.<name>.config.command: ...` and immp exits 2.
    if (command_.empty()) config().at("command").fail("must not be empty");
    auto user = std::make_shared<immp::User>();
    user->id = name();
    user->username = config().at("name").as_string().empty() ? name()
                                                             : config().at("name").as_string();
    user_ = std::move(user);
  }

  // The database resource opens before any hook starts, so it is ready
  // here. Looked up by its SDK interface: no immp internals needed. When
  // the config has none, resource() throws with a sentence that says what
  // to add, and immp reports this hook as failed.
  immp::Task<> start() override {
    if (!remember_) co_return;
    immp::Database& db = host().resource<immp::Database>(*this);
    // Version 1 of this plugin's schema; later versions are appended.
    std::vector<std::string> steps = {
        "CREATE TABLE greeter_greetings (hook TEXT NOT NULL, network TEXT NOT NULL,"
        " user_id TEXT NOT NULL, greetings BIGINT NOT NULL,"
        " PRIMARY KEY (hook, network, user_id))",
    };
    // (GCC 12: no temporaries inside co_await; see on_receive.)
    std::string owner = "greeter";
    co_await db.migrate(std::move(owner), std::move(steps));
    db_ = &db;
  }

  // Every message that reached the host, after the before_receive chain.
  // `sent` is shared and immutable: read it, never copy it just to read.
  immp::Task<> on_receive(const immp::Received& received) override {
    const immp::SentPtr& sent = received.sent;
    if (!received.primary || !sent->text || sent->message().deleted) co_return;
    if (!is_command(sent->text->plain())) co_return;
    // The channel's plug, or null if it was removed since.
    immp::Plug* plug = sent->channel.plug();
    if (!plug) co_return;

    std::string who = sent->user ? sent->user->display_name() : std::string("stranger");
    std::int64_t times = 1;
    if (db_ && sent->user) {
      // One statement that counts and reads back, so two greetings at once
      // never both see the same number.
      std::string count =
          "INSERT INTO greeter_greetings (hook, network, user_id, greetings) VALUES (?, ?, ?, 1)"
          " ON CONFLICT (hook, network, user_id)"
          " DO UPDATE SET greetings = greeter_greetings.greetings + 1 RETURNING greetings";
      std::vector<immp::sql::Value> key = {name(), plug->name(), sent->user->id};
      immp::sql::Rows rows = co_await db_->query(std::move(count), std::move(key));
      if (!rows.empty()) times = immp::sql::as_int(rows[0][0]);
    }
    auto reply = std::make_shared<immp::Message>();
    std::string text =
        times == 1 ? greeting_ + ", " + who + "!"
                   : greeting_ + " again, " + who + "! (" + std::to_string(times) + " times now)";
    reply->text = immp::RichText(text);
    reply->user = user_;
    reply->reply_to = sent;

    // GCC 12: bind every temporary to a named variable before co_await (a
    // temporary inside the co_await operand can be destroyed twice).
    immp::MessagePtr msg = std::move(reply);
    immp::Channel channel = sent->channel;
    // send() runs the host's before_send chain, then the plug's put().
    // A relay hook would hand this to a queue instead of awaiting a
    // possibly slow network here; a bot answering one command may await.
    std::vector<immp::Receipt> receipts = co_await plug->send(channel, msg);
    log()->debug("greeted {} in {} ({} message(s))", who, channel.repr(), receipts.size());
  }

 private:
  // "!hello" alone or followed by a space: "!hello there" counts, "!hellos" does not.
  bool is_command(const std::string& text) const {
    if (text.compare(0, command_.size(), command_) != 0) return false;
    return text.size() == command_.size() || text[command_.size()] == ' ';
  }

  std::string greeting_;
  std::string command_;
  bool remember_;
  immp::UserPtr user_;
  // The database resource while remembering, else null. Owned by the host,
  // which keeps it open until after this hook stopped.
  immp::Database* db_ = nullptr;
};

}  // namespace greeter

// The one entry point of this .so: its module name and every class it
// provides. It also records the immp ABI and build signature this plugin was
// compiled against; immp refuses to load it when they differ from its own.
IMMP_PLUGIN("greeter", immp::describe<greeter::GreeterHook>())
