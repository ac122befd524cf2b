// An out-of-tree immp plugin: the `greeter` module, file `hooks`.
//
// Built as <plugin dir>/greeter/hooks.so, it provides the class
// `greeter.hooks.GreeterHook`. When someone writes "!hello" in any channel,
// the hook answers in that channel: "Hello, <display name>!".
//
// Everything a plugin needs comes from the immp SDK (include/immp/):
// Hook to derive from, the config schema helpers, describe<T>() and the
// IMMP_PLUGIN entry point.
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <immp/hook.hpp>
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
    });
  }

  explicit GreeterHook(const immp::Init& init)
      : Hook(init),
        greeting_(config().at("greeting").as_string()),
        command_(config().at("command").as_string()) {
    // A config value that is the right type but unusable: fail() reports it
    // as `file:line:col: hooks.<name>.config.command: ...` and immp exits 2.
    if (command_.empty()) config().at("command").fail("must not be empty");
    auto user = std::make_shared<immp::User>();
    user->id = name();
    user->username = config().at("name").as_string().empty() ? name()
                                                             : config().at("name").as_string();
    user_ = std::move(user);
  }

  // Every message that reached the host, after the before_receive chain.
  // `sent` is shared and immutable: read it, never copy it just to read.
  immp::Task<> on_receive(const immp::Received& received) override {
    const immp::SentPtr& sent = received.sent;
    if (!received.primary || !sent->text || sent->message().deleted) co_return;
    if (!is_command(sent->text->plain())) co_return;

    std::string who = sent->user ? sent->user->display_name() : std::string("stranger");
    auto reply = std::make_shared<immp::Message>();
    reply->text = immp::RichText(greeting_ + ", " + who + "!");
    reply->user = user_;
    reply->reply_to = sent;

    // GCC 12: bind every temporary to a named variable before co_await (a
    // temporary inside the co_await operand can be destroyed twice).
    immp::MessagePtr msg = std::move(reply);
    immp::Channel channel = sent->channel;
    // send() runs the host's before_send chain, then the plug's put().
    // A relay hook would hand this to a queue instead of awaiting a
    // possibly slow network here; a bot answering one command may await.
    std::vector<immp::Receipt> receipts = co_await channel.plug->send(channel, msg);
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
  immp::UserPtr user_;
};

}  // namespace greeter

// The one entry point of this .so: its module name and every class it
// provides. It also records the immp ABI and build signature this plugin was
// compiled against; immp refuses to load it when they differ from its own.
IMMP_PLUGIN("greeter", immp::describe<greeter::GreeterHook>())
