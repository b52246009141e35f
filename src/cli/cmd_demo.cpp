// `devops-model demo`: the whole recipe in miniature on the bundled data (see demo/demo.h).
#include <cstdio>

#include "cli/command.h"
#include "devops_model/core/error.h"
#include "devops_model/demo/demo.h"

namespace dm::cli {
namespace {

struct DemoArgs {
  demo::DemoOptions o;
  bool resume = false;
  int threads = 0;
};

Registrar reg{{"demo", "clean -> BPE -> pretrain -> SFT -> eval -> chat, in minutes, on the bundled data",
               [](CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  app.add_option("--work", a->o.work_dir, "work directory (everything goes here)")->capture_default_str();
  app.add_option("--data", a->o.data_dir, "bundled data folder (raw/, sft/, mcq/)");
  auto* fresh = app.add_flag("--fresh", a->o.fresh, "delete the work directory and start clean");
  app.add_flag("--resume", a->resume, "keep finished stages and resume training (the default)")->excludes(fresh);
  app.add_flag("--quick", a->o.quick, "tiny model and few steps (seconds; for tests)");
  app.add_flag("--bf16", a->o.bf16, "train in bf16 mixed precision (as train --bf16)");
  app.add_option("--model", a->o.model, "skip cleaning and training: evaluate and chat with this checkpoint");
  app.add_option("--eval-data", a->o.eval_data, "MCQ folders (CMMLU / C-Eval / DevOps-Eval layout); repeatable");
  app.add_option("--preset", a->o.preset, "eval preset over --eval-data (devops-574: the seed's 574 questions)");
  app.add_flag("--eval-chat", a->o.eval_chat, "wrap eval prompts as one ChatML user turn (chat checkpoints)");
  add_threads_option(app, &a->threads);
  return [a]() {
    apply_threads(a->threads);
    return demo::run_demo(a->o, [](std::string_view s) {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    });
  };
               }}};

}  // namespace
}  // namespace dm::cli
