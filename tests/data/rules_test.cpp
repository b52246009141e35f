// Each rule on crafted texts: one text that must pass and one that must fail the rule under test,
// with every other rule disabled.
#include <gtest/gtest.h>

#include <string>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/data/recipe.h"
#include "devops_model/data/rules.h"
#include "devops_model/data/text_util.h"

using namespace dm::data;

namespace {

std::string repeat(const std::string& s, int n) {
  std::string o;
  for (int i = 0; i < n; ++i) o += s;
  return o;
}

const std::string kGood =
    "Pod 是 Kubernetes 中可以创建和管理的最小部署单元。一个 Pod 中可以包含一个或多个容器，"
    "这些容器共享网络命名空间和存储卷，因此它们可以通过 localhost 互相访问。";

StageRules none() { return StageRules{}; }

}  // namespace

TEST(Rules, MinMaxChars) {
  Recipe r;
  StageRules s = none();
  s.min_chars = 20;
  EXPECT_EQ(check_text("谢谢分享，学习了！", s, r), "min_chars");
  EXPECT_EQ(check_text(kGood, s, r), "");
  s.max_chars = 30;
  EXPECT_EQ(check_text(kGood, s, r), "max_chars");
}

TEST(Rules, CjkRatioIgnoresFencedCode) {
  Recipe r;
  StageRules s = none();
  s.min_cjk_ratio = 0.3;
  EXPECT_EQ(check_text("This paragraph is written entirely in English words.", s, r), "cjk_ratio");
  std::string with_code = kGood +
                          "\n```bash\nkubectl get pods --all-namespaces -o wide | grep Running\n"
                          "kubectl describe pod nginx-abcdef-12345 --namespace production\n```\n";
  EXPECT_EQ(check_text(with_code, s, r), "");
  TextStats st = compute_stats(with_code, s, r);
  EXPECT_EQ(st.chars, static_cast<int64_t>(decode_utf8(with_code).size()));
  EXPECT_LT(st.prose_chars, 90);  // code excluded
}

TEST(Rules, SymbolDigitMojibake) {
  Recipe r;
  StageRules s = none();
  s.max_symbol_ratio = 0.3;
  EXPECT_EQ(check_text("【】！！！###***！！！￥￥￥@@@---===+++", s, r), "symbol_ratio");
  EXPECT_EQ(check_text(kGood, s, r), "");
  s = none();
  s.max_digit_ratio = 0.3;
  EXPECT_EQ(check_text("2023-10-01 12:00:01 200 1024 3.14 日志", s, r), "digit_ratio");
  EXPECT_EQ(check_text(kGood, s, r), "");
  s = none();
  s.max_mojibake_ratio = 0.02;
  EXPECT_EQ(check_text("å®¹å™¨ç¼–æŽ’ç³»ç»Ÿè´Ÿè´£è°ƒåº¦", s, r), "mojibake_ratio");
  EXPECT_EQ(check_text("这个文件打开后全是锟斤拷锟斤拷和烫烫烫", s, r), "mojibake_ratio");
  EXPECT_EQ(check_text(kGood, s, r), "");
}

TEST(Rules, LineRules) {
  Recipe r;
  StageRules s = none();
  s.max_short_line_ratio = 0.5;
  EXPECT_EQ(check_text("首页\n博客\n下载\n" + kGood, s, r), "short_lines");
  EXPECT_EQ(check_text(kGood + "\n" + kGood, s, r), "");
  s = none();
  s.max_bullet_line_ratio = 0.6;
  EXPECT_EQ(check_text("• 第一条新闻标题在这里\n• 第二条新闻标题在这里\n• 第三条\n" + kGood, s, r), "bullet_lines");
  s = none();
  s.max_ellipsis_line_ratio = 0.3;
  EXPECT_EQ(check_text("容器网络的原理是什么...\n镜像构建的最佳实践…\n" + kGood, s, r), "ellipsis_lines");
  EXPECT_EQ(check_text(kGood, s, r), "");
  s = none();
  s.min_line_punct_ratio = 0.5;
  EXPECT_EQ(check_text("热门标签 容器 网络\n推荐阅读 运维 监控\n" + kGood, s, r), "line_punct");
  EXPECT_EQ(check_text(kGood, s, r), "");
}

TEST(Rules, DuplicateLinesAndParagraphs) {
  Recipe r;
  StageRules s = none();
  s.max_dup_line_ratio = 0.3;
  std::string dup = repeat("点击这里下载最新版本的运维工具包！\n", 5) + kGood;
  EXPECT_EQ(check_text(dup, s, r), "dup_lines");
  TextStats st = compute_stats(dup, s, r);
  EXPECT_NEAR(st.dup_line_ratio, 4.0 / 6.0, 1e-12);  // 6 lines, 4 repeats
  s = none();
  s.max_dup_para_char_ratio = 0.2;
  std::string para = "持续集成要求频繁合并代码并自动测试。";
  EXPECT_EQ(check_text(para + "\n\n" + kGood + "\n\n" + para + "\n\n" + para, s, r), "dup_para_chars");
  EXPECT_EQ(check_text(para + "\n\n" + kGood, s, r), "");
}

