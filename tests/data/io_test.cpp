#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <fstream>

#include "devops_model/core/error.h"
#include "devops_model/data/doc_io.h"

using namespace dm::data;
namespace fs = std::filesystem;

namespace {
std::string corpus(const char* name) { return std::string(DM_SOURCE_DIR) + "/tests/data/corpus/" + name; }
fs::path tmpdir(const char* name) {
  fs::path d = fs::temp_directory_path() / (std::string("dm_data_io_") + name + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::vector<Document> read_all(const std::string& path, ReaderOptions o = {}, BadInputStats* bad = nullptr) {
  DocReader r(path, o);
  std::vector<Document> out;
  Document d;
  while (r.next(&d)) out.push_back(d);
  if (bad) *bad = r.bad();
  return out;
}
}  // namespace

TEST(DocIo, BadInputCountedWithFileAndLine) {
  BadInputStats bad;
  auto docs = read_all(corpus("bad_input.jsonl"), {}, &bad);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].id, "ok-1");
  EXPECT_EQ(docs[1].id, "ok-2");
  EXPECT_EQ(docs[0].source, "bad_input");  // no source field: file stem
  EXPECT_EQ(bad.counts[static_cast<int>(BadInput::kInvalidJson)], 1);
  EXPECT_EQ(bad.counts[static_cast<int>(BadInput::kInvalidUtf8)], 1);
  EXPECT_EQ(bad.counts[static_cast<int>(BadInput::kMissingField)], 1);
  ASSERT_EQ(bad.examples.size(), 3u);
  EXPECT_NE(bad.examples[0].find("bad_input.jsonl:2: invalid_json"), std::string::npos);
  EXPECT_NE(bad.examples[1].find("bad_input.jsonl:3: invalid_utf8"), std::string::npos);
  EXPECT_NE(bad.examples[2].find("bad_input.jsonl:4: missing_field"), std::string::npos);
}

TEST(DocIo, StrictStopsAtFirstBadLine) {
  ReaderOptions o;
  o.strict = true;
  try {
    read_all(corpus("bad_input.jsonl"), o);
    FAIL() << "expected an error";
  } catch (const dm::Error& e) {
    EXPECT_EQ(e.kind(), dm::ErrorKind::kFormat);
    EXPECT_NE(std::string(e.what()).find("bad_input.jsonl:2"), std::string::npos);
  }
}

TEST(DocIo, HugeLineSkippedWithBoundedMemory) {
  fs::path d = tmpdir("huge");
  std::string p = (d / "h.jsonl").string();
  {
    std::ofstream f(p);
    f << "{\"text\": \"" << std::string(3 << 20, 'a') << "\"}\n{\"text\": \"短文本\", \"id\": 7}\n";
  }
  ReaderOptions o;
  o.max_line_bytes = 1 << 20;
  BadInputStats bad;
  auto docs = read_all(p, o, &bad);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "短文本");
  EXPECT_EQ(docs[0].id, "7");
  EXPECT_EQ(bad.counts[static_cast<int>(BadInput::kHugeLine)], 1);
  EXPECT_NE(bad.examples[0].find("h.jsonl:1: huge_line"), std::string::npos);
  fs::remove_all(d);
}

TEST(DocIo, ZstdRoundTripAndCustomField) {
  fs::path d = tmpdir("zst");
  auto in = read_all(corpus("sample.jsonl"));
  ASSERT_GT(in.size(), 10u);
  std::string p = (d / "out.jsonl.zst").string();
  {
    DocWriter w(p);
    for (auto& doc : in) w.write(doc);
    EXPECT_FALSE(fs::exists(p));  // only the temp file until close()
    w.close();
  }
  auto back = read_all(p);
  ASSERT_EQ(back.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(back[i].id, in[i].id);
    EXPECT_EQ(back[i].source, in[i].source);
    EXPECT_EQ(back[i].text, in[i].text);
  }
  std::string q = (d / "c.jsonl").string();
  std::ofstream(q) << "{\"content\": \"正文\", \"id\": \"a\"}\n";
  ReaderOptions o;
  o.text_field = "content";
  auto c = read_all(q, o);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].text, "正文");
  // Corrupt zstd is a format error, not a crash.
  std::ofstream(d / "bad.jsonl.zst") << "not zstd at all";
  EXPECT_THROW(read_all((d / "bad.jsonl.zst").string()), dm::Error);
  fs::remove_all(d);
}

TEST(DocIo, PlainTextIsOneDocument) {
  auto docs = read_all(corpus("seed_like.txt"));
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].id, "seed_like");
  EXPECT_NE(docs[0].text.find("Kubernetes"), std::string::npos);
}

TEST(DocIo, Utf8Validation) {
  EXPECT_TRUE(valid_utf8("容器 abc"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(valid_utf8("\xe5\xae"));          // truncated
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
}

// Every input byte is a document or a counted bad line: JSON stops at a raw NUL, so without the check the
// text after it vanished uncounted; trailing garbage after the object is a bad line too.
TEST(DocIo, NulByteAndTrailingGarbageAreBadLines) {
  fs::path d = tmpdir("nul");
  std::string p = (d / "n.jsonl").string();
  {
    std::ofstream f(p, std::ios::binary);
    f << "{\"text\":\"first\"}" << '\0' << "{\"text\":\"second\"}\n";
    f << "{\"text\":\"third\"} trailing\n";
    f << "{\"text\":\"fourth\"}\n";
  }
  BadInputStats bad;
  auto docs = read_all(p, {}, &bad);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "fourth");
  EXPECT_EQ(bad.counts[static_cast<int>(BadInput::kInvalidJson)], 2);
  ASSERT_EQ(bad.examples.size(), 2u);
  EXPECT_NE(bad.examples[0].find("n.jsonl:1: invalid_json"), std::string::npos);
  EXPECT_NE(bad.examples[1].find("n.jsonl:2: invalid_json"), std::string::npos);
  fs::remove_all(d);
}

TEST(DocIo, EmptyInputFilesWarn) {
  fs::path d = tmpdir("empty");
  std::ofstream(d / "e.jsonl.zst").close();
  std::ofstream(d / "e.jsonl").close();
  for (const char* name : {"e.jsonl.zst", "e.jsonl"}) {
    BadInputStats bad;
    EXPECT_TRUE(read_all((d / name).string(), {}, &bad).empty());
    EXPECT_EQ(bad.total(), 0);
    ASSERT_EQ(bad.warnings.size(), 1u) << name;
    EXPECT_NE(bad.warnings[0].find(name), std::string::npos);
    EXPECT_NE(bad.warnings[0].find("empty file"), std::string::npos);
  }
  BadInputStats bad;
  read_all(corpus("sample.jsonl"), {}, &bad);
  EXPECT_TRUE(bad.warnings.empty());
  fs::remove_all(d);
}
