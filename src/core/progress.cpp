#include "devops_model/core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace dm {

namespace {
bool g_quiet = false;

std::string fmt_secs(double s) {
  if (s < 0 || s > 1e7) return "?";
  char buf[32];
  int t = static_cast<int>(s + 0.5);
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  }
  return buf;
}
}  // namespace

void Progress::set_quiet(bool q) { g_quiet = q; }

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), tty_(isatty(STDERR_FILENO) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::add(int64_t n) { set(done_ + n); }

void Progress::set(int64_t done) {
  done_ = done;
  draw(false);
}

void Progress::set_suffix(std::string suffix) { suffix_ = std::move(suffix); }

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
  if (tty_ && !g_quiet) std::fputc('\n', stderr);
}

void Progress::draw(bool force) {
  if (g_quiet) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (!force && since < (tty_ ? 0.1 : 5.0)) return;
  last_draw_ = now;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
  char line[512];
  if (total_ > 0) {
    double frac = static_cast<double>(done_) / static_cast<double>(total_);
    if (frac > 1) frac = 1;
    double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : -1;
    std::string bar;
    if (tty_) {
      int w = 24, fill = static_cast<int>(frac * w);
      bar = "[" + std::string(fill, '#') + std::string(w - fill, '.') + "] ";
    }
    std::snprintf(line, sizeof line, "%s %s%3.0f%% %lld/%lld %s, %.1f %s/s, ETA %s %s", label_.c_str(), bar.c_str(),
                  frac * 100, static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), rate,
                  unit_.c_str(), fmt_secs(eta).c_str(), suffix_.c_str());
  } else {
    std::snprintf(line, sizeof line, "%s %lld %s, %.1f %s/s, %s elapsed %s", label_.c_str(),
                  static_cast<long long>(done_), unit_.c_str(), rate, unit_.c_str(), fmt_secs(elapsed).c_str(),
                  suffix_.c_str());
  }
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", line);
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

}  // namespace dm
