#include <cstdio>

#include "cli/command.h"

namespace dm::cli {
namespace {
Registrar reg{{"version", "print the version", [](CLI::App&) {
                 return []() {
                   std::printf("devops-model 0.1.0\n");
                   return 0;
                 };
               }}};
}  // namespace
}  // namespace dm::cli
