#include "devops_model/eval/csv.h"

#include <gtest/gtest.h>

#include "devops_model/core/error.h"

namespace dm {
namespace {

std::string error_of(std::string_view text) {
  try {
    parse_csv(text, "x.csv");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    return e.what();
  }
  return "no error";
}

TEST(Csv, PlainLfAndCrlf) {
  for (std::string eol : {"\n", "\r\n"}) {
    CsvTable t = parse_csv("a,b,c" + eol + "1,2,3" + eol + "x,,z" + eol, "x.csv");
    ASSERT_EQ(t.header, (std::vector<std::string>{"a", "b", "c"}));
    ASSERT_EQ(t.rows.size(), 2u);
    EXPECT_EQ(t.rows[0], (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_EQ(t.rows[1], (std::vector<std::string>{"x", "", "z"}));
    EXPECT_EQ(t.row_lines, (std::vector<int>{2, 3}));
  }
}

TEST(Csv, QuotesCommasEmbeddedNewlines) {
  CsvTable t = parse_csv("q,a\r\n\"he said \"\"hi\"\", ok\",\"line1\nline2\r\nline3\"\r\nnext,\"\"\r\n", "x.csv");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0][0], "he said \"hi\", ok");
  // Line breaks inside quotes are kept as written (LF and CRLF).
  EXPECT_EQ(t.rows[0][1], "line1\nline2\r\nline3");
  EXPECT_EQ(t.rows[1][0], "next");
  EXPECT_EQ(t.rows[1][1], "");
  EXPECT_EQ(t.row_lines, (std::vector<int>{2, 5}));
}

TEST(Csv, BomDroppedTrailingSpacesKeptNoFinalNewline) {
  CsvTable t = parse_csv("\xEF\xBB\xBFid,x\n1,ARP \n2,  \xE2\xBD\xA4 ", "x.csv");
  EXPECT_EQ(t.header[0], "id");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0][1], "ARP ");
  EXPECT_EQ(t.rows[1][1], "  \xE2\xBD\xA4 ");
}

TEST(Csv, BlankLinesSkippedAndLinesCounted) {
  CsvTable t = parse_csv("a\n\n1\n\r\n2\n", "x.csv");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.row_lines, (std::vector<int>{3, 5}));
}

TEST(Csv, MalformedRowsNameFileAndLine) {
  EXPECT_EQ(error_of("a,b\n1,2\n\"x\"y,2\n"), "x.csv:3: unexpected text after a closing quote");
  EXPECT_EQ(error_of("a,b\n1,2\n3\n"), "x.csv:3: expected 2 fields (as in the header), got 1");
  EXPECT_EQ(error_of("a,b\n1,2\n3,\"open\n\n"), "x.csv:3: unterminated quoted field");
  EXPECT_EQ(error_of("a,b\n1,x\"y\n"), "x.csv:2: quote inside an unquoted field");
  // The line of a later row counts the newlines inside earlier quoted fields.
  EXPECT_EQ(error_of("a,b\n\"1\n\n\",2\n1,2,3\n"), "x.csv:5: expected 2 fields (as in the header), got 3");
  EXPECT_EQ(error_of(""), "x.csv: empty CSV (no header)");
}

}  // namespace
}  // namespace dm
