#include "store/outbox_store.hpp"

#include <boost/json.hpp>

#include "core/message_json.hpp"

namespace immp::store {

namespace json = boost::json;

Task<> DatabaseOutboxStore::migrate() {
  // (No temporaries in this coroutine: GCC 12 miscompiles them, and warns
  // about a push_back of one with -Warray-bounds.)
  std::vector<std::string> steps = {
      "CREATE TABLE immp_outbox (id TEXT PRIMARY KEY, seq BIGINT NOT NULL, plug TEXT NOT NULL,"
      " source TEXT NOT NULL, owner TEXT NOT NULL, tag TEXT NOT NULL,"
      " queued_at BIGINT NOT NULL, message TEXT NOT NULL)",
      // The origin (owner and tag) is the host's record of who posted it;
      // the parts are the ids of what already went out, never sent again.
      "ALTER TABLE immp_outbox ADD COLUMN parts TEXT NOT NULL DEFAULT '[]'",
  };
  std::string owner = "outbox";
  co_await db_.migrate(std::move(owner), std::move(steps));
}

void DatabaseOutboxStore::save(const immp::detail::OutboxEntry& e) {
  // A SentMessage (edits, deletes) keeps its receipt fields.
  std::string message;
  if (auto* sent = dynamic_cast<const SentMessage*>(e.message.get())) {
    json::object o = sent_to_json(*sent);
    o["sent"] = true;
    message = json::serialize(o);
  } else {
    message = json::serialize(message_to_json(*e.message));
  }
  auto at = std::chrono::duration_cast<std::chrono::milliseconds>(e.queued_at.time_since_epoch());
  json::array parts;
  for (const auto& id : e.parts) parts.emplace_back(id);
  std::string owner = e.origin ? e.origin->owner : std::string();
  std::string tag = e.origin ? e.origin->tag : std::string();
  db_.write(
      "INSERT INTO immp_outbox (id, seq, plug, source, owner, tag, queued_at, message, parts) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET parts = excluded.parts",
      {e.id, e.seq, e.channel.handle->name(), e.channel.source, std::move(owner), std::move(tag),
       static_cast<std::int64_t>(at.count()), std::move(message), json::serialize(parts)});
}

void DatabaseOutboxStore::remove(const std::string& id) {
  db_.write("DELETE FROM immp_outbox WHERE id = ?", {id});
}

Task<std::vector<immp::detail::OutboxEntry>> DatabaseOutboxStore::load(const Host& host) {
  Rows rows = co_await db_.query(
      "SELECT id, seq, plug, source, owner, tag, queued_at, message, parts FROM immp_outbox "
      "ORDER BY seq");
  std::vector<immp::detail::OutboxEntry> out;
  out.reserve(rows.size());
  for (auto& row : rows) {
    immp::detail::OutboxEntry e;
    e.id = as_text(row[0]);
    e.seq = as_int(row[1]);
    e.channel = Channel{&host.plug_handle(as_text(row[2])), as_text(row[3])};
    if (std::string owner = as_text(row[4]); !owner.empty()) {
      e.origin = std::make_shared<const Origin>(Origin{std::move(owner), as_text(row[5])});
    }
    e.queued_at = Clock::time_point(std::chrono::milliseconds(as_int(row[6])));
    json::value v = json::parse(as_text(row[7]));
    if (v.as_object().contains("sent")) {
      e.message = std::make_shared<const SentMessage>(sent_from_json(v, host));
    } else {
      e.message = std::make_shared<const Message>(message_from_json(v, host));
    }
    json::value parts = json::parse(as_text(row[8]));
    for (const auto& id : parts.as_array()) e.parts.emplace_back(id.as_string());
    out.push_back(std::move(e));
  }
  co_return out;
}

}  // namespace immp::store
