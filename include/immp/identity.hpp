// IdentityProvider: a hook that links one person's accounts across
// networks. The sync hook asks it for unified names (`identities`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "immp/asio.hpp"
#include "immp/message.hpp"

namespace immp {

struct IdentityGroup {
  std::string name;            // the person's chosen name
  std::vector<UserPtr> links;  // their accounts, one per network
};

// Implemented by hooks alongside immp::Hook.
class IdentityProvider {
 public:
  virtual ~IdentityProvider() = default;
  // The identity `user` belongs to, if linked.
  virtual Task<std::optional<IdentityGroup>> identity_from_user(const User& user) = 0;
};

}  // namespace immp
