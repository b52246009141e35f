#include "devops_model/eval/report.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

namespace dm {

namespace {

std::string pct(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * x);
  return buf;
}

const McqSubjectResult* find_subject(const McqReport& r, const std::string& ds, const std::string& s, int k) {
  for (const auto& x : r.subjects) {
    if (x.dataset == ds && x.subject == s && x.shots == k) return &x;
  }
  return nullptr;
}

// Distinct (dataset, subject) pairs in first-seen order.
std::vector<std::pair<std::string, std::string>> subject_keys(const McqReport& r) {
  std::vector<std::pair<std::string, std::string>> keys;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& s : r.subjects) {
    if (seen.insert({s.dataset, s.subject}).second) keys.emplace_back(s.dataset, s.subject);
  }
  return keys;
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

}  // namespace

std::string mcq_markdown(const McqReport& r, const McqRunInfo& info) {
  std::string s = "| 模型 |";
  std::string rule = "|---|";
  for (const auto& o : r.overall) {
    s += " " + std::to_string(o.shots) + "-shot |";
    rule += "---|";
  }
  s += "\n" + rule + "\n| " + info.model + " |";
  for (const auto& o : r.overall) s += " " + pct(o.micro) + " |";
  s += "\n\n| dataset | subject | split |";
  rule = "|---|---|---|";
  for (const auto& o : r.overall) {
    s += " " + std::to_string(o.shots) + "-shot |";
    rule += "---|";
  }
  s += "\n" + rule + "\n";
  for (const auto& [ds, sub] : subject_keys(r)) {
    std::string split;
    std::string cells;
    for (const auto& o : r.overall) {
      const auto* x = find_subject(r, ds, sub, o.shots);
      if (x) split = x->split;
      cells += x ? " " + pct(x->accuracy()) + " (" + std::to_string(x->correct) + "/" + std::to_string(x->total) + ") |"
                 : " - |";
    }
    s += "| " + ds + " | " + sub + " | " + split + " |" + cells + "\n";
  }
  s += "| **all (micro)** | | |";
  for (const auto& o : r.overall) {
    s += " **" + pct(o.micro) + "** (" + std::to_string(o.correct) + "/" + std::to_string(o.total) + ") |";
  }
  s += "\n| macro | | |";
  for (const auto& o : r.overall) s += " " + pct(o.macro) + " |";
  s += "\n";
  return s;
}

std::string mcq_json(const McqReport& r, const McqRunInfo& info) {
  using nlohmann::json;
  json j;
  j["model"] = info.model;
  j["convention"] = info.convention;
  j["chat"] = info.chat;
  if (info.chat) j["system"] = info.system;
  json qs = json::array();
  for (const auto& q : r.questions) {
    qs.push_back({{"dataset", q.dataset},
                  {"subject", q.subject},
                  {"index", q.index},
                  {"shots", q.shots},
                  {"pred", std::string(1, q.pred)},
                  {"gold", std::string(1, q.gold)},
                  {"logits", {q.logits[0], q.logits[1], q.logits[2], q.logits[3]}}});
  }
  j["questions"] = std::move(qs);
  json subs = json::array();
  for (const auto& s : r.subjects) {
    subs.push_back({{"dataset", s.dataset},
                    {"subject", s.subject},
                    {"split", s.split},
                    {"shots", s.shots},
                    {"correct", s.correct},
                    {"total", s.total},
                    {"accuracy", s.accuracy()}});
  }
  j["subjects"] = std::move(subs);
  json ov = json::array();
  for (const auto& o : r.overall) {
    ov.push_back({{"shots", o.shots},
                  {"correct", o.correct},
                  {"total", o.total},
                  {"micro", o.micro},
                  {"macro", o.macro},
                  {"seconds", o.seconds},
                  {"questions_per_s", o.seconds > 0 ? o.total / o.seconds : 0.0}});
  }
  j["overall"] = std::move(ov);
  j["prefix_reused"] = r.prefix_reused;
  j["full_forward"] = r.full_forward;
  return j.dump(1) + "\n";
}

std::string mcq_svg(const McqReport& r, const McqRunInfo& info) {
  const auto keys = subject_keys(r);
  const int groups = static_cast<int>(keys.size()) + 1;  // + "all (micro)"
  const int per = static_cast<int>(r.overall.size());
  const int bar_w = 18, gap = 24, left = 50, top = 40, height = 240, bottom = 110;
  const int group_w = per * bar_w + gap;
  const int width = left + groups * group_w + 20;
  static const char* kColors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1"};
  char buf[512];
  std::string s;
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                "font-size=\"11\">\n",
                width, top + height + bottom);
  s += buf;
  s += "<text x=\"" + std::to_string(left) + "\" y=\"20\" font-size=\"14\">" + xml_escape(info.model) +
       " — accuracy (%), convention " + xml_escape(info.convention) + (info.chat ? ", chat" : "") + "</text>\n";
  for (int t = 0; t <= 100; t += 25) {
    const int y = top + height - t * height / 100;
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" "
                  "text-anchor=\"end\">%d</text>\n",
                  left, y, width - 10, y, left - 4, y + 4, t);
    s += buf;
  }
  for (int g = 0; g < groups; ++g) {
    const int x0 = left + g * group_w + gap / 2;
    for (int k = 0; k < per; ++k) {
      const auto& o = r.overall[k];
      double acc = o.micro;
      if (g < static_cast<int>(keys.size())) {
        const auto* x = find_subject(r, keys[g].first, keys[g].second, o.shots);
        acc = x ? x->accuracy() : 0.0;
      }
      const int h = static_cast<int>(acc * height + 0.5);
      std::snprintf(
          buf, sizeof buf,
          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%d-shot %.2f</title></rect>\n",
          x0 + k * bar_w, top + height - h, bar_w - 2, h, kColors[k % 6], o.shots, 100.0 * acc);
      s += buf;
    }
    const std::string label = g < static_cast<int>(keys.size()) ? keys[g].second : "all (micro)";
    std::snprintf(buf, sizeof buf, "<text transform=\"translate(%d,%d) rotate(40)\">", x0, top + height + 14);
    s += buf + xml_escape(label) + "</text>\n";
  }
  for (int k = 0; k < per; ++k) {
    std::snprintf(
        buf, sizeof buf,
        "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%d-shot</text>\n",
        width - 80, 8 + k * 14, kColors[k % 6], width - 66, 17 + k * 14, r.overall[k].shots);
    s += buf;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace dm
