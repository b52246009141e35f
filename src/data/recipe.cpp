#include "devops_model/data/recipe.h"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"

#ifndef DM_DEFAULT_RECIPES_DIR
#define DM_DEFAULT_RECIPES_DIR ""
#endif

namespace dm::data {
namespace {

using nlohmann::json;

template <typename T>
void get_num(const json& j, const char* key, T* out, const std::string& where) {
  if (!j.is_number() && !j.is_boolean()) fail(ErrorKind::kFormat, where, ": '", key, "' must be a number");
  *out = j.get<T>();
}

std::map<int, double> parse_ngram_map(const json& j, const std::string& where) {
  if (!j.is_object()) fail(ErrorKind::kFormat, where, ": expected an object {\"n\": threshold}");
  std::map<int, double> m;
  for (auto& [k, v] : j.items()) {
    int n = std::atoi(k.c_str());
    if (n < 1 || n > 32 || !v.is_number()) fail(ErrorKind::kFormat, where, ": bad n-gram entry '", k, "'");
    m[n] = v.get<double>();
  }
  return m;
}

void parse_stage(const json& j, StageRules* s, const std::string& where) {
  if (!j.is_object()) fail(ErrorKind::kFormat, where, ": expected an object");
  std::map<std::string, std::function<void(const json&)>> f = {
      {"enabled", [&](const json& v) { get_num(v, "enabled", &s->enabled, where); }},
      {"min_chars", [&](const json& v) { get_num(v, "min_chars", &s->min_chars, where); }},
      {"max_chars", [&](const json& v) { get_num(v, "max_chars", &s->max_chars, where); }},
      {"min_cjk_ratio", [&](const json& v) { get_num(v, "min_cjk_ratio", &s->min_cjk_ratio, where); }},
      {"max_symbol_ratio", [&](const json& v) { get_num(v, "max_symbol_ratio", &s->max_symbol_ratio, where); }},
      {"max_digit_ratio", [&](const json& v) { get_num(v, "max_digit_ratio", &s->max_digit_ratio, where); }},
      {"max_mojibake_ratio", [&](const json& v) { get_num(v, "max_mojibake_ratio", &s->max_mojibake_ratio, where); }},
      {"short_line_chars", [&](const json& v) { get_num(v, "short_line_chars", &s->short_line_chars, where); }},
      {"max_short_line_ratio",
       [&](const json& v) { get_num(v, "max_short_line_ratio", &s->max_short_line_ratio, where); }},
      {"max_bullet_line_ratio",
       [&](const json& v) { get_num(v, "max_bullet_line_ratio", &s->max_bullet_line_ratio, where); }},
      {"max_ellipsis_line_ratio",
       [&](const json& v) { get_num(v, "max_ellipsis_line_ratio", &s->max_ellipsis_line_ratio, where); }},
      {"min_line_punct_ratio",
       [&](const json& v) { get_num(v, "min_line_punct_ratio", &s->min_line_punct_ratio, where); }},
      {"max_dup_line_ratio", [&](const json& v) { get_num(v, "max_dup_line_ratio", &s->max_dup_line_ratio, where); }},
      {"max_dup_line_char_ratio",
       [&](const json& v) { get_num(v, "max_dup_line_char_ratio", &s->max_dup_line_char_ratio, where); }},
      {"max_dup_para_ratio", [&](const json& v) { get_num(v, "max_dup_para_ratio", &s->max_dup_para_ratio, where); }},
      {"max_dup_para_char_ratio",
       [&](const json& v) { get_num(v, "max_dup_para_char_ratio", &s->max_dup_para_char_ratio, where); }},
      {"max_top_ngram_char_ratio",
       [&](const json& v) { s->max_top_ngram_char_ratio = parse_ngram_map(v, where + ".max_top_ngram_char_ratio"); }},
      {"max_dup_ngram_char_ratio",
       [&](const json& v) { s->max_dup_ngram_char_ratio = parse_ngram_map(v, where + ".max_dup_ngram_char_ratio"); }},
      {"boilerplate_max_line_chars",
       [&](const json& v) { get_num(v, "boilerplate_max_line_chars", &s->boilerplate_max_line_chars, where); }},
      {"max_boilerplate_line_ratio",
       [&](const json& v) { get_num(v, "max_boilerplate_line_ratio", &s->max_boilerplate_line_ratio, where); }},
      {"max_flagged_char_ratio",
       [&](const json& v) { get_num(v, "max_flagged_char_ratio", &s->max_flagged_char_ratio, where); }},
      {"max_url_char_ratio", [&](const json& v) { get_num(v, "max_url_char_ratio", &s->max_url_char_ratio, where); }},
      {"max_html_char_ratio",
       [&](const json& v) { get_num(v, "max_html_char_ratio", &s->max_html_char_ratio, where); }},
  };
  for (auto& [k, v] : j.items()) {
    if (k.rfind("_", 0) == 0) continue;  // "_comment" keys
    auto it = f.find(k);
    if (it == f.end()) fail(ErrorKind::kFormat, where, ": unknown rule '", k, "'");
    it->second(v);
  }
}

}  // namespace

std::vector<std::string> load_word_list(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    out.push_back(line.substr(b));
  }
  return out;
}

