// immp [-w] [--strict] CONFIG | --check [--strict] CONFIG | --version | --help
#include <iostream>

#include <CLI/CLI.hpp>

#include "core/logging.hpp"
#include "runner/runner.hpp"

int main(int argc, char** argv) {
  CLI::App app{"immp: Instant Message Modular Processor"};
  std::string config;
  bool write = false;
  bool check = false;
  bool strict = false;
  bool version = false;
  app.add_option("config", config, "config file (.yaml, .yml, .json or .toml)");
  app.add_flag("-w,--write", write, "write the live config back to the file when it changes");
  app.add_flag("--check", check,
               "validate the config and exit (0 valid, 2 invalid); warnings go to stderr");
  app.add_flag("--strict", strict,
               "treat warnings (unknown keys) as errors, at start, with --check and on reload");
  app.add_flag("--version", version, "print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (version) {
    std::cout << "immp " << immp::kVersion << " (ABI " << immp::kAbiVersion << ", "
              << immp::kBuildSignature << ")\n";
    return 0;
  }
  if (config.empty()) {
    std::cerr << "immp: a config file is required\n" << app.help();
    return 2;
  }
  boost::asio::io_context io(1);
  std::unique_ptr<immp::Runner> runner;
  try {
    runner = std::make_unique<immp::Runner>(config, io, write);
  } catch (const immp::ConfigError& e) {
    std::cerr << "immp: config error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "immp: config error: " << config << ": " << e.what() << "\n";
    return 2;
  }
  // Unknown keys: IMMP takes them, so they are warnings unless --strict.
  // A normal start logs them (run()), once logging is set up.
  const auto& warnings = runner->warnings();
  if (strict && !warnings.empty()) {
    for (const auto& w : warnings) std::cerr << "immp: config error: " << w.str() << "\n";
    std::cerr << "immp: refused by --strict (" << warnings.size()
              << (warnings.size() == 1 ? " warning" : " warnings") << ")\n";
    return 2;
  }
  runner->set_strict(strict);
  if (check) {
    for (const auto& w : warnings) std::cerr << "immp: warning: " << w.str() << "\n";
    std::cout << config << ": OK";
    if (!warnings.empty()) {
      std::cout << " (" << warnings.size() << (warnings.size() == 1 ? " warning" : " warnings")
                << ")";
    }
    std::cout << "\n";
    return 0;
  }
  try {
    return runner->run();
  } catch (const std::exception& e) {
    std::cerr << "immp: " << e.what() << "\n";
    return 1;
  }
}
