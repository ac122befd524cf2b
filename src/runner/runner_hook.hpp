// IMMP's RunnerHook, so that a config listing it under `hooks` loads.
//
// In IMMP (immp/hook/runner.py) the runner adds this hook itself unless the
// config lists one: it remembers the config file and, with `immp -w`,
// writes the live config back each time a plug or hook changes its settings
// (on_config_change). It takes no config (IMMP refuses any). Here the runner
// does all of that itself (docs/config.md, "Writing back: -w"), so this hook
// has nothing left to do: it has no config keys and takes part in no stage.
#pragma once

#include "immp/config.hpp"
#include "immp/hook.hpp"

namespace immp {

class RunnerHook final : public Hook {
 public:
  static constexpr std::string_view kPath = "immp.hook.runner.RunnerHook";
  static constexpr std::string_view kDescription =
      "IMMP's config writer; here the runner writes the config back itself (-w), so this hook "
      "does nothing.";
  static SpecPtr schema() { return object({}); }

  explicit RunnerHook(const Init& init) : Hook(init) {}
};

}  // namespace immp
