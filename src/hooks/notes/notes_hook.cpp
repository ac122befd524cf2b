#include "hooks/notes/notes_hook.hpp"

#include <algorithm>
#include <charconv>

#include "text/immp_raw.hpp"
#include "immp/host.hpp"
#include "immp/plug.hpp"
#include "store/immp_legacy.hpp"

// GCC 12 at -O2 reports -Wmismatched-new-delete for the frames of large
// coroutines: they are allocated and freed by Asio's own
// awaitable_frame_base operator new/delete pair, so the warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace immp::hooks {

namespace {

Segment seg(std::string text) {
  Segment s;
  s.text = std::move(text);
  return s;
}
[[maybe_unused]] Segment bold_seg(std::string text) {
  Segment s = seg(std::move(text));
  s.bold = true;
  return s;
}
[[maybe_unused]] Segment italic_seg(std::string text) {
  Segment s = seg(std::move(text));
  s.italic = true;
  return s;
}
[[maybe_unused]] Segment link_seg(std::string text, std::string link) {
  Segment s = seg(std::move(text));
  s.link = std::move(link);
  return s;
}
[[maybe_unused]] Segment mention_seg(std::string text, UserPtr user) {
  Segment s = seg(std::move(text));
  s.mention = std::move(user);
  return s;
}

constexpr std::string_view kTick = "\u2705";   // IMMP's TICK
constexpr std::string_view kCross = "\u274C";  // IMMP's CROSS

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
}

