// The outboxes' storage in the database resource: undelivered messages
// wait here while their plug is down and across restarts.
#pragma once

#include "core/outbox.hpp"
#include "store/database.hpp"

namespace immp::store {

class DatabaseOutboxStore final : public immp::detail::OutboxStore {
 public:
  // `db` must outlive this store.
  explicit DatabaseOutboxStore(Database& db) : db_(db) {}

  // Creates or upgrades the table; call once before use.
  Task<> migrate();

  void save(const immp::detail::OutboxEntry& entry) override;
  void remove(const std::string& id) override;
  Task<std::vector<immp::detail::OutboxEntry>> load(const Host& host) override;

 private:
  Database& db_;
};

}  // namespace immp::store
