// LocalIdentityHook (immp.hook.identitylocal.LocalIdentityHook): people link
// their accounts on different networks into one identity themselves, with
// a name and a password (id-add, id-rename, id-password, id-reset), and
// admins give identities roles (id-role). It is an identity provider (the
// sync hook's `identities`, WhoIsHook) and an access predicate (identified
// users may be in a channel, others may not).
//
// Stored in the database resource in IMMP's tables (identitygroup,
// identitylink, identityrole) and held in memory: a lookup per message
// (sync's identities) costs no database round trip.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "hooks/access/access_predicate.hpp"
#include "hooks/identity/identity.hpp"
#include "hooks/identity/password.hpp"
#include "immp/command.hpp"
#include "immp/database.hpp"
#include "immp/hook.hpp"

namespace immp::hooks {

class LocalIdentityHook final : public Hook,
                                public IdentityDirectory,
                                public AccessPredicate,
                                public CommandProvider {
 public:
  static constexpr std::string_view kPath = "immp.hook.identitylocal.LocalIdentityHook";
  static constexpr std::string_view kDescription =
      "Self-service identities linking one person's accounts across networks";
  static SpecPtr schema();

  explicit LocalIdentityHook(const Init& init);
  ~LocalIdentityHook() override;

  Task<> start() override;

  // IdentityProvider, for the sync hook: the name, and the linked accounts
  // as stored (id and plug; no network lookup).
  Task<std::optional<IdentityGroup>> identity_from_user(const User& user) override;
  // IdentityDirectory, for `who`: accounts looked up on their plugs.
  std::string provider_name() const override { return "Local"; }
  Task<std::optional<Identity>> identity_from_name(std::string name) override;
  Task<std::optional<Identity>> identity_of(const User& user) override;
  Task<std::optional<std::vector<std::string>>> roles_of(const User& user) override;
  // AccessPredicate: identified users are allowed, others denied.
  Task<std::optional<bool>> channel_access(const Channel& channel, const User& user) override;

  // The instance code in use (configured, or assigned at start).
  std::int64_t instance() const { return instance_; }

 private:
  struct Group {
    std::int64_t id = 0;
    std::string name;
    std::string pwd;
    std::vector<std::pair<std::string, std::string>> links;  // (network, user id)
    std::vector<std::string> roles;
  };
  using LinkKey = std::pair<std::string, std::string>;  // (network, user id)

  Task<> load();
  bool ours(const PlugHandle* plug) const;
  // The group `user` is linked to, if any (and the user's plug is ours).
  Group* find(const User& user);
  Group* by_name(const std::string& name);
  Task<Identity> to_identity(const Group& group);
  Task<std::string> hash(std::string pwd);
  Task<PasswordCheck> check(std::string pwd, std::string stored);
  Task<bool> offered(CommandCaller caller, bool admin) const;

  Task<> add(CommandContext& ctx);
  Task<> rename(CommandContext& ctx);
  Task<> password(CommandContext& ctx);
  Task<> reset(CommandContext& ctx);
  Task<> role(CommandContext& ctx);

  std::vector<std::string> plugs_;
  bool multiple_;
  std::map<std::string, std::vector<std::string>, std::less<>> admins_;
  std::int64_t instance_ = 0;
  Database* db_ = nullptr;
  std::map<std::int64_t, Group> groups_;
  std::map<LinkKey, std::int64_t> links_;  // -> group id
  // Password hashing runs here, off the host's thread.
  std::unique_ptr<asio::thread_pool> pool_;
};

}  // namespace immp::hooks
