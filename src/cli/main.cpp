// devops-model: one binary, one subcommand per file (see command.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/command.h"
#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/train/process_group.h"

namespace dm::cli {

std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}

void add_threads_option(CLI::App& app, int* threads) {
  app.add_option("--threads", *threads, "worker threads (0 = all cores)")->check(CLI::NonNegativeNumber);
}

void apply_threads(int threads) { dm::set_num_threads(threads); }

}  // namespace dm::cli

int main(int argc, char** argv) {
  CLI::App app{"devops-model: run, chat with, evaluate, clean data for and train Qwen-family DevOps models"};
  app.require_subcommand(1);
  auto& cmds = dm::cli::registry();
  std::sort(cmds.begin(), cmds.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::function<int()> action;
  std::vector<std::pair<CLI::App*, std::function<int()>>> actions;
  for (auto& c : cmds) {
    CLI::App* sub = app.add_subcommand(c.name, c.help);
    actions.emplace_back(sub, c.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // app.exit prints help (exit 0) or CLI11's message; every usage error is the documented exit 2,
    // not CLI11's own 104-109 codes.
    constexpr int kUsageExit = 2;  // README: 2 = bad argument (ErrorKind::kInvalidArgument)
    return app.exit(e) == 0 ? 0 : kUsageExit;
  }
  // An error on one rank of a data-parallel job ends every rank with its exit code (the others would
  // wait for it in their next collective forever); a one-process run just returns it.
  auto end_with = [](int code) {
    dm::abort_distributed_job(code);
    return code;
  };
  try {
    for (auto& [sub, act] : actions) {
      if (sub->parsed()) return act();
    }
  } catch (const dm::Error& e) {
    std::cerr << "devops-model: " << dm::error_kind_name(e.kind()) << ": " << e.what() << "\n";
    return end_with(e.exit_code());
  } catch (const std::filesystem::filesystem_error& e) {
    // A filesystem call outside the checked helpers: still an I/O failure (exit 3), not a generic 1.
    std::cerr << "devops-model: io: " << e.what() << "\n";
    return end_with(dm::Error(dm::ErrorKind::kIo, e.what()).exit_code());
  } catch (const std::exception& e) {
    std::cerr << "devops-model: error: " << e.what() << "\n";
    return end_with(1);
  }
  return 0;
}
