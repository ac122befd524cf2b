// The sync hook's message-id map: which messages on which channels are
// copies of one another. Persisted in the database resource (when there is
// one) and cached in memory up to a bound, so edits, deletes and replies
// keep working across restarts without memory growing with traffic.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "immp/host.hpp"
#include "store/database.hpp"

namespace immp::hooks {

struct Copy {
  Channel channel;
  std::string id;
};

class SyncRefs {
 public:
  // `db` may be null (memory only); it must outlive this map.
  SyncRefs(const Host& host, store::Database* db, std::size_t capacity);

  static std::vector<std::string> migrations();

  // A fresh key for a new bridged message, unique across restarts.
  std::string new_key();
  // Records the message a key was made for (memory only until a copy exists).
  void add_origin(const std::string& key, const Channel& channel, const std::string& id);
  // Records a delivered copy of `origin`; stores both when the origin's row
  // was not written yet (also after a restart, when memory has forgotten).
  void add_copy(const std::string& key, const Copy& origin, const Copy& copy);
  // The key of a message, or nullopt when it was never bridged.
  Task<std::optional<std::string>> key_for(const Channel& channel, const std::string& id);
  // Every known message of a key.
  Task<std::vector<Copy>> copies(const std::string& key);

  std::size_t cached() const { return refs_.size(); }

 private:
  struct Ref {
    std::vector<Copy> copies;
    bool stored = false;  // the first row is written; later rows go one by one
  };
  static std::string lookup_key(const Channel& channel, const std::string& id);
  Ref& remember(const std::string& key);

  const Host& host_;
  store::Database* db_;
  std::size_t capacity_;
  std::unordered_map<std::string, Ref> refs_;
  std::unordered_map<std::string, std::string> lookup_;  // channel+id -> key
  std::deque<std::string> order_;                        // eviction, oldest first
  std::string run_;
  std::uint64_t counter_ = 0;
};

}  // namespace immp::hooks
