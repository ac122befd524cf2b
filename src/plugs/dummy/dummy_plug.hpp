// DummyPlug, as IMMP has it: one channel (source `dummy`), a message every
// `interval` seconds (10), and an echo of whatever it is sent.
#pragma once

#include "immp/plug.hpp"
#include "immp/tasks.hpp"

namespace immp::plugs {

class DummyPlug final : public Plug {
 public:
  static constexpr std::string_view kPath = "immp.plug.dummy.DummyPlug";
  static constexpr std::string_view kDescription =
      "A plug with a fake channel and user: posts a message every 10 seconds and echoes "
      "what it is sent.";
  static SpecPtr schema();
  // The channel the dummy speaks in, as in IMMP (immp/plug/dummy.py).
  static constexpr std::string_view kSource = "dummy";

  explicit DummyPlug(const Init& init);

  std::string network_name() const override { return "Dummy"; }
  std::string network_id() const override { return "dummy:" + name(); }

  Task<> start() override;
  Task<> stop() override;
  Task<PutResult> put(Posting& post) override;
  Task<std::vector<Channel>> public_channels() override;
  Task<std::optional<bool>> channel_is_private(const Channel& channel) override;
  Task<std::optional<std::string>> channel_title(const Channel& channel) override;

 private:
  Task<> tick();
  std::string next_id() { return std::to_string(++counter_); }

  std::uint64_t counter_ = 0;
  std::chrono::milliseconds interval_;
  std::string text_;
  UserPtr user_;
  TaskGroup tasks_;
};

}  // namespace immp::plugs
