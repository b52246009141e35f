#include "serve/embeddings.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "devops_model/core/error.h"
#include "devops_model/model/bert_encoder.h"
#include "devops_model/tokenizer/wordpiece.h"
#include "serve/openai_api.h"

namespace dm {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& where, const std::string& message, const std::string& param = "") {
  throw ApiError(400, "'" + where + "': " + message, param.empty() ? where : param);
}

// L2-normalised as F.normalize: x / max(||x||, 1e-12).
void l2_normalise(std::vector<float>& v) {
  double ss = 0;
  for (float x : v) ss += static_cast<double>(x) * x;
  const double inv = 1.0 / std::max(std::sqrt(ss), 1e-12);
  for (float& x : v) x = static_cast<float>(x * inv);
}

class SbertEmbedder : public Embedder {
 public:
  explicit SbertEmbedder(const std::string& dir)
      : tok_(WordPieceTokenizer::load_dir(dir)), enc_(BertEncoder::load_dir(dir)) {
    // As data's SbertFeaturiser: the tokenizer's model_max_length, capped by the position table.
    max_tokens_ = static_cast<int>(
        std::clamp<int64_t>(tok_.options().model_max_length, 2, enc_.config().max_position_embeddings));
  }
  int dimensions() const override { return static_cast<int>(enc_.config().hidden_size); }
  int max_tokens() const override { return max_tokens_; }
  int vocab_size() const override { return static_cast<int>(enc_.config().vocab_size); }
  std::vector<int32_t> tokenize(std::string_view text) const override {
    // Untruncated (an input over max_tokens() is refused, not cut): room for every piece.
    return tok_.encode(text, static_cast<int64_t>(text.size()) + 3);
  }
  std::vector<int32_t> wrap_ids(std::vector<int32_t> ids) const override {
    ids.insert(ids.begin(), tok_.cls_id());
    ids.push_back(tok_.sep_id());
    return ids;
  }
  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& seqs) const override {
    Tensor e = enc_.encode(seqs, kBatch);
    const size_t C = static_cast<size_t>(dimensions());
    std::vector<std::vector<float>> out(seqs.size());
    for (size_t i = 0; i < seqs.size(); ++i) out[i].assign(e.f32() + i * C, e.f32() + (i + 1) * C);
    return out;
  }

 private:
  static constexpr int64_t kBatch = 32;  // data's default batch (SbertFeaturiser)
  WordPieceTokenizer tok_;
  BertEncoder enc_;
  int max_tokens_ = 0;
};

class DecoderEmbedder : public Embedder {
 public:
  DecoderEmbedder(const Model& m, const Tokenizer& t, int batch_tokens)
      : model_(m), tok_(t), batch_tokens_(std::max(batch_tokens, 1)) {}
  int dimensions() const override { return model_.config().hidden_size; }
  int max_tokens() const override { return model_.config().context_length(); }
  int vocab_size() const override { return model_.config().vocab_size; }
  std::vector<int32_t> tokenize(std::string_view text) const override {
    return tok_.encode(text, /*allow_special=*/false);
  }
  std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& seqs) const override {
    const size_t C = static_cast<size_t>(dimensions());
    std::vector<std::vector<float>> out(seqs.size());
    for (size_t i = 0; i < seqs.size();) {
      // [i, j): inputs whose tokens together fit batch_tokens_ rows (at least one).
      size_t j = i, rows = 0;
      while (j < seqs.size() && (j == i || rows + seqs[j].size() <= static_cast<size_t>(batch_tokens_)))
        rows += seqs[j++].size();
      std::vector<std::unique_ptr<KVCache>> caches;
      std::vector<std::vector<float>> hidden(j - i);
      std::vector<Model::BatchItem> items;
      for (size_t k = i; k < j; ++k) {
        caches.push_back(model_.new_cache(static_cast<int>(seqs[k].size())));
        items.push_back({seqs[k], caches.back().get(), nullptr, true, &hidden[k - i]});
      }
      model_.forward_batch(items);
      for (size_t k = i; k < j; ++k) {
        const std::vector<float>& h = hidden[k - i];
        const size_t T = seqs[k].size();
        std::vector<double> sum(C, 0.0);
        for (size_t t = 0; t < T; ++t)
          for (size_t c = 0; c < C; ++c) sum[c] += h[t * C + c];
        std::vector<float>& o = out[k];
        o.resize(C);
        for (size_t c = 0; c < C; ++c) o[c] = static_cast<float>(sum[c] / static_cast<double>(T));
        l2_normalise(o);
      }
      i = j;
    }
    return out;
  }

 private:
  const Model& model_;
  const Tokenizer& tok_;
  int batch_tokens_;
};

