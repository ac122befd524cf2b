// A channel: one room of a plug, `(plug, source)`. A value type.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace immp {

class Host;
class Plug;
namespace detail {
struct HostCore;
}

// How channels and users name their plug. The host owns one per plug name
// for its whole life, so a handle never dangles: get() is null while no
// plug of that name exists (removed), and follows a plug that is replaced
// by a new instance (restarted with a new config).
class PlugHandle {
 public:
  explicit PlugHandle(std::string name) : name_(std::move(name)) {}
  PlugHandle(const PlugHandle&) = delete;
  PlugHandle& operator=(const PlugHandle&) = delete;

  const std::string& name() const { return name_; }
  Plug* get() const { return plug_; }

 private:
  friend struct detail::HostCore;
  friend class Host;
  friend class Plug;
  std::string name_;
  Plug* plug_ = nullptr;
};

struct Channel {
  const PlugHandle* handle = nullptr;
  std::string source;

  // The plug now, or null when it was removed.
  Plug* plug() const { return handle ? handle->get() : nullptr; }
  bool valid() const { return plug() != nullptr; }
  bool operator==(const Channel& other) const = default;
  // "plugname:source", for logs.
  std::string repr() const;
};

}  // namespace immp

template <>
struct std::hash<immp::Channel> {
  std::size_t operator()(const immp::Channel& c) const noexcept {
    return std::hash<const void*>()(c.handle) ^ (std::hash<std::string>()(c.source) * 31);
  }
};
