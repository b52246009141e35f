// Progress reporting for long work: a redrawn bar with rate and ETA on a TTY, plain lines otherwise
// (at most one line every few seconds, so logs stay readable). Writes to stderr.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace dm {

class Progress {
 public:
  // total <= 0: unknown total (no percentage or ETA). unit: "tok", "q", "docs", ...
  Progress(std::string label, int64_t total, std::string unit);
  ~Progress();
  void add(int64_t n = 1);
  void set(int64_t done);
  void set_suffix(std::string suffix);  // extra text, e.g. "loss 2.31"
  void finish();
  // Quiet mode for tests and --quiet: nothing printed anywhere.
  static void set_quiet(bool q);

 private:
  void draw(bool force);
  std::string label_, unit_, suffix_;
  int64_t total_, done_ = 0;
  bool tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace dm
