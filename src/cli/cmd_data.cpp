// `devops-model data ...`: corpus cleaning (clean, sample, train-scorer, score, dedup).
// Parses arguments and prints; the work is in dm_data.
#include <cstdio>
#include <fstream>
#include <iostream>

#include "cli/command.h"
#include "data/clean.h"
#include "data/dedup_run.h"
#include "data/sample.h"
#include "data/scorer.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"

namespace dm::cli {
namespace {

struct DataArgs {
  std::string recipe, output, shard = "0/1", scorer, labels, text_field = "text";
  std::string featuriser = "hashed", bert_model;
  int64_t max_length = 0, batch = 32;
  std::vector<std::string> inputs;
  bool strict = false, no_compress = false;
  int threads = 0, folds = 5;
  int64_t max_line_mb = 16;
  int64_t n = 1000;
  uint32_t seed = 1;
  double c = 1.0, alpha = -1;
  int64_t pareto_seed = -1;
};

data::Recipe recipe_of(const DataArgs& a) {
  return data::load_recipe(a.recipe.empty() ? data::default_recipe_path() : a.recipe);
}

data::ReaderOptions reader_of(const DataArgs& a) {
  data::ReaderOptions r;
  r.text_field = a.text_field;
  r.strict = a.strict;
  r.max_line_bytes = static_cast<size_t>(a.max_line_mb) << 20;
  return r;
}

void parse_shard(const std::string& s, int* i, int* n) {
  if (std::sscanf(s.c_str(), "%d/%d", i, n) != 2) fail(ErrorKind::kInvalidArgument, "--shard wants i/n, got '", s, "'");
}

void print_warnings(const data::BadInputStats& bad) {
  for (const auto& w : bad.warnings) std::fprintf(stderr, "devops-model: warning: %s\n", w.c_str());
}

void print_stats(const data::CleanStats& st, const std::string& dir) {
  print_warnings(st.bad_input);
  std::printf("docs %lld -> %lld, paragraphs %lld -> %lld, chars %lld -> %lld; bad input %lld; %.2f MB/s\n",
              (long long)st.stages[data::kInput].docs, (long long)st.stages[data::kScorer].docs,
              (long long)st.stages[data::kInput].paragraphs, (long long)st.stages[data::kScorer].paragraphs,
              (long long)st.stages[data::kInput].chars, (long long)st.stages[data::kScorer].chars,
              (long long)st.bad_input.total(),
              st.seconds > 0 ? static_cast<double>(st.bytes_in) / 1e6 / st.seconds : 0.0);
  std::printf("report: %s/report.md\n", dir.c_str());
}

int run_clean_like(const DataArgs& a, bool score_only) {
  apply_threads(a.threads);
  data::CleanOptions o;
  o.recipe = score_only ? data::passthrough_recipe() : recipe_of(a);
  if (score_only) {
    data::Recipe r = a.recipe.empty() ? o.recipe : data::load_recipe(a.recipe);
    o.recipe.pareto = r.pareto;
  }
  if (a.alpha > 0) o.recipe.pareto.alpha = a.alpha;
  if (a.pareto_seed >= 0) o.recipe.pareto.seed = static_cast<uint64_t>(a.pareto_seed);
  o.inputs = a.inputs;
  o.output_dir = a.output;
  o.reader = reader_of(a);
  o.compress = !a.no_compress;
  parse_shard(a.shard, &o.shard_index, &o.shard_count);
  data::Scorer scorer;
  if (!a.scorer.empty()) {
    scorer = data::Scorer::load(a.scorer, a.bert_model);
    o.scorer = &scorer;
  } else if (score_only) {
    fail(ErrorKind::kInvalidArgument, "data score needs --scorer");
  }
  data::CleanStats st = data::run_clean(o);
  print_stats(st, a.output);
  return 0;
}

int run_sample(const DataArgs& a) {
  apply_threads(a.threads);
  data::SampleOptions o;
  o.recipe = recipe_of(a);
  o.inputs = a.inputs;
  o.reader = reader_of(a);
  o.n = a.n;
  o.seed = a.seed;
  auto rows = data::sample_paragraphs(o);
  std::string out;
  for (const auto& r : rows) out += r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  write_file_atomic(a.output, out);
  std::printf("%zu paragraphs -> %s (fill in \"label\": 1 good, 0 bad)\n", rows.size(), a.output.c_str());
  return 0;
}

int run_train(const DataArgs& a) {
  apply_threads(a.threads);
  auto data = data::load_labels(a.labels);
  data::TrainOptions o;
  if (a.featuriser == "sbert") {
    if (a.bert_model.empty()) fail(ErrorKind::kInvalidArgument, "--featuriser sbert needs --bert-model DIR");
    o.featuriser = std::make_shared<data::SbertFeaturiser>(a.bert_model, a.max_length, a.batch);
  }
  o.c = a.c;
  o.folds = a.folds;
  o.seed = a.seed;
  data::TrainReport rep;
  data::Scorer s = data::train_scorer(data, o, &rep);
  s.save(a.output);
  std::printf("%lld examples (%lld good); %d-fold accuracy %.4f, AUC %.4f; scorer -> %s\n", (long long)rep.examples,
              (long long)rep.positives, rep.folds, rep.cv_accuracy, rep.cv_auc, a.output.c_str());
  return 0;
}

int run_dedup_cmd(const DataArgs& a) {
  apply_threads(a.threads);
  data::DedupOptions o;
  o.near = recipe_of(a).near_dedup;
  o.inputs = a.inputs;
  o.output_dir = a.output;
  o.reader = reader_of(a);
  o.compress = !a.no_compress;
  auto rep = data::run_dedup(o);
  print_warnings(rep.bad_input);
  std::printf("docs %lld -> %lld (exact %lld, near %lld, %zu clusters); report: %s/dedup_report.json\n",
              (long long)rep.docs_in, (long long)rep.docs_out, (long long)rep.exact_dups, (long long)rep.near_dups,
              rep.clusters.size(), a.output.c_str());
  return 0;
}

Registrar reg{{"data", "corpus cleaning: clean, sample, train-scorer, score, dedup",
               [](CLI::App& app) {
  auto a = std::make_shared<DataArgs>();
  app.require_subcommand(1);
  auto common = [&](CLI::App* s, bool needs_recipe) {
    s->add_option("--input", a->inputs, "input files (.jsonl, .jsonl.zst, plain text)")->required()->expected(1, -1);
    s->add_option("--text-field", a->text_field, "JSON field holding the text");
    s->add_flag("--strict", a->strict, "stop at the first bad input line");
    s->add_option("--max-line-mb", a->max_line_mb,
                  "longer lines (and plain-text files) are counted as huge_line and skipped; the rules need "
                  "about 25 bytes of memory per byte of the longest line, per thread")
        ->check(CLI::Range(int64_t{1}, int64_t{4096}));
    if (needs_recipe) s->add_option("--recipe", a->recipe, "recipe JSON (default: the shipped zh_tech.json)");
    add_threads_option(*s, &a->threads);
  };
  // clean and score share their output, sharding and Pareto-sampling options.
  auto scoring_output = [&](CLI::App* s, bool scorer_required) {
    common(s, true);
    s->add_option("--output", a->output, "output directory")->required();
    s->add_option("--shard", a->shard, "this shard i/n (input file k goes to shard k % n)");
    auto* sc = s->add_option("--scorer", a->scorer,
                             scorer_required ? "scorer JSON from train-scorer"
                                             : "optional scorer JSON: Pareto-sample paragraphs as the last stage");
    if (scorer_required) sc->required();
    s->add_option("--alpha", a->alpha, "Pareto alpha (default: recipe, 9)");
    s->add_option("--seed", a->pareto_seed, "Pareto seed (numpy legacy seed; default: recipe, 42)");
    s->add_flag("--no-compress", a->no_compress, "write .jsonl instead of .jsonl.zst");
    s->add_option("--bert-model", a->bert_model, "BERT dir replacing the one an sbert scorer recorded");
  };
  auto* clean = app.add_subcommand("clean", "rules + paragraphs + dedup (+ scorer) -> DIR");
  scoring_output(clean, false);
  auto* score = app.add_subcommand("score", "score paragraphs and keep iff pareto(alpha) > 1 - score");
  scoring_output(score, true);
  auto* sample = app.add_subcommand("sample", "stratified random sample of paragraphs to label");
  common(sample, true);
  sample->add_option("--n", a->n, "paragraphs to sample");
  sample->add_option("--seed", a->seed, "sampling seed");
  sample->add_option("--output", a->output, "output JSONL")->required();
  auto* train = app.add_subcommand("train-scorer", "fit the paragraph scorer on labelled JSONL");
  train->add_option("--labels", a->labels, "labelled JSONL (text, label 0/1)")->required();
  train->add_option("--output", a->output, "scorer JSON to write")->required();
  train->add_option("--folds", a->folds, "k for k-fold cross-validation");
  train->add_option("--c", a->c, "inverse regularisation strength");
  train->add_option("--seed", a->seed, "fold assignment seed");
  train->add_option("--featuriser", a->featuriser, "hashed (character n-grams) or sbert (BERT embeddings)")
      ->check(CLI::IsMember({"hashed", "sbert"}));
  train->add_option("--bert-model", a->bert_model, "Sentence-BERT model dir (for --featuriser sbert)");
  train->add_option("--max-length", a->max_length, "sbert: tokens per paragraph (default: the model's)");
  train->add_option("--batch", a->batch, "sbert: paragraphs per encoder pass")->check(CLI::PositiveNumber);
  add_threads_option(*train, &a->threads);
  auto* dedup = app.add_subcommand("dedup", "exact + MinHash-LSH near-duplicate document removal");
  common(dedup, true);
  dedup->add_option("--output", a->output, "output directory")->required();
  dedup->add_flag("--no-compress", a->no_compress, "write .jsonl instead of .jsonl.zst");
  return [a, clean, score, sample, train, dedup]() {
    if (clean->parsed()) return run_clean_like(*a, false);
    if (score->parsed()) return run_clean_like(*a, true);
    if (sample->parsed()) return run_sample(*a);
    if (train->parsed()) return run_train(*a);
    if (dedup->parsed()) return run_dedup_cmd(*a);
    return 2;
  };
               }}};

}  // namespace
}  // namespace dm::cli
