// End-to-end cleaning of the project-written sample corpus, thread-count determinism with the scorer
// and Pareto stage, resume/shard behaviour, and the scorer's training.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "data/clean.h"
#include "data/dedup_run.h"
#include "data/sample.h"
#include "data/scorer.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/data/paragraph.h"

using namespace dm::data;
namespace fs = std::filesystem;

namespace {
std::string corpus(const char* name) { return std::string(DM_SOURCE_DIR) + "/tests/data/corpus/" + name; }
Recipe shipped() { return load_recipe(std::string(DM_SOURCE_DIR) + "/recipes/zh_tech.json"); }
fs::path tmpdir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("dm_data_clean_" + name + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}
std::vector<Document> read_all(const std::string& path) {
  DocReader r(path, {});
  std::vector<Document> out;
  Document d;
  while (r.next(&d)) out.push_back(d);
  return out;
}
std::string slurp(const fs::path& p) { return dm::read_file(p.string()); }

// Synthetic labels: paragraphs of the good corpus documents (1) vs generated nav/spam junk (0).
std::vector<LabelledText> labels() {
  std::vector<LabelledText> out;
  std::set<std::string> good_ids = {"k8s-pod", "cicd-intro", "prometheus", "docker-layers", "git-branch", "ansible"};
  for (const auto& d : read_all(corpus("sample.jsonl"))) {
    if (!good_ids.count(d.id)) continue;
    for (const auto& p : split_paragraphs(d.text)) {
      if (p.size() > 60 && p.find("首页") == std::string::npos && p.find("版权") == std::string::npos &&
          p.find("加微信") == std::string::npos)
        out.push_back({p, 1});
    }
  }
  const std::vector<std::string> junk = {"首页",     "登录",     "注册",     "关于我们", "上一篇",
                                         "下一篇",   "加微信",   "日赚千元", "百家乐",   "点击下载",
                                         "限时优惠", "扫码关注", "版权所有", "热门文章", "免费领取"};
  std::mt19937 g(5);
  for (int i = 0; i < 30; ++i) {
    std::string s;
    for (int k = 0; k < 6; ++k) s += junk[g() % junk.size()] + (g() % 2 ? " | " : "！");
    out.push_back({s, 0});
  }
  return out;
}
}  // namespace

// Bad lines are found by the parallel parser but counted in line order: --strict names the first one.
TEST(Clean, StrictStopsAtTheFirstBadLineWithFileAndLine) {
  CleanOptions o;
  o.recipe = shipped();
  o.inputs = {corpus("bad_input.jsonl")};
  o.output_dir = tmpdir("strict").string();
  o.reader.strict = true;
  try {
    run_clean(o);
    FAIL() << "strict run went on past a bad line";
  } catch (const dm::Error& e) {
    EXPECT_EQ(e.kind(), dm::ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("bad_input.jsonl:2: invalid_json"), std::string::npos) << e.what();
  }
}

