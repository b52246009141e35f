// devops-model ppl: sliding-window perplexity of a text file (eval/perplexity.h).
#include <algorithm>
#include <cstdio>

#include "cli/command.h"
#include "cli/model_args.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/core/progress.h"
#include "devops_model/eval/perplexity.h"
#include "devops_model/generate/chat_session.h"
#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm::cli {
namespace {

struct PplArgs {
  ModelArgs m;
  std::string file;
  int window = 0, stride = 0;
  bool quiet = false;
};

int run_ppl(const PplArgs& a) {
  Progress::set_quiet(a.quiet);
  auto tok = Tokenizer::from_dir(a.m.dir);
  const std::string text = read_file(a.file);
  // Plain text: special-token strings in the file stay text.
  std::vector<int32_t> ids = tok->encode(text, false);
  auto model = a.m.load();
  check_tokenizer_fits(*model, *tok);
  int window = a.window > 0 ? a.window : std::min(model->config().max_position_embeddings, 2048);
  int stride = a.stride > 0 ? a.stride : std::max(1, window / 2);
  PerplexityResult r = perplexity(*model, ids, window, stride, !a.quiet);
  std::printf("tokens %zu scored %lld windows %d window %d stride %d\nnll %.6f\nppl %.4f\n", ids.size(),
              static_cast<long long>(r.tokens), r.windows, window, stride, r.mean_nll(), r.ppl());
  return 0;
}

Registrar reg{{"ppl", "perplexity of a text file (sliding window)", [](CLI::App& app) {
                 auto a = std::make_shared<PplArgs>();
                 a->m.add(app);
                 app.add_option("--file", a->file, "UTF-8 text file")->required();
                 app.add_option("--window", a->window, "tokens per window (default min(context, 2048))");
                 app.add_option("--stride", a->stride, "tokens between window starts (default window/2)");
                 app.add_flag("--quiet", a->quiet, "no progress bar");
                 return [a]() { return run_ppl(*a); };
               }}};

}  // namespace
}  // namespace dm::cli
