// CLI command registry: each src/cli/cmd_*.cpp defines one subcommand with CLI11 and registers it with
// a static Registrar. Commands only parse arguments and print; the work is in libdevops_model.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace dm::cli {

struct Command {
  std::string name;
  std::string help;
  // Adds options to `app` and returns the action to run after parsing (returns the exit code).
  std::function<std::function<int()>(CLI::App& app)> setup;
};

std::vector<Command>& registry();

struct Registrar {
  explicit Registrar(Command c) { registry().push_back(std::move(c)); }
};

// --threads N, shared by every command that computes.
void add_threads_option(CLI::App& app, int* threads);
void apply_threads(int threads);

}  // namespace dm::cli
