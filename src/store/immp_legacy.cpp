#include "store/immp_legacy.hpp"

#include <stdexcept>

#include "immp/host.hpp"
#include "immp/plug.hpp"

namespace immp::store {

namespace {

std::vector<ImmpSyncRow> to_rows(const Rows& rows) {
  std::vector<ImmpSyncRow> out;
  out.reserve(rows.size());
  for (const Row& row : rows) {
    // Peewee and Tortoise both wrote text; as_text() would throw on
    // anything else, which only a hand-made table could hold.
    out.push_back({as_text(row.at(0)), as_text(row.at(1)), as_text(row.at(2))});
  }
  return out;
}

}  // namespace

Task<std::optional<ImmpSyncRefs>> ImmpSyncRefs::open(Database& db) {
  // SQL as literals and parameters named first: GCC 12 mishandles other
  // temporaries inside co_await (docs/architecture.md).
  std::vector<Value> none;
  Rows found;
  if (db.dialect() == Dialect::sqlite) {
    found = co_await db.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'syncbackref'",
        std::move(none));
  } else {
    found = co_await db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_name = 'syncbackref' "
        "AND table_schema = ANY (current_schemas(false))",
        std::move(none));
  }
  if (found.empty()) co_return std::nullopt;
  // The columns we read, checked once: a table of that name from
  // something else is an error at start, not at the first reply.
  std::string problem;
  try {
    std::vector<Value> no_params;
    co_await db.query("SELECT id, \"key\", network, channel, message FROM syncbackref WHERE 1 = 0",
                      std::move(no_params));
  } catch (const std::runtime_error& e) {
    problem = e.what();
  }
  if (!problem.empty()) {
    throw std::runtime_error("the table syncbackref in " + db.describe() +
                             " is not IMMP's sync references: " + problem);
  }
  co_return ImmpSyncRefs(db);
}

// "key" is a keyword in PostgreSQL (non-reserved) and quoted by both ORMs;
// quoted here too. Ordered by id: the order IMMP inserted the copies.
Task<std::vector<ImmpSyncRow>> ImmpSyncRefs::rows_with(std::string network, std::string channel,
                                                       std::string message) const {
  std::vector<Value> params{std::move(network), std::move(channel), std::move(message)};
  Rows rows = co_await db_->query(
      "SELECT b.network, b.channel, b.message FROM syncbackref a "
      "JOIN syncbackref b ON b.\"key\" = a.\"key\" "
      "WHERE a.network = ? AND a.channel = ? AND a.message = ? ORDER BY b.id",
      std::move(params));
  co_return to_rows(rows);
}

Task<std::vector<ImmpSyncRow>> ImmpSyncRefs::rows_of_key(std::string key) const {
  std::vector<Value> params{std::move(key)};
  Rows rows = co_await db_->query(
      "SELECT network, channel, message FROM syncbackref WHERE \"key\" = ? ORDER BY id",
      std::move(params));
  co_return to_rows(rows);
}

Task<std::vector<ImmpSyncCopy>> ImmpSyncRefs::copies(const Host& host, Channel channel,
                                                     std::string id) const {
  std::vector<ImmpSyncCopy> out;
  Plug* plug = channel.plug();
  if (!plug) co_return out;
  std::string network = immp_network_id(*plug);
  std::string source = channel.source;
  std::vector<ImmpSyncRow> rows =
      co_await rows_with(std::move(network), std::move(source), std::move(id));
  if (rows.empty()) co_return out;
  // Plugs are looked up after the query: one may have gone meanwhile.
  std::vector<std::pair<Plug*, std::string>> networks;
  for (Plug* p : host.plugs()) networks.emplace_back(p, immp_network_id(*p));
  for (ImmpSyncRow& row : rows) {
    for (const auto& [p, network] : networks) {
      if (network != row.network) continue;
      out.push_back({Channel{&host.plug_handle(p->name()), row.channel}, row.message});
    }
  }
  co_return out;
}

std::string immp_network_id(const Plug& plug) {
  std::string ours = plug.network_id();
  if (ours.starts_with("dummy:")) return "dummy";
  if (ours.starts_with("irc:")) {
    // IMMP: "irc:" + config["server"]["host"].
    const Node* server = plug.config().find("server");
    const Node* host = server && server->is_map() ? server->find("host") : nullptr;
    if (host && host->is_string()) return "irc:" + host->as_string();
  }
  return ours;
}

}  // namespace immp::store