// IMMP's network ids (store::immp_network_id), so that notes an IMMP
// database holds are found under the same plug.
std::string network_of(const Channel& channel) {
  Plug* plug = channel.plug();
  return plug ? store::immp_network_id(*plug) : std::string();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

SpecPtr NotesHook::schema() { return object({}); }

NotesHook::NotesHook(const Init& init) : Hook(init) {
  {
    Command c;
    c.name = "note-add";
    c.usage = "<text>";
    c.help = "Add a new note for this channel.";
    c.parser = CommandParser::none;
    c.run = [this](CommandContext& ctx) { return add(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "note-edit";
    c.usage = "<num> <text>";
    c.help = "Update an existing note from this channel with new text.";
    c.parser = CommandParser::hybrid;
    c.run = [this](CommandContext& ctx) { return edit(ctx); };
    add_command(std::move(c));
  }
  {
    Command c;
    c.name = "note-remove";
    c.usage = "<num...>";
    c.help = "Delete one or more notes from this channel by their positions.";
    c.run = [this](CommandContext& ctx) { return remove(ctx); };
    add_command(std::move(c));
  }
  for (const char* name : {"note-show", "note"}) {
    Command c;
    c.name = name;
    c.usage = "<num>";
    c.help = "Recall a single note in this channel.";
    c.run = [this](CommandContext& ctx) { return show(ctx); };
    add_command(std::move(c));
  }
  for (const char* name : {"note-list", "notes"}) {
    Command c;
    c.name = name;
    c.usage = "[query]";
    c.help = "Recall all notes for this channel, or search for text across them.";
    c.parser = CommandParser::none;
    c.run = [this](CommandContext& ctx) { return list(ctx); };
    add_command(std::move(c));
  }
}

Task<> NotesHook::start() {
  db_ = &host().resource<Database>(*this);
  // IMMP's table as Tortoise created it: kept as is when an IMMP database
  // already has it.
  std::string id = db_->dialect() == sql::Dialect::sqlite
                       ? "\"id\" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"
                       : "\"id\" SERIAL NOT NULL PRIMARY KEY";
  std::vector<std::string> steps{
      "CREATE TABLE IF NOT EXISTS \"note\" (" + id +
      ", \"timestamp\" INT NOT NULL, \"network\" TEXT NOT NULL, \"channel\" TEXT NOT NULL, "
      "\"user\" TEXT, \"text\" TEXT NOT NULL); "
      "CREATE INDEX IF NOT EXISTS \"note_channel\" ON \"note\" (\"network\", \"channel\")"};
  co_await db_->migrate("notes", std::move(steps));
}

Task<std::vector<NotesHook::Note>> NotesHook::notes_of(const Channel& channel) {
  std::vector<sql::Value> params{network_of(channel), channel.source};
  sql::Rows rows = co_await db_->query(
      "SELECT \"id\", \"timestamp\", \"user\", \"text\" FROM \"note\" "
      "WHERE \"network\" = ? AND \"channel\" = ? ORDER BY \"timestamp\", \"id\"",
      std::move(params));
  std::vector<Note> out;
  out.reserve(rows.size());
  for (const sql::Row& row : rows) {
    out.push_back(Note{sql::as_int(row[0]), sql::as_int(row[1]),
                       sql::is_null(row[2]) ? std::string() : sql::as_text(row[2]),
                       sql::as_text(row[3])});
  }
  co_return out;
}

Task<bool> NotesHook::channel_migrate(Channel old_channel, Channel new_channel) {
  if (!db_) co_return false;
  std::vector<sql::Value> params{network_of(new_channel), new_channel.source,
                                 network_of(old_channel), old_channel.source};
  std::int64_t count = co_await db_->execute(
      "UPDATE \"note\" SET \"network\" = ?, \"channel\" = ? WHERE \"network\" = ? AND "
      "\"channel\" = ?",
      std::move(params));
  co_return count > 0;
}

std::string NotesHook::ago(std::int64_t timestamp, std::int64_t now) {
  std::int64_t diff = std::max<std::int64_t>(0, now - timestamp);
  constexpr std::pair<int, const char*> kSteps[] = {{60, "s"}, {60, "m"}, {24, "h"}};
  for (auto [step, unit] : kSteps) {
    if (diff < step) return std::to_string(diff) + unit;
    diff /= step;
  }
  return std::to_string(diff) + "d";
}

std::vector<std::size_t> NotesHook::numbers(const CommandContext& ctx,
                                            const std::vector<std::string>& args) {
  std::vector<std::size_t> out;
  for (const std::string& a : args) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(a.data(), a.data() + a.size(), n);
    if (ec != std::errc() || end != a.data() + a.size() || n < 1) ctx.usage();
    out.push_back(n);
  }
  return out;
}

RichText NotesHook::line(std::size_t num, const Note& note, std::int64_t now) const {
  RichText text;
  text.append(bold_seg(std::to_string(num) + "."));
  text.append(seg("\t"));
  text.append(markup::from_raw(note.text));
  text.append(seg("\t"));
  text.append(italic_seg(ago(note.timestamp, now)));
  return text;
}

Task<> NotesHook::add(CommandContext& ctx) {
  if (ctx.args.empty() || ctx.args[0].empty()) ctx.usage();
  std::string author = ctx.user ? (ctx.user->id.empty() ? ctx.user->username : ctx.user->id) : "";
  std::vector<sql::Value> params{now_seconds(), network_of(ctx.channel), ctx.channel.source,
                                 author.empty() ? sql::Value() : sql::Value(author),
                                 markup::to_raw(RichText(ctx.args[0]))};
  co_await db_->execute(
      "INSERT INTO \"note\" (\"timestamp\", \"network\", \"channel\", \"user\", \"text\") "
      "VALUES (?, ?, ?, ?, ?)",
      std::move(params));
  std::vector<Note> notes = co_await notes_of(ctx.channel);
  auto answer = std::string(kTick) + " Added #" + std::to_string(notes.size());
  ctx.reply(std::move(answer));
}

Task<> NotesHook::edit(CommandContext& ctx) {
  if (ctx.args.size() != 2) ctx.usage();
  std::vector<std::string> first{ctx.args[0]};
  std::size_t num = numbers(ctx, first).front();
  std::vector<Note> notes = co_await notes_of(ctx.channel);
  if (num > notes.size()) {
    auto answer = std::string(kCross) + " Does not exist";
    ctx.reply(std::move(answer));
    co_return;
  }
  std::vector<sql::Value> params{markup::to_raw(RichText(ctx.args[1])), notes[num - 1].id};
  co_await db_->execute("UPDATE \"note\" SET \"text\" = ? WHERE \"id\" = ?", std::move(params));
  auto answer = std::string(kTick) + " Edited";
  ctx.reply(std::move(answer));
}

Task<> NotesHook::remove(CommandContext& ctx) {
  if (ctx.args.empty()) ctx.usage();
  std::vector<std::size_t> nums = numbers(ctx, ctx.args);
  std::vector<Note> notes = co_await notes_of(ctx.channel);
  if (std::any_of(nums.begin(), nums.end(), [&](std::size_t n) { return n > notes.size(); })) {
    auto answer = std::string(kCross) + " Does not exist";
    ctx.reply(std::move(answer));
    co_return;
  }
  std::sort(nums.begin(), nums.end());
  nums.erase(std::unique(nums.begin(), nums.end()), nums.end());
  std::int64_t count = 0;
  for (std::size_t n : nums) {
    std::vector<sql::Value> params{notes[n - 1].id};
    count += co_await db_->execute("DELETE FROM \"note\" WHERE \"id\" = ?", std::move(params));
  }
  auto answer = std::string(kTick) + " Removed " + std::to_string(count) + " note" +
                     (count == 1 ? "" : "s");
  ctx.reply(std::move(answer));
}

Task<> NotesHook::show(CommandContext& ctx) {
  std::size_t num = numbers(ctx, ctx.args).at(0);
  std::vector<Note> notes = co_await notes_of(ctx.channel);
  if (num > notes.size()) {
    auto answer = std::string(kCross) + " Does not exist";
    ctx.reply(std::move(answer));
    co_return;
  }
  auto answer = line(num, notes[num - 1], now_seconds());
  ctx.reply(std::move(answer));
}

Task<> NotesHook::list(CommandContext& ctx) {
  std::optional<std::string> query;
  if (!ctx.args.empty() && !ctx.args[0].empty()) query = lower(ctx.args[0]);
  std::vector<Note> notes = co_await notes_of(ctx.channel);
  std::vector<std::size_t> matches;
  for (std::size_t i = 0; i < notes.size(); ++i) {
    if (!query || lower(markup::from_raw(notes[i].text).plain()).find(*query) != std::string::npos) {
      matches.push_back(i + 1);
    }
  }
  if (matches.empty()) {
    auto answer = std::string(kCross) + " No " +
                       (query && !notes.empty() ? "matches" : "notes");
    ctx.reply(std::move(answer));
    co_return;
  }
  std::size_t count = matches.size();
  RichText text;
  text.append(bold_seg(std::to_string(count) + (query ? " matching" : "") + " note" +
                              (count == 1 ? "" : "s") + " in this channel:"));
  std::int64_t now = now_seconds();
  for (std::size_t n : matches) {
    text.append(seg("\n"));
    text.append(line(n, notes[n - 1], now));
  }
  // The list goes privately where the caller has a private channel that is
  // not this one (a long list does not flood the room), as IMMP does.
  std::optional<Channel> dm;
  if (ctx.user && ctx.user->plug()) dm = co_await ctx.user->plug()->channel_for_user(*ctx.user);
  if (dm && *dm != ctx.typed_in && !ctx.is_private) {
    auto msg = std::make_shared<Message>();
    msg->text = std::move(text);
    host().post(*dm, std::move(msg));
    auto answer = std::string(kTick) + " Sent";
    ctx.reply(std::move(answer));
  } else {
    ctx.reply(std::move(text));
  }
}

}  // namespace immp::hooks
