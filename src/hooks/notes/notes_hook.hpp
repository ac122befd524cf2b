// NotesHook (immp.hook.notes.NotesHook): numbered notes kept per channel,
// recalled with commands (note-add, note-edit, note-remove, note-show or
// note, note-list or notes). Stored in the database resource, in IMMP's
// table `note`, so an IMMP database's notes carry over.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "immp/command.hpp"
#include "immp/database.hpp"
#include "immp/hook.hpp"

namespace immp::hooks {

class NotesHook final : public Hook, public CommandProvider {
 public:
  static constexpr std::string_view kPath = "immp.hook.notes.NotesHook";
  static constexpr std::string_view kDescription = "Numbered notes per channel, by command";
  static SpecPtr schema();

  explicit NotesHook(const Init& init);

  Task<> start() override;
  // Moves the old channel's notes to the new one.
  Task<bool> channel_migrate(Channel old_channel, Channel new_channel) override;

  struct Note {
    std::int64_t id = 0;
    std::int64_t timestamp = 0;  // seconds since the epoch
    std::string user;            // the author's id; empty if unknown
    std::string text;            // IMMP's raw form (see text/immp_raw.hpp)
  };
  // The notes of `channel`, oldest first: note N is element N - 1.
  Task<std::vector<Note>> notes_of(const Channel& channel);

  // "5s", "3m", "2h", "4d": how long ago `timestamp` was, as IMMP shows it.
  static std::string ago(std::int64_t timestamp, std::int64_t now);

 private:
  Task<> add(CommandContext& ctx);
  Task<> edit(CommandContext& ctx);
  Task<> remove(CommandContext& ctx);
  Task<> show(CommandContext& ctx);
  Task<> list(CommandContext& ctx);
  // Note numbers from arguments; BadUsage unless each is a whole number
  // from 1.
  static std::vector<std::size_t> numbers(const CommandContext& ctx,
                                          const std::vector<std::string>& args);
  RichText line(std::size_t num, const Note& note, std::int64_t now) const;

  Database* db_ = nullptr;
};

}  // namespace immp::hooks