std::vector<int32_t> token_list(const json& a, const std::string& where) {
  std::vector<int32_t> ids;
  ids.reserve(a.size());
  for (const auto& v : a) {
    int64_t id = -1;
    if (v.is_number_unsigned()) {
      id = v.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX) ? INT64_MAX : static_cast<int64_t>(v.get<uint64_t>());
    } else if (v.is_number_integer()) {
      id = v.get<int64_t>();
    }
    if (id < 0 || id > INT32_MAX) bad(where, "token ids must be integers in [0, 2^31)", "input");
    ids.push_back(static_cast<int32_t>(id));
  }
  if (ids.empty()) bad(where, "must not be empty", "input");
  return ids;
}

}  // namespace

std::unique_ptr<Embedder> sbert_embedder(const std::string& dir) { return std::make_unique<SbertEmbedder>(dir); }

std::unique_ptr<Embedder> decoder_embedder(const Model& model, const Tokenizer& tok, int batch_tokens) {
  return std::make_unique<DecoderEmbedder>(model, tok, batch_tokens);
}

EmbeddingsRequest parse_embeddings_request(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    throw ApiError(400, std::string("request body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "request body must be a JSON object");
  EmbeddingsRequest r;
  if (auto it = j.find("model"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) bad("model", "expected a string");
    r.model = it->get<std::string>();
  }
  auto it = j.find("input");
  if (it == j.end() || it->is_null()) bad("input", "required");
  const json& in = *it;
  const char* kShape = "expected a string, a list of strings, a list of token ids or a list of such lists";
  if (in.is_string()) {
    r.inputs.push_back({in.get<std::string>(), {}, false});
  } else if (in.is_array()) {
    if (in.empty()) bad("input", "must not be an empty list");
    if (in[0].is_number()) {  // one token list
      r.inputs.push_back({"", token_list(in, "input"), true});
    } else {
      if (in.size() > kMaxEmbeddingInputs)
        bad("input",
            "at most " + std::to_string(kMaxEmbeddingInputs) + " inputs per request, got " + std::to_string(in.size()));
      const bool strings = in[0].is_string();
      for (size_t i = 0; i < in.size(); ++i) {
        const std::string where = "input[" + std::to_string(i) + "]";
        if (strings && in[i].is_string()) {
          r.inputs.push_back({in[i].get<std::string>(), {}, false});
        } else if (!strings && in[i].is_array()) {
          r.inputs.push_back({"", token_list(in[i], where), true});
        } else {
          bad(where, std::string(kShape) + " (all items of one kind)", "input");
        }
      }
    }
  } else {
    bad("input", kShape);
  }
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    if (!r.inputs[i].is_ids && r.inputs[i].text.empty())
      bad(r.inputs.size() == 1 && j["input"].is_string() ? "input" : "input[" + std::to_string(i) + "]",
          "must not be empty", "input");
  }
  if (auto f = j.find("encoding_format"); f != j.end() && !f->is_null()) {
    if (!f->is_string() || (*f != "float" && *f != "base64"))
      bad("encoding_format", "expected \"float\" or \"base64\"");
    r.base64 = *f == "base64";
  }
  if (auto d = j.find("dimensions"); d != j.end() && !d->is_null()) {
    if (!d->is_number_integer() || (!d->is_number_unsigned() && d->get<long long>() < 1))
      bad("dimensions", "expected a positive integer");
    r.dimensions = d->is_number_unsigned() ? static_cast<long long>(std::min<uint64_t>(d->get<uint64_t>(), INT64_MAX))
                                           : d->get<long long>();
  }
  if (auto u = j.find("user"); u != j.end() && !u->is_null() && !u->is_string()) bad("user", "expected a string");
  return r;
}

std::string base64_floats(std::span<const float> v) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + static_cast<size_t>(b)] = static_cast<char>((u >> (8 * b)) & 0xff);
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t n = static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