TEST(Clean, SampleCorpusJunkRemoved) {
  fs::path out = tmpdir("e2e");
  CleanOptions o;
  o.recipe = shipped();
  o.inputs = {corpus("sample.jsonl"), corpus("bad_input.jsonl")};
  o.output_dir = out.string();
  CleanStats st = run_clean(o);
  auto report = nlohmann::json::parse(slurp(out / "report.json"));
  // Planted junk documents are dropped by the document rules that target them.
  auto dd = report["document_drops"];
  EXPECT_EQ(dd["mojibake_ratio"]["count"], 1);
  EXPECT_EQ(dd["dup_lines"]["count"], 1);
  EXPECT_EQ(dd["flagged_words"]["count"], 1);
  EXPECT_EQ(dd["html_ratio"]["count"], 1);
  EXPECT_EQ(dd["min_chars"]["count"], 1);
  // Nav menus and footers go at the paragraph stage (2 navs + 2 footers), ads by flagged words.
  auto pd = report["paragraph_drops"];
  EXPECT_GE(pd["boilerplate"]["count"].get<int>(), 4);
  EXPECT_GE(pd["flagged_words"]["count"].get<int>(), 1);
  EXPECT_GE(pd["dedup_exact"]["count"].get<int>(), 3);  // shared paragraph, repost, bad_input copies
  EXPECT_EQ(report["bad_input"]["invalid_json"], 1);
  EXPECT_EQ(report["bad_input"]["invalid_utf8"], 1);
  EXPECT_EQ(report["bad_input"]["missing_field"], 1);
  EXPECT_EQ(report["stages"][0]["docs"], 15);
  EXPECT_TRUE(fs::exists(out / "report.md"));
  auto kept = read_all((out / "00000-sample.jsonl.zst").string());
  std::set<std::string> ids;
  for (const auto& d : kept) {
    ids.insert(d.id);
    for (const char* junk : {"首页 |", "加微信", "版权所有", "锟斤拷", "百家乐", "<div"})
      EXPECT_EQ(d.text.find(junk), std::string::npos) << d.id << " still has " << junk;
  }
  for (const char* good : {"k8s-pod", "cicd-intro", "prometheus", "docker-layers", "git-branch", "ansible"})
    EXPECT_TRUE(ids.count(good)) << good;
  for (const char* junk : {"repeated-lines", "mojibake", "too-short", "digits", "html", "gambling"})
    EXPECT_FALSE(ids.count(junk)) << junk;
  // Fenced code survives with its paragraph.
  for (const auto& d : kept) {
    if (d.id == "k8s-pod") {
      EXPECT_NE(d.text.find("下面是一个最简单的 Pod 定义：\n\n```yaml"), std::string::npos);
    }
  }
  EXPECT_EQ(st.files, 2);
  fs::remove_all(out);
}

TEST(Clean, ResumeSkipsFinishedFilesAndShardsMergeReports) {
  fs::path out = tmpdir("resume");
  CleanOptions o;
  o.recipe = shipped();
  o.inputs = {corpus("sample.jsonl"), corpus("seed_like.txt")};
  o.output_dir = out.string();
  o.shard_count = 2;
  o.shard_index = 1;
  CleanStats s1 = run_clean(o);
  EXPECT_EQ(s1.files, 1);
  EXPECT_FALSE(fs::exists(out / "00000-sample.jsonl.zst"));
  o.shard_index = 0;
  run_clean(o);
  std::string first = slurp(out / "00000-sample.jsonl.zst");
  auto report = nlohmann::json::parse(slurp(out / "report.json"));
  EXPECT_EQ(report["files"], 2);  // both shards merged
  CleanStats again = run_clean(o);
  EXPECT_EQ(again.files_skipped, 1);
  EXPECT_EQ(slurp(out / "00000-sample.jsonl.zst"), first);
  fs::remove_all(out);
}

TEST(Clean, BitIdenticalOutputWithOneAndTwoThreads) {
  fs::path in_dir = tmpdir("det_in");
  fs::create_directories(in_dir);
  // A larger input: the corpus repeated with per-copy edits so paragraphs are not exact duplicates.
  auto docs = read_all(corpus("sample.jsonl"));
  std::string big = (in_dir / "big.jsonl").string();
  {
    DocWriter w(big);
    for (int rep = 0; rep < 40; ++rep) {
      for (auto d : docs) {
        d.id += "-" + std::to_string(rep);
        d.text += "（第" + std::to_string(rep) + "次转载）";
        w.write(d);
      }
    }
    w.close();
  }
  Scorer scorer = train_scorer(labels(), TrainOptions{}, nullptr);
  std::string outputs[2];
  CleanStats stats[2];
  for (int t = 1; t <= 2; ++t) {
    dm::set_num_threads(t);
    fs::path out = tmpdir("det_out" + std::to_string(t));
    CleanOptions o;
    o.recipe = shipped();
    o.recipe.paragraph_dedup.enabled = false;
    o.inputs = {big};
    o.output_dir = out.string();
    o.batch_docs = 37;  // many batches, uneven split across threads
    o.scorer = &scorer;
    stats[t - 1] = run_clean(o);
    outputs[t - 1] = slurp(out / "00000-big.jsonl.zst");
    fs::remove_all(out);
  }
  dm::set_num_threads(0);
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_GT(stats[0].paragraph_drops["pareto"].count, 0);
  EXPECT_GT(stats[0].stages[kScorer].paragraphs, 0);
  int64_t hist = 0;
  for (auto h : stats[0].score_histogram) hist += h;
  EXPECT_EQ(hist, stats[0].stages[kParagraphDedup].paragraphs);
  fs::remove_all(in_dir);
}

