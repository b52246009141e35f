#include "data/clean.h"
#include "core/json_file.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unordered_set>

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/threads.h"
#include "devops_model/data/dedup.h"
#include "devops_model/data/paragraph.h"
#include "devops_model/data/pareto.h"
#include "devops_model/data/rules.h"
#include "devops_model/data/text_util.h"

namespace dm::data {
namespace fs = std::filesystem;
namespace {

int64_t count_cps(const std::string& s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string file_key(size_t k, const std::string& path) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%05zu-", k);
  return buf + file_stem(path);
}

// Sequential part for one file: stats, dedup, Pareto draws, writing; all in input order.
class FileCleaner {
 public:
  FileCleaner(const CleanOptions& opts, std::unordered_set<uint64_t>* seen, uint32_t seed)
      : opts_(opts), seen_(seen), rng_(seed) {}

  void consume(const Document& doc, const DocVerdict& v, DocWriter* out, CleanStats* st) {
    auto& src = st->source(doc.source);
    src.docs_in++;
    src.chars_in += v.chars;
    int64_t n = static_cast<int64_t>(v.paragraphs.size());
    int64_t pchars = 0;
    for (auto c : v.paragraph_chars) pchars += c;
    add(st, kInput, 1, n, v.chars);
    if (!v.document_rule.empty()) {
      auto& d = st->document_drops[v.document_rule];
      d.count++, d.chars += v.chars;
      return;
    }
    add(st, kDocumentRules, 1, n, pchars);
    std::vector<int> alive;  // indices of paragraphs still kept
    for (int64_t i = 0; i < n; ++i) {
      if (!v.paragraph_rule[i].empty()) drop(st, v.paragraph_rule[i], v.paragraph_chars[i]);
      else alive.push_back(static_cast<int>(i));
    }
    stage(st, kParagraphRules, v, alive);
    if (opts_.recipe.paragraph_dedup.enabled) {
      filter(&alive, [&](int i) {
        if (v.paragraph_chars[i] < opts_.recipe.paragraph_dedup.min_chars) return true;
        if (seen_->insert(v.dedup_hash[i]).second) return true;
        drop(st, "dedup_exact", v.paragraph_chars[i]);
        return false;
      });
    }
    stage(st, kParagraphDedup, v, alive);
    if (opts_.scorer) {
      filter(&alive, [&](int i) {
        double s = v.score[i];
        st->score_histogram[std::min(9, std::max(0, static_cast<int>(s * 10)))]++;
        if (pareto_keep(rng_, opts_.recipe.pareto.alpha, s)) return true;
        drop(st, "pareto", v.paragraph_chars[i]);
        return false;
      });
    }
    stage(st, kScorer, v, alive);
    if (alive.empty()) return;
    std::vector<std::string> kept;
    int64_t out_chars = 0;
    for (int i : alive) kept.push_back(v.paragraphs[i]), out_chars += v.paragraph_chars[i];
    out->write({doc.id, doc.source, join_paragraphs(kept)});
    src.docs_out++;
    src.chars_out += out_chars;
  }

 private:
  static void add(CleanStats* st, int s, int64_t d, int64_t p, int64_t c) {
    st->stages[s].docs += d, st->stages[s].paragraphs += p, st->stages[s].chars += c;
  }
  static void drop(CleanStats* st, const std::string& rule, int64_t chars) {
    auto& d = st->paragraph_drops[rule];
    d.count++, d.chars += chars;
  }
  static void stage(CleanStats* st, int s, const DocVerdict& v, const std::vector<int>& alive) {
    int64_t c = 0;
    for (int i : alive) c += v.paragraph_chars[i];
    add(st, s, alive.empty() ? 0 : 1, static_cast<int64_t>(alive.size()), c);
  }
  template <typename Pred>
  static void filter(std::vector<int>* v, Pred keep) {
    std::vector<int> out;
    for (int i : *v) {
      if (keep(i)) out.push_back(i);
    }
    *v = std::move(out);
  }