json embeddings_response(const std::vector<std::vector<float>>& rows, bool base64, const std::string& model,
                         long long prompt_tokens) {
  json data = json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    json e = base64 ? json(base64_floats(rows[i])) : json(rows[i]);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(e)}});
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

EmbeddingsService::EmbeddingsService(std::unique_ptr<Embedder> embedder, std::string id,
                                     std::vector<std::string> also_accepted, Gate gate, Compute compute)
    : embedder_(std::move(embedder)),
      id_(std::move(id)),
      accepted_(std::move(also_accepted)),
      gate_(std::move(gate)),
      compute_(std::move(compute)) {
  if (id_.empty()) id_ = "devops-model";
}

EmbeddingsService::Result EmbeddingsService::handle(std::string_view body) const {
  EmbeddingsRequest r = parse_embeddings_request(body);
  if (!r.model.empty() && r.model != id_ && std::find(accepted_.begin(), accepted_.end(), r.model) == accepted_.end())
    throw ApiError(404, "The model '" + r.model + "' does not exist; this server embeds with '" + id_ + "'", "model",
                   "model_not_found");
  const Embedder& e = *embedder_;
  if (r.dimensions && *r.dimensions != e.dimensions())
    bad("dimensions", "this model's embeddings have " + std::to_string(e.dimensions()) +
                          " dimensions and cannot be shortened (send " + std::to_string(e.dimensions()) +
                          " or leave it out)");
  std::vector<std::vector<int32_t>> seqs;
  seqs.reserve(r.inputs.size());
  Result res;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const EmbeddingsRequest::Input& in = r.inputs[i];
    const std::string where = r.inputs.size() == 1 ? "input" : "input[" + std::to_string(i) + "]";
    if (in.is_ids) {
      for (int32_t id : in.ids)
        if (id >= e.vocab_size())
          bad(where,
              "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(e.vocab_size()) +
                  ")",
              "input");
    }
    seqs.push_back(in.is_ids ? e.wrap_ids(in.ids) : e.tokenize(in.text));
    if (seqs.back().empty()) bad(where, "has no tokens", "input");
    if (static_cast<int>(seqs.back().size()) > e.max_tokens())
      throw ApiError(400,
                     "'" + where + "': this model's maximum input length is " + std::to_string(e.max_tokens()) +
                         " tokens, but the input has " + std::to_string(seqs.back().size()) + " tokens",
                     "input", "context_length_exceeded");
    res.prompt_tokens += static_cast<long long>(seqs.back().size());
  }
  std::vector<std::vector<float>> rows;
  {
    std::shared_ptr<void> admitted = gate_ ? gate_() : nullptr;
    const std::function<void()> job = [&] { rows = embedder_->embed(seqs); };
    if (compute_) compute_(job);
    else job();
  }
  for (const auto& row : rows) {
    for (float x : row)
      if (!std::isfinite(x)) fail(ErrorKind::kFormat, id_, ": the embedding is not finite (NaN/Inf weights?)");
  }
  res.inputs = static_cast<int>(rows.size());
  res.body = embeddings_response(rows, r.base64, id_, res.prompt_tokens);
  return res;
}

EmbeddingsService::Gate exclusive_gate(int max_waiting) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool busy = false;
    int waiting = 0;
  };
  auto st = std::make_shared<State>();
  return [st, max_waiting]() -> std::shared_ptr<void> {
    std::unique_lock<std::mutex> lk(st->mu);
    if (st->busy) {
      if (st->waiting >= max_waiting)
        throw ApiError(503,
                       "server busy: an embedding request is running and " + std::to_string(st->waiting) +
                           " are waiting; retry later",
                       "", "server_busy", "server_error");
      ++st->waiting;
      st->cv.wait(lk, [&] { return !st->busy; });
      --st->waiting;
    }
    st->busy = true;
    return std::shared_ptr<void>(nullptr, [st](void*) {
      {
        std::lock_guard<std::mutex> g(st->mu);
        st->busy = false;
      }
      st->cv.notify_one();
    });
  };
}

}  // namespace dm
