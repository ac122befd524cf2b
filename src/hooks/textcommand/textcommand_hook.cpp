#include "hooks/textcommand/textcommand_hook.hpp"

#include <cctype>

#include "text/immp_raw.hpp"

namespace immp::hooks {

SpecPtr TextCommandHook::schema() {
  return object({
      {"commands", map_of(str()), required, "command name -> the text it answers with"},
  });
}

TextCommandHook::TextCommandHook(const Init& init) : Hook(init) {
  for (const auto& [name, text] : config().at("commands").as_map()) {
    bool word = !name.empty();
    for (char c : name) word = word && !std::isspace(static_cast<unsigned char>(c));
    if (!word) text.fail("a command name is one word: '" + name + "' is not");
    add_command({.name = name,
                 .help = "Answers with a fixed text.",
                 // IMMP's rich text: "<b>bold</>" and the like (RichText.unraw).
                 .run = [answer = markup::from_raw(text.as_string())](CommandContext& ctx) -> Task<> {
                   ctx.reply(answer);
                   co_return;
                 }});
  }
}

}  // namespace immp::hooks
