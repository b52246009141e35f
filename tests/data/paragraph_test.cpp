#include <gtest/gtest.h>

#include "devops_model/data/paragraph.h"

using dm::data::split_paragraphs;

TEST(Paragraphs, BlankLinesSplit) {
  auto p = split_paragraphs("第一段第一行\n第一段第二行\n\n\n第二段\n");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "第一段第一行\n第一段第二行");
  EXPECT_EQ(p[1], "第二段");
}

TEST(Paragraphs, HeadingStartsParagraphAndJoinsItsBody) {
  auto p = split_paragraphs("前言内容。\n## 安装\n\n执行安装命令。\n# 配置\n修改配置文件。");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], "前言内容。");
  EXPECT_EQ(p[1], "## 安装\n\n执行安装命令。");  // heading-only paragraph merged into its body
  EXPECT_EQ(p[2], "# 配置\n修改配置文件。");
}

TEST(Paragraphs, ListsStayTogetherWithTheirIntroduction) {
  auto p = split_paragraphs("流水线包含以下阶段：\n- 构建\n- 测试\n1. 部署\n后续说明文字。\n普通段落\n- 新列表");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0], "流水线包含以下阶段：\n- 构建\n- 测试\n1. 部署");
  EXPECT_EQ(p[1], "后续说明文字。\n普通段落");
  EXPECT_EQ(p[2], "- 新列表");
}

TEST(Paragraphs, CodeFenceKeptWithPrecedingParagraphAndNeverSplit) {
  auto p = split_paragraphs(
      "定义如下：\n\n```yaml\nkind: Pod\n\n\nspec: {}\n```\n之后的说明。\n\n~~~~\ncode\n```\nstill code\n~~~~\n");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "定义如下：\n\n```yaml\nkind: Pod\n\n\nspec: {}\n```");
  EXPECT_EQ(p[1], "之后的说明。\n\n~~~~\ncode\n```\nstill code\n~~~~");
}

TEST(Paragraphs, UnclosedFenceRunsToEndAndLeadingCodeIsItsOwnParagraph) {
  auto p = split_paragraphs("```\nx = 1\n\ny = 2");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "```\nx = 1\n\ny = 2");
  EXPECT_TRUE(split_paragraphs("\n\n  \n").empty());
}
