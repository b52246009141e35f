// devops-model eval: multiple-choice accuracy on CMMLU / C-Eval / DevOps-Eval folders (see eval/).
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/command.h"
#include "cli/model_args.h"
#include "devops_model/core/content_fingerprint.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/eval/evaluator.h"
#include "devops_model/eval/model_scoring_lm.h"
#include "devops_model/eval/preset.h"
#include "devops_model/eval/report.h"
#include "devops_model/generate/chat_session.h"
#include "eval/journal.h"

namespace dm::cli {
namespace {

struct EvalArgs {
  ModelArgs m;
  std::string convention = "devops-eval", shots = "0", subjects, preset, system = kEvalSystemPrompt;
  std::vector<std::string> data;
  std::string json, svg, markdown;
  int limit = 0;
  bool chat = false, no_reuse = false, quiet = false, fresh = false;
};

// What determines the numbers: a journal written under other settings must not be mixed in.
nlohmann::json journal_settings(const EvalArgs& a) {
  namespace fs = std::filesystem;
  nlohmann::json data = nlohmann::json::array();
  for (const auto& d : a.data) data.push_back(fs::weakly_canonical(d).string());
  return {{"model", fs::weakly_canonical(a.m.dir).string()},
          {"model_fingerprint", content_fingerprint(a.m.dir)},
          {"dtype", a.m.dtype},
          {"data", data},
          {"convention", a.convention},
          {"chat", a.chat},
          {"system", a.chat ? a.system : ""}};
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<int> parse_shots(const std::string& s) {
  std::vector<int> out;
  for (const auto& x : split_list(s)) {
    size_t used = 0;
    int k = -1;
    try {
      k = std::stoi(x, &used);
    } catch (const std::exception&) {
    }
    if (used != x.size() || k < 0) fail(ErrorKind::kInvalidArgument, "--shots: '", x, "' is not a shot count");
    out.push_back(k);
  }
  if (out.empty()) fail(ErrorKind::kInvalidArgument, "--shots: empty list");
  return out;
}

int run_eval(const EvalArgs& a) {
  Progress::set_quiet(a.quiet);
  McqEvalOptions opts;
  opts.style.convention = parse_convention(a.convention);
  opts.style.chat = a.chat;
  opts.style.system = a.system;
  opts.shots = parse_shots(a.shots);
  opts.limit = a.limit;
  opts.prefix_reuse = !a.no_reuse;
  opts.progress = !a.quiet;

  std::vector<std::string> only = split_list(a.subjects);
  if (!a.preset.empty()) {
    for (const auto& p : preset_subjects(a.preset)) only.push_back(p.subject);
  }
  std::vector<McqDataset> data;
  for (const auto& d : a.data) data.push_back(load_mcq_dataset(d, only));
  if (!a.preset.empty()) data = apply_preset(a.preset, std::move(data));
  size_t n_subjects = 0;
  for (const auto& d : data) n_subjects += d.subjects.size();
  if (n_subjects == 0) fail(ErrorKind::kInvalidArgument, "no subjects selected in the --data folders");

  auto tok = Tokenizer::from_dir(a.m.dir);
  auto model = a.m.load();
  check_tokenizer_fits(*model, *tok);
  ModelScoringLm lm(*model, *tok);
  // With --json, every scored question goes to FILE.partial.jsonl at once: a re-run resumes from it.
  std::unique_ptr<McqJournal> journal;
  if (!a.json.empty()) {
    journal = std::make_unique<McqJournal>(a.json + ".partial.jsonl", journal_settings(a), a.fresh);
    if (journal->resumed() > 0)
      std::fprintf(stderr, "resuming: %zu questions already scored in %s\n", journal->resumed(),
                   journal->path().c_str());
    opts.journal = journal.get();
  }
  McqReport report = evaluate_mcq(lm, data, opts);

  McqRunInfo info{std::filesystem::path(a.m.dir).filename().string(), a.convention, a.chat, a.system};
  if (info.model.empty()) info.model = std::filesystem::path(a.m.dir).parent_path().filename().string();
  const std::string md = mcq_markdown(report, info);
  std::fputs(md.c_str(), stdout);
  for (const auto& o : report.overall) {
    std::fprintf(stderr, "%d-shot: %d questions in %.1f s (%.2f questions/s)\n", o.shots, o.total, o.seconds,
                 o.seconds > 0 ? o.total / o.seconds : 0.0);
  }
  std::fprintf(stderr, "prefix reused for %lld questions, full forward for %lld, from the journal %lld\n",
               static_cast<long long>(report.prefix_reused), static_cast<long long>(report.full_forward),
               static_cast<long long>(report.resumed));
  if (report.stale > 0)
    std::fprintf(stderr, "scored again: %lld journaled questions whose text, options, shots or answer changed\n",
                 static_cast<long long>(report.stale));
  if (!a.json.empty()) write_file_atomic(a.json, mcq_json(report, info));
  if (!a.svg.empty()) write_file_atomic(a.svg, mcq_svg(report, info));
  if (!a.markdown.empty()) write_file_atomic(a.markdown, md);
  if (journal) journal->remove();  // the report holds everything now
  return 0;
}

Registrar reg{{"eval", "multiple-choice accuracy (CMMLU, C-Eval, DevOps-Eval CSV folders)",
               [](CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  a->m.add(app);
  app.add_option("--data", a->data, "question folder (CMMLU, C-Eval or DevOps-Eval layout); repeatable")->required();
  app.add_option("--convention", a->convention, "prompt convention: devops-eval, cmmlu, ceval")->capture_default_str();
  app.add_option("--shots", a->shots, "shot counts, e.g. 0,5 (the first k dev rows)")->capture_default_str();
  app.add_option("--subjects", a->subjects, "only these subjects (comma-separated)");
  app.add_option("--limit", a->limit, "only the first N questions of each subject")->check(CLI::NonNegativeNumber);
  app.add_option("--preset", a->preset,
                 "devops-574: the seed's six subjects (CMMLU test, C-Eval val); refuses other counts");
  app.add_flag("--chat", a->chat, "wrap the prompt as one ChatML user turn");
  app.add_option("--system", a->system, "ChatML system prompt with --chat")->capture_default_str();
  app.add_option("--json", a->json,
                 "write every question's prediction and logits as JSON (progress is journaled to "
                 "FILE.partial.jsonl; a re-run with the same settings resumes)");
  app.add_flag("--fresh", a->fresh, "ignore a journal left by an interrupted run and start over");
  app.add_option("--svg", a->svg, "write a bar chart of per-subject accuracy");
  app.add_option("--markdown", a->markdown, "also write the Markdown tables to a file");
  app.add_flag("--no-prefix-reuse", a->no_reuse, "run every prompt from scratch (slower; for checks)");
  app.add_flag("--quiet", a->quiet, "no progress bar");
  return [a]() { return run_eval(*a); };
               }}};

}  // namespace
}  // namespace dm::cli
