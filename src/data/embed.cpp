// `devops-model embed`: JSONL -> Sentence-BERT embeddings in safetensors.
#include "devops_model/data/embed.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "data/featuriser.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/formats/safetensors.h"

namespace dm::data {

EmbedReport embed_jsonl(const EmbedOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  SbertFeaturiser sbert(opts.model_dir, opts.max_length, opts.batch_size);
  const int64_t H = sbert.dimensions();
  DocReader reader(opts.input, opts.reader);
  // Rows go to a spool file next to the output so that N need not be known (or held) up front.
  const std::string spool = opts.output + ".rows." + std::to_string(::getpid()) + ".tmp";
  std::vector<int64_t> lines;
  {
    std::ofstream rows(spool, std::ios::binary | std::ios::trunc);
    if (!rows) fail(ErrorKind::kIo, spool, ": cannot create");
    std::vector<Document> docs;
    for (bool more = true; more;) {
      docs.clear();
      Document d;
      while (static_cast<int64_t>(docs.size()) < opts.chunk_texts && (more = reader.next(&d))) {
        docs.push_back(std::move(d));
        lines.push_back(reader.line_number());
      }
      if (docs.empty()) break;
      std::vector<std::string_view> texts;
      for (const auto& doc : docs) texts.push_back(doc.text);
      Tensor e = sbert.embed(texts);
      rows.write(static_cast<const char*>(e.data()), static_cast<std::streamsize>(e.nbytes()));
    }
    if (!rows.flush()) fail(ErrorKind::kIo, spool, ": write failed");
  }
  const int64_t N = static_cast<int64_t>(lines.size());
  try {
    SafetensorsWriter w(opts.output, {{"embeddings", DType::kF32, {N, H}}, {"line", DType::kI64, {N}}});
    std::vector<float> none;
    std::shared_ptr<MappedFile> rows = N > 0 ? MappedFile::open(spool) : nullptr;  // paged in, not copied
    if (rows && rows->size() != static_cast<size_t>(N * H) * sizeof(float)) fail(ErrorKind::kIo, spool, ": short file");
    w.write_next(rows ? static_cast<const void*>(rows->data()) : none.data(),
                 static_cast<size_t>(N * H) * sizeof(float));
    w.write_next(lines.data(), lines.size() * sizeof(int64_t));
    w.commit();
  } catch (...) {
    std::filesystem::remove(spool);
    throw;
  }
  std::filesystem::remove(spool);
  EmbedReport r;
  r.rows = N;
  r.dims = H;
  r.bad_input = reader.bad();
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace dm::data
