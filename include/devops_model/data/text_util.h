// Small Unicode helpers for the cleaning rules: UTF-8 decoding and character classes for Chinese
// technical text. Tables are hand-picked ranges, not full Unicode categories: the rules only need
// "is CJK", "is punctuation/symbol", "is digit", "is whitespace", "looks like mojibake".
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "devops_model/core/hash.h"

namespace dm::data {

// Decodes UTF-8 to code points; invalid bytes become U+FFFD (input is validated upstream).
std::u32string decode_utf8(std::string_view s);
void append_utf8(std::u32string_view cps, std::string* out);
std::string encode_utf8(std::u32string_view cps);

bool is_cjk(char32_t c);              // CJK unified ideographs (incl. ext. A-F, compatibility)
bool is_space(char32_t c);            // ASCII/Unicode whitespace incl. U+3000
bool is_digit(char32_t c);            // ASCII and full-width digits
bool is_punct_or_symbol(char32_t c);  // ASCII punctuation, CJK/full-width punctuation, symbols, emoji
bool is_terminal_punct(char32_t c);   // sentence-ending marks: 。！？.!?；;：:… and closing quotes/brackets
bool is_mojibake(char32_t c);         // U+FFFD, C1 controls, Latin-1 letters typical of GBK read as cp1252

// Tokens for Chinese text without a word segmenter: each CJK ideograph is a token, runs of
// ASCII letters/digits are one token, punctuation and spaces separate tokens and are dropped.
// Returns [begin, end) code-point offsets into `cps`.
std::vector<std::pair<uint32_t, uint32_t>> tokenize_for_repetition(std::u32string_view cps);

using dm::hash64;  // core/hash.h
using dm::mix64;

}  // namespace dm::data
