// Paragraph splitter for Markdown-ish technical text.
//  - blank lines end a paragraph;
//  - a Markdown heading (#..######) starts a new paragraph, and a paragraph made only of headings is
//    merged into the paragraph that follows it (a heading alone is not worth scoring);
//  - a list starts a new paragraph unless the previous line introduces it (ends in ':' or '：') or is
//    itself a list item; consecutive items stay together;
//  - a fenced code block (``` or ~~~, closed by the same fence) never splits, and is kept with the
//    paragraph before it (even across blank lines): code is explained by the prose above it.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dm::data {

// Paragraphs in order, each with its lines joined by '\n' and without trailing whitespace lines.
std::vector<std::string> split_paragraphs(std::string_view text);

// Inverse used when writing kept paragraphs back into a document.
std::string join_paragraphs(const std::vector<std::string>& paragraphs);

}  // namespace dm::data