TEST(Scorer, TrainsSeparatesAndRoundTrips) {
  auto data = labels();
  TrainReport rep;
  TrainOptions opts;
  opts.folds = 4;
  Scorer s = train_scorer(data, opts, &rep);
  EXPECT_EQ(rep.folds, 4);
  EXPECT_EQ(rep.examples, static_cast<int64_t>(data.size()));
  EXPECT_GE(rep.cv_auc, 0.95);
  EXPECT_GE(rep.cv_accuracy, 0.9);
  EXPECT_GT(s.score("在 Kubernetes 中使用 Deployment 管理无状态应用，并通过 Service 暴露服务。"),
            s.score("澳门娱乐城百家乐，加微信日赚千元"));
  fs::path d = tmpdir("scorer");
  fs::create_directories(d);
  s.save((d / "s.json").string());
  Scorer back = Scorer::load((d / "s.json").string());
  for (const auto& x : data) EXPECT_NEAR(back.score(x.text), s.score(x.text), 1e-6);
  fs::remove_all(d);
  std::vector<LabelledText> one_class = {{"a", 1}, {"b", 1}};
  EXPECT_THROW(train_scorer(one_class, opts, nullptr), dm::Error);
}

TEST(Scorer, RocAuc) {
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.4, 0.35, 0.8}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc({0.5, 0.5}, {0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({0.9, 0.1}, {1, 0}), 1.0);
}

TEST(Sample, StratifiedWithEmptyLabels) {
  SampleOptions o;
  o.recipe = shipped();
  o.inputs = {corpus("sample.jsonl")};
  o.n = 6;
  auto rows = sample_paragraphs(o);
  ASSERT_EQ(rows.size(), 6u);
  std::map<std::string, int> per_source;
  for (const auto& r : rows) {
    EXPECT_EQ(r["label"], "");
    per_source[r["source"]]++;
  }
  EXPECT_EQ(per_source.size(), 3u);  // blog, docs, forum all represented
  auto again = sample_paragraphs(o);
  EXPECT_EQ(again, rows);  // seeded
}

TEST(DedupRun, RemovesNearDuplicatePost) {
  fs::path in_dir = tmpdir("dd_in");
  fs::create_directories(in_dir);
  auto docs = read_all(corpus("sample.jsonl"));
  std::string p = (in_dir / "d.jsonl").string();
  {
    DocWriter w(p);
    for (auto& d : docs) w.write(d);
    Document exact = docs[2];
    exact.id = "exact-copy";
    w.write(exact);
    w.close();
  }
  fs::path out = tmpdir("dd_out");
  DedupOptions o;
  o.inputs = {p};
  o.output_dir = out.string();
  o.near.threshold = 0.5;
  DedupReport rep = run_dedup(o);
  EXPECT_EQ(rep.exact_dups, 1);
  EXPECT_EQ(rep.near_dups, 1);  // ansible-repost
  EXPECT_EQ(rep.docs_out, rep.docs_in - 2);
  std::set<std::string> ids;
  for (const auto& d : read_all((out / "00000-d.jsonl.zst").string())) ids.insert(d.id);
  EXPECT_TRUE(ids.count("ansible"));
  EXPECT_FALSE(ids.count("ansible-repost"));
  EXPECT_FALSE(ids.count("exact-copy"));
  fs::remove_all(in_dir);
  fs::remove_all(out);
}