Recipe parse_recipe(const std::string& text, const std::string& base_dir, const std::string& name) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail(ErrorKind::kFormat, name, ": not a JSON object");
  Recipe r;
  r.name = name;
  auto rel = [&](const json& v, const char* key) {
    if (!v.is_string()) fail(ErrorKind::kFormat, name, ": '", key, "' must be a path string");
    std::filesystem::path p(v.get<std::string>());
    return p.is_absolute() ? p.string() : (std::filesystem::path(base_dir) / p).string();
  };
  for (auto& [k, v] : j.items()) {
    if (k.rfind("_", 0) == 0) continue;
    if (k == "name") r.name = v.get<std::string>();
    else if (k == "document") parse_stage(v, &r.document, name + ": document");
    else if (k == "paragraph") parse_stage(v, &r.paragraph, name + ": paragraph");
    else if (k == "boilerplate_file") r.boilerplate = load_word_list(rel(v, "boilerplate_file"));
    else if (k == "flagged_words_file") r.flagged_words = load_word_list(rel(v, "flagged_words_file"));
    else if (k == "paragraph_dedup") {
      r.paragraph_dedup.enabled = v.value("enabled", true);
      r.paragraph_dedup.min_chars = v.value("min_chars", 30);
    } else if (k == "near_dedup") {
      r.near_dedup.ngram = v.value("ngram", 5);
      r.near_dedup.num_perm = v.value("num_perm", 112);
      r.near_dedup.bands = v.value("bands", 14);
      r.near_dedup.rows = v.value("rows", 8);
      r.near_dedup.threshold = v.value("threshold", 0.7);
      r.near_dedup.seed = v.value("seed", uint64_t{1});
      if (r.near_dedup.bands * r.near_dedup.rows > r.near_dedup.num_perm || r.near_dedup.ngram < 1)
        fail(ErrorKind::kFormat, name, ": near_dedup: bands * rows must be <= num_perm");
    } else if (k == "pareto") {
      r.pareto.alpha = v.value("alpha", 9.0);
      r.pareto.seed = v.value("seed", uint64_t{42});
      if (!(r.pareto.alpha > 0)) fail(ErrorKind::kFormat, name, ": pareto.alpha must be > 0");
    } else {
      fail(ErrorKind::kFormat, name, ": unknown key '", k, "'");
    }
  }
  return r;
}

Recipe load_recipe(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return parse_recipe(read_file(path), dir.empty() ? "." : dir, path);
}

std::string default_recipe_path() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("DM_RECIPES_DIR")) candidates.push_back(std::string(env) + "/zh_tech.json");
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back((exe.parent_path() / "../share/devops-model/recipes/zh_tech.json").string());
  if (*DM_DEFAULT_RECIPES_DIR) candidates.push_back(std::string(DM_DEFAULT_RECIPES_DIR) + "/zh_tech.json");
  for (const auto& c : candidates) {
    if (std::filesystem::exists(c)) return c;
  }
  fail(ErrorKind::kIo, "default recipe zh_tech.json not found (set DM_RECIPES_DIR or pass --recipe)");
}

Recipe passthrough_recipe() {
  Recipe r;
  r.name = "passthrough";
  r.document.enabled = false;
  r.paragraph.enabled = false;
  r.paragraph_dedup.enabled = false;
  return r;
}

}  // namespace dm::data
