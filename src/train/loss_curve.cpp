// Loss curve as a small standalone SVG (polyline over steps, min/max labels).
#include <algorithm>
#include <sstream>

#include "devops_model/core/mapped_file.h"
#include "devops_model/train/trainer.h"

namespace dm {

void write_loss_svg(const std::vector<StepLog>& history, const std::string& path) {
  const double W = 640, H = 360, pad = 40;
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << pad << "\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">training loss</text>\n";
  if (!history.empty()) {
    double lo = history[0].loss, hi = history[0].loss;
    for (const StepLog& l : history) lo = std::min(lo, l.loss), hi = std::max(hi, l.loss);
    if (hi - lo < 1e-12) hi = lo + 1;
    const double first = static_cast<double>(history.front().step), last = static_cast<double>(history.back().step);
    const double span = std::max(1.0, last - first);
    s << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"";
    for (const StepLog& l : history) {
      const double x = pad + (static_cast<double>(l.step) - first) / span * (W - 2 * pad);
      const double y = H - pad - (l.loss - lo) / (hi - lo) * (H - 2 * pad);
      s << x << "," << y << " ";
    }
    s << "\"/>\n";
    s << "<text x=\"4\" y=\"" << pad << "\" font-size=\"11\">" << hi << "</text>\n";
    s << "<text x=\"4\" y=\"" << H - pad << "\" font-size=\"11\">" << lo << "</text>\n";
    s << "<text x=\"" << W - pad << "\" y=\"" << H - 10 << "\" font-size=\"11\">step " << last << "</text>\n";
  }
  s << "</svg>\n";
  write_file_atomic(path, s.str());
}

}  // namespace dm