  const CleanOptions& opts_;
  std::unordered_set<uint64_t>* seen_;
  NumpyRandomState rng_;
};

// Scores every paragraph that passed the rules, the whole batch at once: the featuriser batches and
// threads internally (a BERT encoder wants many paragraphs per forward pass). Same set and values as
// judge_document with a scorer.
void score_verdicts(const Scorer& scorer, std::vector<DocVerdict>* verdicts) {
  std::vector<std::string_view> texts;
  for (auto& v : *verdicts) {
    v.score.assign(v.paragraphs.size(), 0.0);
    if (!v.document_rule.empty()) continue;
    for (size_t i = 0; i < v.paragraphs.size(); ++i) {
      if (v.paragraph_rule[i].empty()) texts.push_back(v.paragraphs[i]);
    }
  }
  std::vector<double> scores = scorer.score_batch(texts);
  size_t k = 0;
  for (auto& v : *verdicts) {
    if (!v.document_rule.empty()) continue;
    for (size_t i = 0; i < v.paragraphs.size(); ++i) {
      if (v.paragraph_rule[i].empty()) v.score[i] = scores[k++];
    }
  }
}

CleanStats clean_file(const CleanOptions& opts, const std::string& path, const std::string& out_path,
                      std::unordered_set<uint64_t>* seen, uint32_t seed) {
  auto t0 = std::chrono::steady_clock::now();
  CleanStats st;
  DocReader reader(path, opts.reader);
  DocWriter writer(out_path);
  FileCleaner cleaner(opts, seen, seed);
  std::vector<RawLine> lines;
  std::vector<Document> batch;
  std::vector<DocVerdict> verdicts;
  std::vector<int> bad;  // per line: -1 good, else the BadInput kind
  // JSONL: read raw lines on this thread; parse (JSON, UTF-8) and judge on all cores; count bad lines and
  // write in file order. Plain text: the file is one document.
  auto next_batch = [&]() -> bool {
    if (reader.is_jsonl()) {
      if (!reader.next_lines(&lines, opts.batch_docs)) return false;
      batch.assign(lines.size(), Document{});
      return true;
    }
    batch.assign(1, Document{});
    if (!reader.next(&batch[0])) return false;
    return true;
  };
  while (next_batch()) {
    const bool raw = reader.is_jsonl();
    verdicts.assign(batch.size(), DocVerdict{});
    bad.assign(batch.size(), -1);
    parallel_for(static_cast<int64_t>(batch.size()), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        BadInput kind;
        if (raw && !parse_doc_line(lines[i], opts.reader, reader.stem(), &batch[i], &kind)) {
          bad[i] = static_cast<int>(kind);
          continue;
        }
        if (raw) std::string().swap(lines[i].text);  // the parsed text lives in batch[i] now
        verdicts[i] = judge_document(batch[i].text, opts.recipe, nullptr);
      }
    });
    for (size_t i = 0; i < batch.size(); ++i)  // in line order, so --strict stops at the first bad line
      if (bad[i] >= 0) reader.count_bad(static_cast<BadInput>(bad[i]), lines[i].line_no);
    if (opts.scorer) score_verdicts(*opts.scorer, &verdicts);  // bad lines: empty verdicts, nothing scored
    for (size_t i = 0; i < batch.size(); ++i)
      if (bad[i] < 0) cleaner.consume(batch[i], verdicts[i], &writer, &st);
  }
  writer.close();
  st.bad_input = reader.bad();
  st.files = 1;
  st.bytes_in = static_cast<int64_t>(fs::file_size(path));
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace

DocVerdict judge_document(const std::string& text, const Recipe& recipe, const Scorer* scorer) {
  DocVerdict v;
  v.chars = count_cps(text);
  v.document_rule = check_text(text, recipe.document, recipe);
  v.paragraphs = split_paragraphs(text);
  size_t n = v.paragraphs.size();
  v.paragraph_rule.resize(n);
  v.paragraph_chars.resize(n);
  v.dedup_hash.resize(n);
  if (scorer) v.score.assign(n, 0.0);
  if (!v.document_rule.empty()) {
    for (size_t i = 0; i < n; ++i) v.paragraph_chars[i] = count_cps(v.paragraphs[i]);
    return v;
  }
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = v.paragraphs[i];
    v.paragraph_chars[i] = count_cps(p);
    v.paragraph_rule[i] = check_text(p, recipe.paragraph, recipe);
    if (!v.paragraph_rule[i].empty()) continue;
    if (recipe.paragraph_dedup.enabled) v.dedup_hash[i] = exact_dedup_hash(p);
    if (scorer) v.score[i] = scorer->score(p);
  }
  return v;
}

CleanStats write_clean_report(const std::string& output_dir) {
  CleanStats total;
  fs::path done = fs::path(output_dir) / ".done";
  std::vector<fs::path> markers;
  if (fs::exists(done)) {
    for (const auto& e : fs::directory_iterator(done)) {
      if (e.path().extension() == ".json") markers.push_back(e.path());
    }
  }
  std::sort(markers.begin(), markers.end());
  for (const auto& m : markers) {
    auto j = nlohmann::json::parse(read_file(m.string()), nullptr, false);
    if (j.is_discarded()) fail(ErrorKind::kFormat, m.string(), ": corrupt marker (delete it to redo that file)");
    total.merge(CleanStats::from_json(j));
  }
  write_file_atomic((fs::path(output_dir) / "report.json").string(), total.to_json().dump(2) + "\n");
  write_file_atomic((fs::path(output_dir) / "report.md").string(), total.to_markdown());
  return total;
}

CleanStats run_clean(const CleanOptions& opts) {
  if (opts.shard_count < 1 || opts.shard_index < 0 || opts.shard_index >= opts.shard_count)
    fail(ErrorKind::kInvalidArgument, "--shard ", opts.shard_index, "/", opts.shard_count, ": need 0 <= i < n");
  make_directories((fs::path(opts.output_dir) / ".done").string());
  std::unordered_set<uint64_t> seen;
  CleanStats shard;
  for (size_t k = 0; k < opts.inputs.size(); ++k) {
    if (static_cast<int>(k % opts.shard_count) != opts.shard_index) continue;
    const std::string& in = opts.inputs[k];
    std::string key = file_key(k, in);
    fs::path marker = fs::path(opts.output_dir) / ".done" / (key + ".json");
    if (fs::exists(marker)) {
      CleanStats prev = CleanStats::from_json(read_json_file(marker.string()));
      prev.files_skipped = 1;
      shard.merge(prev);
      continue;
    }
    std::string out = (fs::path(opts.output_dir) / (key + (opts.compress ? ".jsonl.zst" : ".jsonl"))).string();
    uint32_t seed = static_cast<uint32_t>(opts.recipe.pareto.seed + k);
    CleanStats st = clean_file(opts, in, out, &seen, seed);
    write_file_atomic(marker.string(), st.to_json().dump() + "\n");
    shard.merge(st);
  }
  write_clean_report(opts.output_dir);
  return shard;
}

}  // namespace dm::data
