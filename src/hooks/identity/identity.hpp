// What identity hooks offer beyond the SDK's immp::IdentityProvider (which
// the sync hook uses): lookups by name, roles and the provider's name, as
// IMMP's IdentityProvider has them, for WhoIsHook, CommandHook's
// `identify` and other hooks. Header only (no key function), so a hook may
// ask for it with dynamic_cast without linking the identity library.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "immp/identity.hpp"

namespace immp::hooks {

// IMMP's Identity: one person across networks, as one provider knows them.
struct Identity {
  std::string name;                // the person's chosen name
  std::string provider;            // the provider's readable name ("Local")
  std::vector<UserPtr> links;      // their accounts, looked up on their plugs
  std::vector<std::string> roles;  // may be empty
  std::string profile;             // URL of a profile page; may be empty
};

class IdentityDirectory : public IdentityProvider {
 public:
  // "Local", ...: shown by `who`.
  virtual std::string provider_name() const = 0;
  // By the provider's name for the person; nullopt when unknown.
  virtual Task<std::optional<Identity>> identity_from_name(std::string name) = 0;
  // By one of their accounts, with links looked up and roles.
  virtual Task<std::optional<Identity>> identity_of(const User& user) = 0;
  // The roles of the identity `user` belongs to (maybe none); nullopt when
  // `user` is not identified. Cheap, no network lookup: the command hook's
  // `identify` asks it at every command of a mapping that has one.
  virtual Task<std::optional<std::vector<std::string>>> roles_of(const User& user) = 0;
};

}  // namespace immp::hooks