TEST(Rules, GopherNgramFractions) {
  // tokens: each CJK char is one token; "abc" one ASCII word. Text "甲乙甲乙甲乙" (6 chars):
  // 2-grams 甲乙 x3, 乙甲 x2 -> top = 2 chars * 3 / 6 = 1.0.
  std::u32string t = U"甲乙甲乙甲乙";
  auto toks = tokenize_for_repetition(t);
  ASSERT_EQ(toks.size(), 6u);
  EXPECT_DOUBLE_EQ(top_ngram_char_ratio(t, toks, 2, 6), 1.0);
  // dup 2-grams (Gopher scan): 甲乙 new, 乙甲 new, 甲乙 dup (+2, skip 2), 甲乙 dup (+2) -> 4/6.
  EXPECT_DOUBLE_EQ(dup_ngram_char_ratio(t, toks, 2, 6), 4.0 / 6.0);
  std::u32string u = U"abc 甲 abc 乙";
  auto tu = tokenize_for_repetition(u);
  ASSERT_EQ(tu.size(), 4u);
  EXPECT_DOUBLE_EQ(top_ngram_char_ratio(u, tu, 1, 8), 6.0 / 8.0);  // "abc" twice, 3 chars each

  Recipe r;
  StageRules s = none();
  s.max_top_ngram_char_ratio = {{2, 0.2}};
  EXPECT_EQ(check_text(repeat("运维运维", 10) + kGood, s, r), "top_2gram");
  EXPECT_EQ(check_text(kGood, s, r), "");
  s = none();
  s.max_dup_ngram_char_ratio = {{5, 0.15}};
  EXPECT_EQ(check_text(repeat("自动化运维平台", 6) + kGood, s, r), "dup_5gram");
  EXPECT_EQ(check_text(kGood, s, r), "");
}

TEST(Rules, WordListsAndMarkup) {
  Recipe r;
  r.boilerplate = {"关于我们", "版权所有"};
  r.flagged_words = {"博彩", "代开发票"};
  StageRules s = none();
  s.max_boilerplate_line_ratio = 0.3;
  EXPECT_EQ(check_text("关于我们 | 联系我们\n版权所有 © 2023\n" + kGood, s, r), "boilerplate");
  // A long line that mentions a phrase is prose, not boilerplate.
  EXPECT_EQ(check_text(kGood + "关于我们团队如何做代码评审的经验，可以参考下一篇文章。", s, r), "");
  s = none();
  s.max_flagged_char_ratio = 0.05;
  EXPECT_EQ(check_text("在线博彩平台，代开发票，" + kGood, s, r), "flagged_words");
  EXPECT_EQ(check_text(kGood, s, r), "");
  s = none();
  s.max_url_char_ratio = 0.3;
  EXPECT_EQ(check_text("下载 https://example.com/a/very/long/path/to/download/file.tar.gz", s, r), "url_ratio");
  EXPECT_EQ(check_text(kGood + " 见 https://k8s.io", s, r), "");
  s = none();
  s.max_html_char_ratio = 0.2;
  EXPECT_EQ(check_text("<div class=\"nav\"><a href=\"/\">首页</a></div>&nbsp;&nbsp;<p>内容</p>", s, r), "html_ratio");
  EXPECT_EQ(check_text(kGood, s, r), "");
}

TEST(Rules, DisabledStagePassesEverything) {
  Recipe r;
  StageRules s;
  s.min_chars = 1000;
  s.enabled = false;
  EXPECT_EQ(check_text("短", s, r), "");
}

TEST(Recipe, ShippedRecipeLoadsAndPassesSeedDocument) {
  Recipe r = load_recipe(std::string(DM_SOURCE_DIR) + "/recipes/zh_tech.json");
  EXPECT_EQ(r.name, "zh_tech");
  EXPECT_GT(r.boilerplate.size(), 10u);
  EXPECT_GT(r.flagged_words.size(), 10u);
  EXPECT_EQ(r.pareto.alpha, 9.0);
  // The seed document (a real Chinese DevOps page) is good text: it must pass the document stage.
  std::string seed = dm::read_file(std::string(DM_FIXTURES_DIR) + "/../seed/000_3a16e86f37f47c6a.txt");
  EXPECT_EQ(check_text(seed, r.document, r), "");
}

TEST(Recipe, UnknownRuleIsAnError) {
  EXPECT_THROW(parse_recipe(R"({"document": {"min_charz": 5}})", ".", "x.json"), dm::Error);
  EXPECT_THROW(parse_recipe("not json", ".", "x.json"), dm::Error);
  Recipe r = parse_recipe(R"({"paragraph": {"min_chars": 5, "max_top_ngram_char_ratio": {"2": 0.1}}})", ".", "x");
  EXPECT_EQ(r.paragraph.min_chars, 5);
  EXPECT_EQ(r.paragraph.max_top_ngram_char_ratio.at(2), 0.1);
}
