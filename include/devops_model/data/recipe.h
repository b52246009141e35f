// Cleaning recipe: the rules and thresholds of the document stage and the paragraph stage, the word
// lists, paragraph dedup, near-dup dedup and Pareto sampling settings. Loaded from JSON (a YAML reader
// would add a dependency for no gain: the recipe is small and JSON is what nlohmann reads).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dm::data {

// Thresholds of one stage; a negative value disables the rule. Ratios are in [0, 1].
// "prose" = the text outside fenced code blocks, without whitespace.
struct StageRules {
  bool enabled = true;
  int64_t min_chars = -1, max_chars = -1;  // code points of the whole text, code included
  double min_cjk_ratio = -1;               // CJK ideographs / prose chars
  double max_symbol_ratio = -1;            // punctuation + symbols / prose chars
  double max_digit_ratio = -1;             // digits / prose chars
  double max_mojibake_ratio = -1;          // U+FFFD, Latin-1 letters, private use, 锟斤拷 / prose chars
  int short_line_chars = 10;               // a prose line with fewer chars is "short"
  double max_short_line_ratio = -1;        // short lines / prose lines
  double max_bullet_line_ratio = -1;       // lines starting with a bullet mark / prose lines
  double max_ellipsis_line_ratio = -1;     // lines ending in ... / … / 。。。 / prose lines
  double min_line_punct_ratio = -1;        // lines ending in terminal punctuation / prose lines
  double max_dup_line_ratio = -1, max_dup_line_char_ratio = -1;  // Gopher, lines split on \n
  double max_dup_para_ratio = -1, max_dup_para_char_ratio = -1;  // Gopher, paragraphs split on \n\n
  std::map<int, double> max_top_ngram_char_ratio;                // n -> threshold (tokens: CJK chars, ASCII words)
  std::map<int, double> max_dup_ngram_char_ratio;                // n -> threshold
  int boilerplate_max_line_chars = 40;                           // only short lines can be boilerplate
  double max_boilerplate_line_ratio = -1;                        // lines containing a boilerplate phrase / prose lines
  double max_flagged_char_ratio = -1;                            // chars of flagged-word occurrences / prose chars
  double max_url_char_ratio = -1;                                // chars inside http(s)://... and www.... / prose chars
  double max_html_char_ratio = -1;                               // chars of <tags> and &entities; / prose chars
};

struct ParagraphDedup {
  bool enabled = true;
  int min_chars = 30;  // shorter paragraphs ("总结", "```") are never deduplicated
};

// MinHash-LSH over character n-grams of the normalised text; bands * rows = num_perm.
struct NearDedup {
  int ngram = 5;
  int num_perm = 112;
  int bands = 14;
  int rows = 8;
  double threshold = 0.7;  // estimated Jaccard a candidate pair must reach (0 = trust LSH alone)
  uint64_t seed = 1;
};

struct ParetoSampling {
  double alpha = 9.0;  // GPT-3
  uint64_t seed = 42;
};

struct Recipe {
  std::string name = "default";
  StageRules document, paragraph;
  std::vector<std::string> boilerplate;  // phrases, UTF-8
  std::vector<std::string> flagged_words;
  ParagraphDedup paragraph_dedup;
  NearDedup near_dedup;
  ParetoSampling pareto;
};

// Parses a recipe; list files ("boilerplate_file", "flagged_words_file") are relative to the recipe's
// directory. Unknown keys are an Error(kFormat) naming the key, so typos do not silently disable rules.
Recipe load_recipe(const std::string& path);
Recipe parse_recipe(const std::string& json_text, const std::string& base_dir, const std::string& name);

// The shipped Chinese technical-text recipe (recipes/zh_tech.json in the source tree, installed path
// or DM_RECIPES_DIR env var); Error(kIo) if it cannot be found.
std::string default_recipe_path();

// A recipe with every rule and the paragraph dedup disabled (for `data score`).
Recipe passthrough_recipe();

// Reads a word list: one entry per line, blank lines and lines starting with '#' ignored.
std::vector<std::string> load_word_list(const std::string& path);

}  // namespace dm::data
