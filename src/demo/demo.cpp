// The demo's driver, its data stages (clean, dedup, tokenizer) and the stage markers.
#include "devops_model/demo/demo.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "data/clean.h"
#include "data/dedup_run.h"
#include "demo_impl.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/data/doc_io.h"
#include "devops_model/tokenizer/bpe_trainer.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace dm::demo {

DemoSizes DemoSizes::full() { return DemoSizes{}; }

DemoSizes DemoSizes::quick() {
  DemoSizes s;
  s.vocab_size = 400;
  s.hidden = 64, s.layers = 2, s.heads = 4, s.kv_heads = 2, s.intermediate = 128;
  s.block = 64, s.batch = 4;
  s.pt_steps = 12, s.pt_lr = 3e-3;
  s.sft_epochs = 1, s.sft_max_steps = 8, s.sft_lr = 2e-3;
  s.eval_limit = 8;
  s.chat_max_new_tokens = 16;
  s.max_docs = 200;
  return s;
}

std::string default_data_dir() {
#ifdef DM_DEMO_DATA_DIR
  return DM_DEMO_DATA_DIR;
#else
  return "demo/data";
#endif
}

std::string Ctx::marker(const std::string& stage) const {
  const std::string p = work + "/" + stage + "/DONE";
  if (!fs::exists(p)) return "";
  std::string v = read_file(p);
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
  return v.empty() || !fs::exists(v) ? "" : v;
}

void Ctx::set_marker(const std::string& stage, const std::string& value) const {
  make_directories(work + "/" + stage);
  write_file_atomic(work + "/" + stage + "/DONE", value + "\n");
}

std::vector<std::string> read_docs(const std::string& dir, size_t max_docs) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_regular_file() && (n.ends_with(".jsonl") || n.ends_with(".jsonl.zst"))) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::string> docs;
  for (const std::string& f : files) {
    data::DocReader r(f, data::ReaderOptions{});
    data::Document d;
    while (r.next(&d)) {
      if (max_docs > 0 && docs.size() >= max_docs) return docs;
      docs.push_back(std::move(d.text));
    }
  }
  return docs;
}

namespace {

// The cleaning report without its score histogram and bad-input tables (no scorer, clean input here).
std::string short_report(const std::string& md) {
  const size_t a = md.find("## Score histogram"), b = md.find("## Throughput");
  if (a == std::string::npos || b == std::string::npos || b < a) return md;
  return md.substr(0, a) + md.substr(b);
}

}  // namespace

std::string stage_clean(const Ctx& c) {
  const std::string clean_dir = c.work + "/clean", dedup_dir = c.work + "/dedup";
  c.say("\n== 1. Cleaning the raw corpus (data clean + data dedup) ==\n");
  if (const std::string done = c.marker("dedup"); !done.empty()) {
    c.say("(done before: %s)\n", done.c_str());
    if (fs::exists(clean_dir + "/report.md")) c.say("%s", short_report(read_file(clean_dir + "/report.md")).c_str());
    return done;
  }
  data::CleanOptions o;
  o.recipe = data::load_recipe(data::default_recipe_path());
  o.inputs = {c.opt.data_dir + "/raw/devops_corpus.jsonl.zst"};
  o.output_dir = clean_dir;
  const data::CleanStats st = data::run_clean(o);
  c.say("%s", short_report(st.to_markdown()).c_str());
  data::DedupOptions d;
  d.near = o.recipe.near_dedup;
  for (const auto& e : fs::directory_iterator(clean_dir))
    if (e.path().string().ends_with(".jsonl.zst")) d.inputs.push_back(e.path().string());
  std::sort(d.inputs.begin(), d.inputs.end());
  d.output_dir = dedup_dir;
  const data::DedupReport rep = data::run_dedup(d);
  c.say("\ndedup: documents %lld -> %lld (exact duplicates %lld, near duplicates %lld)\n",
        static_cast<long long>(rep.docs_in), static_cast<long long>(rep.docs_out),
        static_cast<long long>(rep.exact_dups), static_cast<long long>(rep.near_dups));
  c.set_marker("dedup", dedup_dir);
  return dedup_dir;
}

std::string stage_tokenizer(const Ctx& c, const std::string& docs_dir) {
  const std::string dir = c.work + "/tokenizer";
  c.say("\n== 2a. Training a byte-level BPE vocabulary on the cleaned corpus ==\n");
  if (const std::string done = c.marker("tokenizer"); !done.empty()) {
    c.say("(done before: %s)\n", done.c_str());
    return done;
  }
  PieceCounter pc;
  for (const std::string& d : read_docs(docs_dir, c.sz.max_docs)) pc.add_text(d);
  BpeTrainOptions o;
  o.vocab_size = c.sz.vocab_size;
  const BpeVocab v = train_bpe(pc, o);
  write_bpe_tokenizer(v, dir);
  auto tok = Tokenizer::from_dir(dir);
  const std::string probe = "Kubernetes 中的 Pod 是最小的调度单元。";
  c.say("%zu pieces (%.2f MB) -> %zu merges, %d ids; \"%s\" -> %zu tokens\n", pc.counts().size(),
        static_cast<double>(pc.bytes_seen()) / 1e6, v.merges.size(), tok->vocab_size(), probe.c_str(),
        tok->encode(probe).size());
  c.set_marker("tokenizer", dir);
  return dir;
}

int run_demo(const DemoOptions& opts, const std::function<void(std::string_view)>& out) {
  const auto t0 = std::chrono::steady_clock::now();
  Ctx c{opts, opts.quick ? DemoSizes::quick() : DemoSizes::full(), opts.work_dir, out};
  if (c.opt.data_dir.empty()) c.opt.data_dir = default_data_dir();
  if (c.opt.eval_data.empty()) c.opt.eval_data = {c.opt.data_dir + "/mcq"};
  if (opts.fresh) fs::remove_all(c.work);
  make_directories(c.work);
  std::vector<std::pair<std::string, std::string>> models;
  std::string chat_model;
  if (!opts.model.empty()) {
    c.say("DevOps-Model demo on %s (evaluation and chat only), work dir %s\n", opts.model.c_str(), c.work.c_str());
    std::string name = fs::path(opts.model).filename().string();
    if (name.empty()) name = fs::path(opts.model).parent_path().filename().string();
    models.emplace_back(name, opts.model);
    chat_model = opts.model;
  } else {
    if (!fs::exists(c.opt.data_dir + "/raw/devops_corpus.jsonl.zst"))
      fail(ErrorKind::kIo, c.opt.data_dir, ": bundled demo data not found (give --data DIR)");
    c.say("DevOps-Model demo%s: data %s, work dir %s\n", opts.quick ? " (quick)" : "", c.opt.data_dir.c_str(),
          c.work.c_str());
    const std::string docs = stage_clean(c);
    const std::string tok = stage_tokenizer(c, docs);
    const std::string base = stage_pretrain(c, docs, tok);
    const std::string tuned = stage_sft(c, base);
    models = {{"DemoBase (pt)", base}, {"DemoChat (sft)", tuned}};
    chat_model = tuned;
  }
  stage_eval(c, models);
  stage_chat(c, chat_model);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.say("\ndemo finished in %.1f s; everything is under %s\n", secs, c.work.c_str());
  return 0;
}

}  // namespace dm::demo
