// McqJournal (see journal.h).
#include "eval/journal.h"

#include <filesystem>
#include <sstream>

#include "devops_model/core/error.h"
#include "devops_model/core/hash.h"
#include "devops_model/core/mapped_file.h"

namespace dm {

namespace {

nlohmann::json to_json(const McqQuestionResult& r) {
  return {{"dataset", r.dataset},
          {"subject", r.subject},
          {"index", r.index},
          {"shots", r.shots},
          {"pred", std::string(1, r.pred)},
          {"gold", std::string(1, r.gold)},
          {"logits", {r.logits[0], r.logits[1], r.logits[2], r.logits[3]}},
          {"prompt_hash", hex64(r.prompt_hash)}};
}

McqQuestionResult from_json(const nlohmann::json& j) {
  McqQuestionResult r;
  r.dataset = j.at("dataset").get<std::string>();
  r.subject = j.at("subject").get<std::string>();
  r.index = j.at("index").get<int>();
  r.shots = j.at("shots").get<int>();
  const std::string pred = j.at("pred").get<std::string>(), gold = j.at("gold").get<std::string>();
  if (pred.size() != 1 || gold.size() != 1) throw std::runtime_error("pred and gold must be one letter");
  r.pred = pred[0];
  r.gold = gold[0];
  const auto& l = j.at("logits");
  if (!l.is_array() || l.size() != 4) throw std::runtime_error("logits must be 4 numbers");
  for (int k = 0; k < 4; ++k) r.logits[static_cast<size_t>(k)] = l[static_cast<size_t>(k)].get<float>();
  // Absent (a journal of an older version): 0, which matches no question, so it is scored again.
  if (j.contains("prompt_hash")) {
    const std::string h = j.at("prompt_hash").get<std::string>();
    size_t used = 0;
    r.prompt_hash = h.size() == 16 ? std::stoull(h, &used, 16) : 0;
    if (used != 16) throw std::runtime_error("prompt_hash must be 16 hex digits");
  }
  return r;
}

// "model_fingerprint: 1a2b... -> 3c4d..., chat: false -> true" for the keys whose values differ.
std::string differing_keys(const nlohmann::json& was, const nlohmann::json& now) {
  if (!was.is_object() || !now.is_object()) return was.dump() + " -> " + now.dump();
  std::string out;
  auto note = [&](const std::string& key) {
    const nlohmann::json a = was.contains(key) ? was.at(key) : nlohmann::json(),
                         b = now.contains(key) ? now.at(key) : nlohmann::json();
    if (a == b) return;
    if (!out.empty()) out += ", ";
    out += key + ": " + a.dump() + " -> " + b.dump();
    if (key == "model_fingerprint") out += " (the model's files changed)";
  };
  for (const auto& [k, v] : now.items()) note(k);
  for (const auto& [k, v] : was.items()) {
    if (!now.contains(k)) note(k);
  }
  return out;
}

}  // namespace

McqJournal::McqJournal(std::string path, const nlohmann::json& settings, bool fresh) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fresh) fs::remove(path_, ec);
  if (fs::exists(path_)) {
    std::string text = read_file(path_);
    // A write cut short leaves a last line without its newline: drop it (that question is re-scored).
    const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    if (keep < text.size()) {
      text.resize(keep);
      fs::resize_file(path_, keep, ec);
      if (ec) fail(ErrorKind::kIo, path_, ": cannot truncate the torn last line: ", ec.message());
    }
    std::istringstream lines(text);
    std::string line;
    int no = 0;
    while (std::getline(lines, line)) {
      ++no;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        fail(ErrorKind::kFormat, path_, ":", no, ": not JSON (", e.what(), "); delete the journal or pass --fresh");
      }
      if (no == 1) {
        if (!j.is_object() || !j.contains("devops_model_eval_journal"))
          fail(ErrorKind::kFormat, path_, ":1: not an eval journal");
        if (j.value("settings", nlohmann::json()) != settings)
          fail(ErrorKind::kInvalidArgument, path_, ": journal of a run with other settings (",
               differing_keys(j.value("settings", nlohmann::json()), settings),
               "): pass --fresh to start over or use another --json path");
        continue;
      }
      try {
        McqQuestionResult r = from_json(j);
        Key k{r.dataset, r.subject, r.shots, r.index};
        done_[k] = std::move(r);
      } catch (const std::exception& e) {
        fail(ErrorKind::kFormat, path_, ":", no, ": ", e.what());
      }
    }
    if (no == 0) fs::remove(path_, ec);  // empty (torn header): start again below
  }
  const bool create = !fs::exists(path_);
  f_ = std::fopen(path_.c_str(), "ab");
  if (!f_) fail(ErrorKind::kIo, path_, ": cannot open the eval journal for writing");
  if (create) {
    const std::string header = nlohmann::json{{"devops_model_eval_journal", 1}, {"settings", settings}}.dump() + "\n";
    if (std::fwrite(header.data(), 1, header.size(), f_) != header.size() || std::fflush(f_) != 0)
      fail(ErrorKind::kIo, path_, ": write failed");
  }
}

McqJournal::~McqJournal() {
  if (f_) std::fclose(f_);
}

const McqQuestionResult* McqJournal::find(const std::string& dataset, const std::string& subject, int shots,
                                          int index) const {
  auto it = done_.find(Key{dataset, subject, shots, index});
  return it == done_.end() ? nullptr : &it->second;
}

void McqJournal::append(const McqQuestionResult& r) {
  const std::string line = to_json(r).dump() + "\n";
  if (!f_ || std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    fail(ErrorKind::kIo, path_, ": write failed");
}

void McqJournal::remove() {
  if (f_) std::fclose(f_);
  f_ = nullptr;
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

}  // namespace dm
