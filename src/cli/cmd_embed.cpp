// `devops-model embed --model BERT_DIR --jsonl FILE --out FILE.safetensors`: Sentence-BERT embeddings
// of a JSONL corpus (tensor `embeddings` F32 [N, H], `line` I64 [N]). Parses arguments and prints.
#include <cstdio>

#include "cli/command.h"
#include "devops_model/data/embed.h"

namespace dm::cli {
namespace {

Registrar reg{{"embed", "Sentence-BERT embeddings of a JSONL file -> safetensors", [](CLI::App& app) {
                 auto o = std::make_shared<data::EmbedOptions>();
                 auto threads = std::make_shared<int>(0);
                 app.add_option("--model", o->model_dir, "BERT / Sentence-BERT model directory")->required();
                 app.add_option("--jsonl", o->input, "input JSONL (.jsonl or .jsonl.zst)")->required();
                 app.add_option("--field", o->reader.text_field, "JSON field holding the text (default: text)");
                 app.add_option("--out", o->output, "output .safetensors")->required();
                 app.add_option("--batch", o->batch_size, "sequences per encoder pass")->check(CLI::PositiveNumber);
                 app.add_option("--max-length", o->max_length, "tokens per text (default: the model's)")
                     ->check(CLI::NonNegativeNumber);
                 app.add_flag("--strict", o->reader.strict, "stop at the first bad input line");
                 add_threads_option(app, threads.get());
                 return
                     [o, threads]() {
    apply_threads(*threads);
    data::EmbedReport r = data::embed_jsonl(*o);
    for (const auto& e : r.bad_input.examples) std::fprintf(stderr, "skipped %s\n", e.c_str());
    if (r.bad_input.total() > static_cast<int64_t>(r.bad_input.examples.size()))
      std::fprintf(stderr, "... %lld bad lines in all\n", static_cast<long long>(r.bad_input.total()));
    std::printf("%lld texts -> %s (embeddings [%lld, %lld]); %.1f texts/s\n", static_cast<long long>(r.rows),
                o->output.c_str(), static_cast<long long>(r.rows), static_cast<long long>(r.dims),
                r.seconds > 0 ? static_cast<double>(r.rows) / r.seconds : 0.0);
    return 0;  // like `data clean`: bad lines are skipped and reported, the good ones embedded
                     };
               }}};

}  // namespace
}  // namespace dm::cli
