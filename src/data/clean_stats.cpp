#include "data/clean_stats.h"

#include <cstdio>
#include <sstream>

namespace dm::data {

const char* stage_name(int stage) {
  static const char* kNames[] = {"input", "document_rules", "paragraph_rules", "paragraph_dedup", "scorer"};
  return stage >= 0 && stage < kNumStages ? kNames[stage] : "?";
}

SourceCounts& CleanStats::source(const std::string& name) {
  auto it = sources.find(name);
  if (it != sources.end()) return it->second;
  if (sources.size() >= kMaxSources) return sources["(other)"];
  return sources[name];
}

void CleanStats::merge(const CleanStats& o) {
  for (int s = 0; s < kNumStages; ++s) {
    stages[s].docs += o.stages[s].docs;
    stages[s].paragraphs += o.stages[s].paragraphs;
    stages[s].chars += o.stages[s].chars;
  }
  for (auto& [k, d] : o.document_drops) document_drops[k].count += d.count, document_drops[k].chars += d.chars;
  for (auto& [k, d] : o.paragraph_drops) paragraph_drops[k].count += d.count, paragraph_drops[k].chars += d.chars;
  for (auto& [k, s] : o.sources) {
    auto& t = source(k);
    t.docs_in += s.docs_in, t.chars_in += s.chars_in, t.docs_out += s.docs_out, t.chars_out += s.chars_out;
  }
  for (size_t i = 0; i < score_histogram.size(); ++i) score_histogram[i] += o.score_histogram[i];
  bad_input.merge(o.bad_input);
  files += o.files;
  files_skipped += o.files_skipped;
  bytes_in += o.bytes_in;
  seconds += o.seconds;
}

nlohmann::json CleanStats::to_json() const {
  using nlohmann::json;
  json j;
  json st = json::array();
  for (int s = 0; s < kNumStages; ++s)
    st.push_back({{"stage", stage_name(s)},
                  {"docs", stages[s].docs},
                  {"paragraphs", stages[s].paragraphs},
                  {"chars", stages[s].chars}});
  j["stages"] = st;
  auto drops = [](const std::map<std::string, Drop>& m) {
    json d = json::object();
    for (auto& [k, v] : m) d[k] = {{"count", v.count}, {"chars", v.chars}};
    return d;
  };
  j["document_drops"] = drops(document_drops);
  j["paragraph_drops"] = drops(paragraph_drops);
  json src = json::object();
  for (auto& [k, v] : sources)
    src[k] = {{"docs_in", v.docs_in}, {"chars_in", v.chars_in}, {"docs_out", v.docs_out}, {"chars_out", v.chars_out}};
  j["sources"] = src;
  j["score_histogram"] = score_histogram;
  json bad = json::object();
  for (int k = 0; k < static_cast<int>(BadInput::kCount); ++k)
    bad[bad_input_name(static_cast<BadInput>(k))] = bad_input.counts[k];
  j["bad_input"] = bad;
  j["bad_input_examples"] = bad_input.examples;
  j["warnings"] = bad_input.warnings;
  j["files"] = files;
  j["files_skipped"] = files_skipped;
  j["bytes_in"] = bytes_in;
  j["seconds"] = seconds;
  j["mb_per_s"] = seconds > 0 ? static_cast<double>(bytes_in) / 1e6 / seconds : 0.0;
  return j;
}

CleanStats CleanStats::from_json(const nlohmann::json& j) {
  CleanStats s;
  const auto& st = j.at("stages");
  for (int i = 0; i < kNumStages && i < static_cast<int>(st.size()); ++i) {
    s.stages[i].docs = st[i].at("docs");
    s.stages[i].paragraphs = st[i].at("paragraphs");
    s.stages[i].chars = st[i].at("chars");
  }
  for (auto& [k, v] : j.at("document_drops").items()) s.document_drops[k] = {v.at("count"), v.at("chars")};
  for (auto& [k, v] : j.at("paragraph_drops").items()) s.paragraph_drops[k] = {v.at("count"), v.at("chars")};
  for (auto& [k, v] : j.at("sources").items())
    s.sources[k] = {v.at("docs_in"), v.at("chars_in"), v.at("docs_out"), v.at("chars_out")};
  s.score_histogram = j.at("score_histogram").get<std::array<int64_t, 10>>();
  for (int k = 0; k < static_cast<int>(BadInput::kCount); ++k)
    s.bad_input.counts[k] = j.at("bad_input").value(bad_input_name(static_cast<BadInput>(k)), int64_t{0});
  s.bad_input.examples = j.at("bad_input_examples").get<std::vector<std::string>>();
  s.bad_input.warnings = j.value("warnings", std::vector<std::string>{});  // markers written before warnings
  s.files = j.at("files");
  s.files_skipped = j.value("files_skipped", int64_t{0});
  s.bytes_in = j.at("bytes_in");
  s.seconds = j.at("seconds");
  return s;
}

std::string CleanStats::to_markdown() const {
  std::ostringstream o;
  char buf[256];
  o << "# Cleaning report\n\n## Stages (left after each stage)\n\n| stage | docs | paragraphs | chars | chars kept "
       "|\n|---|---:|---:|---:|---:|\n";
  for (int s = 0; s < kNumStages; ++s) {
    double pct = stages[kInput].chars
                     ? 100.0 * static_cast<double>(stages[s].chars) / static_cast<double>(stages[kInput].chars)
                     : 0.0;
    std::snprintf(buf, sizeof buf, "| %s | %lld | %lld | %lld | %.1f %% |\n", stage_name(s), (long long)stages[s].docs,
                  (long long)stages[s].paragraphs, (long long)stages[s].chars, pct);
    o << buf;
  }
  auto drops = [&](const char* title, const std::map<std::string, Drop>& m, const char* unit) {
    o << "\n## " << title << "\n\n| rule | " << unit << " | chars |\n|---|---:|---:|\n";
    for (auto& [k, v] : m) o << "| " << k << " | " << v.count << " | " << v.chars << " |\n";
  };
  drops("Document drops (first failing rule)", document_drops, "docs");
  drops("Paragraph drops", paragraph_drops, "paragraphs");
  o << "\n## Sources\n\n| source | docs in | chars in | docs out | chars out |\n|---|---:|---:|---:|---:|\n";
  for (auto& [k, v] : sources)
    o << "| " << k << " | " << v.docs_in << " | " << v.chars_in << " | " << v.docs_out << " | " << v.chars_out
      << " |\n";
  o << "\n## Score histogram (scored paragraphs)\n\n| score | paragraphs |\n|---|---:|\n";
  for (size_t i = 0; i < score_histogram.size(); ++i) {
    std::snprintf(buf, sizeof buf, "| %.1f-%.1f | %lld |\n", i / 10.0, (i + 1) / 10.0, (long long)score_histogram[i]);
    o << buf;
  }
  o << "\n## Bad input\n\n| kind | count |\n|---|---:|\n";
  for (int k = 0; k < static_cast<int>(BadInput::kCount); ++k)
    o << "| " << bad_input_name(static_cast<BadInput>(k)) << " | " << bad_input.counts[k] << " |\n";
  for (const auto& e : bad_input.examples) o << "- `" << e << "`\n";
  if (!bad_input.warnings.empty()) o << "\n## Warnings\n\n";
  for (const auto& w : bad_input.warnings) o << "- " << w << "\n";
  std::snprintf(buf, sizeof buf,
                "\n## Throughput\n\n%lld files (%lld skipped as already done), %.1f MB in %.2f s: %.2f MB/s\n",
                (long long)files, (long long)files_skipped, static_cast<double>(bytes_in) / 1e6, seconds,
                seconds > 0 ? static_cast<double>(bytes_in) / 1e6 / seconds : 0.0);
  o << buf;
  return o.str();
}

}  // namespace dm::data
