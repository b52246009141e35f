#include "devops_model/eval/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>

#include "devops_model/core/error.h"
#include "devops_model/core/hash.h"
#include "devops_model/core/progress.h"
#include "eval/journal.h"

namespace dm {

std::array<int32_t, 4> option_token_ids(const ScoringLm& lm) {
  std::array<int32_t, 4> ids{};
  for (int k = 0; k < 4; ++k) {
    std::string letter(1, static_cast<char>('A' + k));
    auto t = lm.encode(letter);
    if (t.size() != 1) {
      fail(ErrorKind::kUnsupported, "option letter '", letter, "' encodes to ", t.size(),
           " tokens; option-logit scoring needs exactly one");
    }
    ids[k] = t[0];
  }
  return ids;
}

int argmax4(const std::array<float, 4>& v) {
  int best = 0;
  for (int k = 1; k < 4; ++k) {
    if (v[k] > v[best]) best = k;
  }
  return best;
}

namespace {

struct Tokenized {
  std::vector<int32_t> full;
  bool split_ok = false;  // full == prefix ids + question ids
  size_t rest_size = 0;
};

// Scores the questions of one subject at one shot count.
class SubjectRunner {
 public:
  SubjectRunner(ScoringLm& lm, const std::array<int32_t, 4>& opt_ids, const McqEvalOptions& o, McqReport& r)
      : lm_(lm), opt_ids_(opt_ids), opts_(o), report_(r) {}

  McqSubjectResult run(const McqDataset& ds, const McqSubject& sub, int shots, Progress* bar) {
    if (static_cast<int>(sub.dev.size()) < shots) {
      fail(ErrorKind::kInvalidArgument, ds.dir, ": subject ", sub.name, " has ", sub.dev.size(),
           " dev rows, fewer than ", shots, " shots");
    }
    const std::span<const McqQuestion> shot_rows(sub.dev.data(), static_cast<size_t>(shots));
    const std::string prefix = render_prompt_prefix(opts_.style, sub.zh_name, shot_rows);
    const std::vector<int32_t> prefix_ids = lm_.encode(prefix);
    const int plen = static_cast<int>(prefix_ids.size());
    size_t n = sub.questions.size();
    if (opts_.limit > 0) n = std::min(n, static_cast<size_t>(opts_.limit));

    // Tokenise everything first: the cache is sized once for the longest prompt.
    std::vector<Tokenized> tok(n);
    std::vector<std::vector<int32_t>> rest(n);
    int longest = plen;
    for (size_t i = 0; i < n; ++i) {
      const std::string q = render_prompt_question(opts_.style, sub.questions[i]);
      tok[i].full = lm_.encode(prefix + q);
      rest[i] = lm_.encode(q);
      tok[i].split_ok = rest[i].size() + prefix_ids.size() == tok[i].full.size() &&
                        std::equal(prefix_ids.begin(), prefix_ids.end(), tok[i].full.begin()) &&
                        std::equal(rest[i].begin(), rest[i].end(), tok[i].full.begin() + plen);
      longest = std::max(longest, static_cast<int>(tok[i].full.size()));
    }
    lm_.reserve(longest);
    const double prefix_alpha = lm_.ntk_alpha_for(plen);

    McqSubjectResult res{ds.name, sub.name, sub.split, shots, 0, static_cast<int>(n)};
    bool prefix_cached = false;
    std::vector<float> logits;
    for (size_t i = 0; i < n; ++i) {
      const auto& q = sub.questions[i];
      const uint64_t prompt_hash =
          hash64(tok[i].full.data(), tok[i].full.size() * sizeof(int32_t), static_cast<uint64_t>(q.answer));
      if (opts_.journal) {
        if (const McqQuestionResult* done = opts_.journal->find(ds.name, sub.name, shots, q.index)) {
          if (done->prompt_hash == prompt_hash) {
            if (done->pred == done->gold) ++res.correct;
            report_.questions.push_back(*done);
            ++report_.resumed;
            if (bar) bar->add(1);
            continue;
          }
          ++report_.stale;  // the question changed since it was journaled: score it again
        }
      }
      const int full_len = static_cast<int>(tok[i].full.size());
      // Reuse only when it cannot change the numbers: same tokens, same dynamic-NTK alpha.
      const bool reuse =
          opts_.prefix_reuse && plen > 0 && tok[i].split_ok && lm_.ntk_alpha_for(full_len) == prefix_alpha;
      if (reuse) {
        if (!prefix_cached) lm_.run(0, prefix_ids, logits);
        prefix_cached = true;
        lm_.run(plen, rest[i], logits);
        ++report_.prefix_reused;
      } else {
        lm_.run(0, tok[i].full, logits);
        prefix_cached = false;
        ++report_.full_forward;
      }
      McqQuestionResult qr{ds.name, sub.name, q.index, shots, 0, q.answer, {}, prompt_hash};
      for (int k = 0; k < 4; ++k) {
        DM_CHECK(opt_ids_[k] >= 0 && static_cast<size_t>(opt_ids_[k]) < logits.size());
        qr.logits[k] = logits[opt_ids_[k]];
      }
      qr.pred = static_cast<char>('A' + argmax4(qr.logits));
      if (qr.pred == qr.gold) ++res.correct;
      if (opts_.journal) opts_.journal->append(qr);
      report_.questions.push_back(std::move(qr));
      if (bar) bar->add(1);
    }
    return res;
  }

 private:
  ScoringLm& lm_;
  std::array<int32_t, 4> opt_ids_;
  const McqEvalOptions& opts_;
  McqReport& report_;
};

}  // namespace

void summarize_mcq(McqReport& report, const std::vector<int>& shots) {
  report.overall.clear();
  for (int k : shots) {
    McqOverall o;
    o.shots = k;
    int n_sub = 0;
    double acc_sum = 0;
    for (const auto& s : report.subjects) {
      if (s.shots != k) continue;
      o.correct += s.correct;
      o.total += s.total;
      acc_sum += s.accuracy();
      ++n_sub;
    }
    o.micro = o.total ? static_cast<double>(o.correct) / o.total : 0.0;
    o.macro = n_sub ? acc_sum / n_sub : 0.0;
    report.overall.push_back(o);
  }
}

McqReport evaluate_mcq(ScoringLm& lm, const std::vector<McqDataset>& data, const McqEvalOptions& opts) {
  McqReport report;
  const auto opt_ids = option_token_ids(lm);
  int64_t total = 0;
  for (const auto& ds : data) {
    for (const auto& s : ds.subjects) {
      size_t n = s.questions.size();
      if (opts.limit > 0) n = std::min(n, static_cast<size_t>(opts.limit));
      total += static_cast<int64_t>(n);
    }
  }
  total *= static_cast<int64_t>(opts.shots.size());
  std::unique_ptr<Progress> bar;
  if (opts.progress) bar = std::make_unique<Progress>("eval", total, "q");
  SubjectRunner runner(lm, opt_ids, opts, report);
  std::map<int, double> seconds;
  for (int k : opts.shots) {
    auto t0 = std::chrono::steady_clock::now();
    for (const auto& ds : data) {
      for (const auto& s : ds.subjects) {
        if (bar) bar->set_suffix(std::to_string(k) + "-shot " + s.name);
        report.subjects.push_back(runner.run(ds, s, k, bar.get()));
      }
    }
    seconds[k] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (bar) bar->finish();
  summarize_mcq(report, opts.shots);
  for (auto& o : report.overall) o.seconds = seconds[o.shots];
  return report;
}

}  // namespace dm
