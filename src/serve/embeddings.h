// POST /v1/embeddings (transport side kept in server.cpp): the request, the two embedders and the response.
//  - Embedder: a model that turns token sequences into one vector each. sbert_embedder(): the Sentence-BERT
//    encoder `data` uses (WordPiece + BertEncoder, pooling and normalisation as the model dir declares);
//    decoder_embedder(): the served decoder's final hidden states (after the final norm) mean-pooled over
//    the tokens and L2-normalised.
//  - EmbeddingsService: one request end to end (parse, model name, tokenise and check lengths, run under
//    the caller's admission gate, JSON), throwing ApiError for what the client got wrong.
// The OpenAI shapes: input = a string, a list of strings, a list of token ids or a list of such lists;
// encoding_format float | base64 (little-endian float32 bytes, base64'd); dimensions only as the model's.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "devops_model/model/model.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual int dimensions() const = 0;
  virtual int max_tokens() const = 0;  // per input, special tokens included
  virtual int vocab_size() const = 0;  // token ids a request may send: [0, vocab_size)
  // The ids the model runs for a text, and for token ids a client sent (BERT adds [CLS] ... [SEP]).
  virtual std::vector<int32_t> tokenize(std::string_view text) const = 0;
  virtual std::vector<int32_t> wrap_ids(std::vector<int32_t> ids) const { return ids; }
  // One vector of dimensions() per sequence, in input order; several sequences run batched.
  // Sequences must be non-empty and at most max_tokens() long.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::vector<int32_t>>& seqs) const = 0;
};

// Loads vocab.txt, tokenizer_config.json, config.json, the weights and the pooling config of `dir`.
std::unique_ptr<Embedder> sbert_embedder(const std::string& dir);
// Texts are tokenised as plain text (special-token strings are not special). `model` and `tok` must
// outlive the embedder. Inputs are batched up to `batch_tokens` rows per forward (one longer input runs
// alone).
std::unique_ptr<Embedder> decoder_embedder(const Model& model, const Tokenizer& tok, int batch_tokens = 2048);

struct EmbeddingsRequest {
  std::string model;  // empty: the served one
  struct Input {
    std::string text;
    std::vector<int32_t> ids;
    bool is_ids = false;
  };
  std::vector<Input> inputs;
  bool base64 = false;
  std::optional<long long> dimensions;
};

inline constexpr size_t kMaxEmbeddingInputs = 2048;  // OpenAI's limit per request

// ApiError(400) naming the field: not JSON, input missing / empty / of the wrong type / more than
// kMaxEmbeddingInputs, encoding_format not float|base64, dimensions not a positive integer.
EmbeddingsRequest parse_embeddings_request(std::string_view body);

// Standard base64 (RFC 4648, padded) of the floats' little-endian bytes.
std::string base64_floats(std::span<const float> v);

// {"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}
nlohmann::json embeddings_response(const std::vector<std::vector<float>>& rows, bool base64, const std::string& model,
                                   long long prompt_tokens);

class EmbeddingsService {
 public:
  // Held while the embedder runs; the gate throws ApiError (503) when the server is too busy.
  using Gate = std::function<std::shared_ptr<void>()>;
  // Runs the embedder's forward (the server: on its generation thread, Scheduler::run_compute); empty:
  // on the calling thread.
  using Compute = std::function<void(const std::function<void()>&)>;
  // `id`: the model name responses report; requests may name it or one of `also_accepted`.
  EmbeddingsService(std::unique_ptr<Embedder> embedder, std::string id, std::vector<std::string> also_accepted,
                    Gate gate, Compute compute = {});

  struct Result {
    nlohmann::json body;
    long long prompt_tokens = 0;
    int inputs = 0;
  };
  // ApiError: 400 bad field / dimensions other than the model's / an input over max_tokens() or with an
  // id outside the vocabulary (param "input"), 404 unknown model name, what the gate throws.
  Result handle(std::string_view body) const;

  const Embedder& embedder() const { return *embedder_; }
  const std::string& id() const { return id_; }

 private:
  std::unique_ptr<Embedder> embedder_;
  std::string id_;
  std::vector<std::string> accepted_;
  Gate gate_;
  Compute compute_;
};

// A gate letting one caller run at a time with at most `max_waiting` waiting; past that ApiError(503).
EmbeddingsService::Gate exclusive_gate(int max_waiting);

}  // namespace dm
