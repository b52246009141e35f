// The demo's evaluation (seed-shaped 0/5-shot table) and chat (the seed's three turns) stages.
#include <cctype>
#include <filesystem>
#include <memory>

#include "demo_impl.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/eval/dataset.h"
#include "devops_model/eval/evaluator.h"
#include "devops_model/eval/model_scoring_lm.h"
#include "devops_model/eval/preset.h"
#include "devops_model/eval/report.h"
#include "devops_model/generate/chat_session.h"
#include "devops_model/generate/generation_params.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace dm::demo {

namespace {

std::string pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", 100.0 * x);
  return b;
}

std::string safe_name(const std::string& s) {
  std::string o;
  for (char ch : s) o += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') ? ch : '_';
  return o;
}

}  // namespace

void stage_eval(const Ctx& c, const std::vector<std::pair<std::string, std::string>>& models) {
  c.say("\n== 3. Multiple-choice evaluation (CMMLU layout, devops-eval prompt, 0- and 5-shot) ==\n");
  std::vector<McqDataset> data;
  for (const std::string& d : c.opt.eval_data) data.push_back(load_mcq_dataset(d));
  if (!c.opt.preset.empty()) data = apply_preset(c.opt.preset, std::move(data));
  size_t questions = 0;
  for (const auto& d : data)
    for (const auto& s : d.subjects)
      questions += c.sz.eval_limit > 0 ? std::min<size_t>(s.questions.size(), c.sz.eval_limit) : s.questions.size();
  if (questions == 0) fail(ErrorKind::kInvalidArgument, "no questions in the evaluation folders");
  c.say("%zu questions", questions);
  for (const auto& d : c.opt.eval_data) c.say(" | %s", d.c_str());
  c.say("\n");
  McqEvalOptions o;
  o.shots = {0, 5};
  o.limit = c.sz.eval_limit;
  o.style.chat = c.opt.eval_chat;
  const std::string dir = c.work + "/eval";
  make_directories(dir);
  std::string table = "| 模型 | 0-shot | 5-shot |\n|---|---|---|\n";
  for (const auto& [name, path] : models) {
    auto tok = Tokenizer::from_dir(path);
    auto model = Model::load(path);
    ModelScoringLm lm(*model, *tok);
    const McqReport r = evaluate_mcq(lm, data, o);
    const McqRunInfo info{name, "devops-eval", o.style.chat, o.style.system};
    write_file_atomic(dir + "/" + safe_name(name) + ".md", mcq_markdown(r, info));
    write_file_atomic(dir + "/" + safe_name(name) + ".json", mcq_json(r, info));
    table += "| " + name + " |";
    for (const McqOverall& x : r.overall) table += " " + pct(x.micro) + " |";
    table += "\n";
  }
  write_file_atomic(dir + "/summary.md", table);
  c.say("\n%s", table.c_str());
  c.say("(accuracy in %%, micro over all questions; chance is 25.00; per-question results in %s)\n", dir.c_str());
}

void stage_chat(const Ctx& c, const std::string& model_dir) {
  c.say("\n== 4. Chat (greedy decoding, the seed's three turns) ==\n");
  auto tok = Tokenizer::from_dir(model_dir);
  auto model = Model::load(model_dir);
  GenerationParams p = generation_params_from_dir(model_dir);
  p.do_sample = false;
  p.max_new_tokens = c.sz.chat_max_new_tokens;
  // Our models were tuned with the seed's system prompt; a given checkpoint uses its family's default.
  ChatSession chat(*model, *tok, p, c.opt.model.empty() ? "You are a helpful assistant." : "");
  std::string transcript;
  for (const std::string& q : c.opt.questions) {
    const std::string reply = chat.chat(q);
    transcript += "用户：" + q + "\n" + "DevOps-Model：" + reply + "\n\n";
  }
  write_file_atomic(c.work + "/chat_transcript.txt", transcript);
  c.say("%s", transcript.c_str());
}

}  // namespace dm::demo
