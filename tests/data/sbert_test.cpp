// Sentence-BERT featuriser on tiny-bert: features are the golden sentence embeddings; a scorer trained
// on them saves, reloads and scores the same; cleaning with it is identical on 1 and 2 threads; the
// CLI (train-scorer --featuriser sbert, score, embed) runs end to end.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/clean.h"
#include "data/featuriser.h"
#include "data/scorer.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "test_util.h"

namespace dm::data {
namespace {
namespace fs = std::filesystem;

const std::string kBert = test::fixture("tiny-bert");

std::vector<std::string> golden_texts() {
  auto j = nlohmann::json::parse(read_file(kBert + "/golden_tokens.json"));
  return j["texts"].get<std::vector<std::string>>();
}

// A small labelled set: DevOps prose is good, navigation/ads/symbol junk is bad.
std::vector<LabelledText> labelled() {
  std::vector<LabelledText> d;
  const char* good[] = {"持续集成是什么",
                        "DevOps 工程师使用 Kubernetes 部署 Pods。",
                        "docker 和 git 的 ci/cd pipeline",
                        "kubectl logs -f pod-1 (k8s)",
                        "部署之前先运行 test，再 deploy 到生产环境。",
                        "git log 可以查看提交历史",
                        "用 docker 部署服务，日志由 logger 收集。"};
  const char* bad[] = {"！！！！！！！", "、、、、、、",  "[ ] [ ] [ ] - - -", "????? ;;;;; :::::",
                       "((((((((",       "_ _ _ _ _ _ _", "''''''\"\"\"\"\"\""};
  for (int rep = 0; rep < 2; ++rep) {
    for (const char* g : good) d.push_back({std::string(g) + (rep ? " 1" : ""), 1});
    for (const char* b : bad) d.push_back({std::string(b) + (rep ? " 2" : ""), 0});
  }
  return d;
}

TEST(SbertFeaturiser, FeaturesAreGoldenSentenceEmbeddings) {
  SbertFeaturiser f(kBert);
  EXPECT_EQ(f.dimensions(), 32);
  EXPECT_EQ(f.max_length(), 64);
  auto texts = golden_texts();
  std::vector<std::string_view> views(texts.begin(), texts.end());
  auto feats = f.featurise(views);
  auto golden = SafetensorsFile::open(kBert + "/golden.safetensors");
  auto emb = test::golden_f32(*golden, "sentence_embedding");
  ASSERT_EQ(feats.size(), texts.size());
  for (size_t i = 0; i < feats.size(); ++i) {
    ASSERT_EQ(feats[i].size(), 32u);
    for (int c = 0; c < 32; ++c) {
      EXPECT_EQ(feats[i][c].first, c);
      EXPECT_NEAR(feats[i][c].second, emb[i * 32 + c], 1e-4) << "text " << i << " dim " << c;
    }
  }
  auto j = f.to_json();
  EXPECT_EQ(j["kind"], "sbert");
  EXPECT_EQ(j["pooling"], "mean");
  EXPECT_TRUE(fs::path(j["model"].get<std::string>()).is_absolute());
}

TEST(SbertScorer, TrainsSavesReloadsAndScoresTheSame) {
  auto data = labelled();
  TrainOptions o;
  o.folds = 3;
  o.featuriser = std::make_shared<SbertFeaturiser>(kBert);
  TrainReport rep;
  Scorer s = train_scorer(data, o, &rep);
  EXPECT_EQ(rep.examples, static_cast<int64_t>(data.size()));
  EXPECT_EQ(rep.folds, 3);
  ASSERT_EQ(s.weights.size(), 32u);
  fs::path d = test::temp_dir("sbert_scorer");
  s.save((d / "s.json").string());
  auto j = nlohmann::json::parse(read_file((d / "s.json").string()));
  EXPECT_EQ(j["featuriser"]["kind"], "sbert");
  EXPECT_EQ(j["featuriser"]["dims"], 32);
  Scorer back = Scorer::load((d / "s.json").string());
  std::vector<std::string_view> views;
  for (const auto& x : data) views.push_back(x.text);
  auto batch = back.score_batch(views);
  double spread = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    EXPECT_NEAR(back.score(data[i].text), s.score(data[i].text), 1e-6);
    EXPECT_NEAR(batch[i], s.score(data[i].text), 1e-6);
    spread = std::max(spread, std::fabs(batch[i] - batch[0]));
  }
  EXPECT_GT(spread, 1e-3);  // the features carry the text: not one constant score
  // The recorded model can be replaced (a moved scorer); a model of another width is refused.
  Scorer moved = Scorer::load((d / "s.json").string(), kBert);
  EXPECT_NEAR(moved.score(data[0].text), s.score(data[0].text), 1e-6);
  j["featuriser"]["dims"] = 768;
  write_file_atomic((d / "bad.json").string(), j.dump());
  EXPECT_THROW(Scorer::load((d / "bad.json").string()), Error);
  fs::remove_all(d);
}

TEST(SbertScorer, CleanIsIdenticalOnOneAndTwoThreads) {
  TrainOptions o;
  o.folds = 0;
  o.featuriser = std::make_shared<SbertFeaturiser>(kBert, 0, 4);
  Scorer s = train_scorer(labelled(), o, nullptr);
  fs::path d = test::temp_dir("sbert_clean");
  {
    std::ofstream in(d / "in.jsonl");
    for (int i = 0; i < 40; ++i) {
      std::string text = "DevOps 工程师使用 Kubernetes 部署 Pods，第 " + std::to_string(i) +
                         " 次。\n\n用 docker 部署服务，日志由 logger 收集，git log 查看历史 " + std::to_string(i * 7) +
                         "。";
      in << nlohmann::json{{"id", std::to_string(i)}, {"text", text}}.dump() << "\n";
    }
  }
  std::string outs[2];
  for (int t = 1; t <= 2; ++t) {
    set_num_threads(t);
    CleanOptions c;
    c.recipe = passthrough_recipe();
    c.inputs = {(d / "in.jsonl").string()};
    c.output_dir = (d / ("out" + std::to_string(t))).string();
    c.batch_docs = 7;
    c.compress = false;
    c.scorer = &s;
    CleanStats st = run_clean(c);
    EXPECT_EQ(st.stages[kInput].docs, 40);
    int64_t hist = 0;
    for (auto h : st.score_histogram) hist += h;
    EXPECT_EQ(hist, st.stages[kParagraphDedup].paragraphs);
    outs[t - 1] = read_file(c.output_dir + "/00000-in.jsonl");
  }
  set_num_threads(0);
  EXPECT_FALSE(outs[0].empty());
  EXPECT_EQ(outs[0], outs[1]);
  fs::remove_all(d);
}

TEST(SbertCli, TrainScorerScoreAndEmbed) {
  fs::path d = test::temp_dir("sbert_cli");
  {
    std::ofstream lab(d / "labels.jsonl");
    for (const auto& x : labelled()) lab << nlohmann::json{{"text", x.text}, {"label", x.label}}.dump() << "\n";
    std::ofstream in(d / "texts.jsonl");
    auto texts = golden_texts();
    in << nlohmann::json{{"body", texts[0]}}.dump() << "\n";
    in << "{not json\n";  // line 2: reported and skipped
    for (size_t i = 1; i < texts.size(); ++i) in << nlohmann::json{{"body", texts[i]}}.dump() << "\n";
  }
  const std::string sc = (d / "sc.json").string();
  auto r = test::run_cmd(test::cli() + " data train-scorer --featuriser sbert --bert-model " + kBert + " --labels " +
                         (d / "labels.jsonl").string() + " --folds 3 --threads 2 --output " + sc);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(read_file(sc))["featuriser"]["kind"], "sbert");
  r = test::run_cmd(test::cli() + " data score --input " + (d / "labels.jsonl").string() + " --scorer " + sc +
                    " --output " + (d / "scored").string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::exists(d / "scored" / "report.json"));
  EXPECT_NE(test::run_cmd(test::cli() + " data train-scorer --featuriser sbert --labels " +
                          (d / "labels.jsonl").string() + " --output " + sc)
                .status,
            0);

  const std::string out = (d / "emb.safetensors").string();
  r = test::run_cmd(test::cli() + " embed --model " + kBert + " --jsonl " + (d / "texts.jsonl").string() +
                    " --field body --batch 3 --threads 2 --out " + out);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("texts.jsonl:2"), std::string::npos) << r.err;
  auto f = SafetensorsFile::open(out);
  auto golden = SafetensorsFile::open(kBert + "/golden.safetensors");
  auto want = test::golden_f32(*golden, "sentence_embedding");
  TensorView e = f->get("embeddings");
  ASSERT_EQ(e.shape, (Shape{7, 32}));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(e.f32()[i], want[i], 1e-4) << i;
  auto lines = test::golden_ids(*f, "line");
  EXPECT_EQ(lines, (std::vector<int32_t>{1, 3, 4, 5, 6, 7, 8}));
  fs::remove_all(d);
}

}  // namespace
}  // namespace dm::data
