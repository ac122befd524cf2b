// Group: a named set of channels (IMMP's groups section).
#pragma once

#include <string>
#include <vector>

#include "immp/asio.hpp"
#include "immp/channel.hpp"

namespace immp {

class Host;

struct Group {
  std::string name;
  std::vector<Channel> channels;  // listed channels always belong...
  std::vector<const PlugHandle*> anywhere;  // ...and every channel of these plugs
  std::vector<const PlugHandle*> named;     // channels of these plugs declared under `channels`
  std::vector<const PlugHandle*> private_;  // private channels of these plugs
  std::vector<const PlugHandle*> shared;    // non-private channels of these plugs
  std::vector<Channel> exclude;   // never belong, whatever else says

  // IMMP's Group.has_channel. Asks the plug only for private/shared.
  Task<bool> has_channel(const Host& host, const Channel& channel) const;
  bool has_plug(const PlugHandle* plug) const;
};

}  // namespace immp
