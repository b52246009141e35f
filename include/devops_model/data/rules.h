// Heuristic quality rules (Gopher / FineWeb / C4 / data-juicer style, adapted to Chinese technical
// text): statistics of one text, and the first rule of a stage that it breaks.
#pragma once
#include <map>
#include <string>
#include <string_view>

#include "devops_model/data/recipe.h"

namespace dm::data {

// Everything the rules look at. Counts are code points; "prose" excludes fenced code and whitespace.
struct TextStats {
  int64_t chars = 0;        // all code points
  int64_t prose_chars = 0;  // non-space code points outside code fences
  int64_t cjk = 0, symbols = 0, digits = 0, mojibake = 0;
  int64_t lines = 0;  // non-empty prose lines
  int64_t short_lines = 0, bullet_lines = 0, ellipsis_lines = 0, punct_end_lines = 0, boilerplate_lines = 0;
  double dup_line_ratio = 0, dup_line_char_ratio = 0, dup_para_ratio = 0, dup_para_char_ratio = 0;
  std::map<int, double> top_ngram_char_ratio, dup_ngram_char_ratio;
  int64_t flagged_chars = 0, url_chars = 0, html_chars = 0;
};

// Computes the statistics the stage needs (n-gram statistics only for the n the stage lists).
TextStats compute_stats(std::string_view text, const StageRules& rules, const Recipe& recipe);

// Name of the first rule `text` breaks ("min_chars", "cjk_ratio", "top_3gram", ...), or "" if it
// passes every enabled rule. Rules run in a fixed order, so a drop is attributed deterministically.
std::string first_failed_rule(const TextStats& stats, const StageRules& rules);

// Convenience: compute_stats + first_failed_rule.
std::string check_text(std::string_view text, const StageRules& rules, const Recipe& recipe);

// Gopher's "duplicate n-gram character fraction": scan token n-grams; on a repeat count its chars and
// skip n tokens. Exposed for tests. `tokens` are [begin,end) offsets into `cps`; result / total_chars.
double dup_ngram_char_ratio(std::u32string_view cps, const std::vector<std::pair<uint32_t, uint32_t>>& tokens, int n,
                            int64_t total_chars);
// Gopher's "top n-gram character fraction": chars of the most frequent n-gram times its count.
double top_ngram_char_ratio(std::u32string_view cps, const std::vector<std::pair<uint32_t, uint32_t>>& tokens, int n,
                            int64_t total_chars);

}  // namespace dm::data
