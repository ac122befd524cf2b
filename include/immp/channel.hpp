// A channel: one room of a plug, `(plug, source)`. A value type; the plug
// it points to is owned by the host and outlives every Channel.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace immp {

class Plug;

struct Channel {
  Plug* plug = nullptr;
  std::string source;

  bool valid() const { return plug != nullptr; }
  bool operator==(const Channel& other) const = default;
  // "plugname:source", for logs.
  std::string repr() const;
};

}  // namespace immp

template <>
struct std::hash<immp::Channel> {
  std::size_t operator()(const immp::Channel& c) const noexcept {
    return std::hash<const void*>()(c.plug) ^ (std::hash<std::string>()(c.source) * 31);
  }
};
