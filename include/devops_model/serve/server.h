// devops-model serve: the OpenAI-compatible HTTP transport over a Scheduler, plus the web chat page.
//   POST /v1/chat/completions, POST /v1/completions (stream=true: server-sent events ending "data: [DONE]"),
//   POST /v1/embeddings (a Sentence-BERT model, or the decoder's mean-pooled final hidden state),
//   GET /v1/models, GET /health, GET /metrics (Prometheus text), GET / (the page).
// Errors are OpenAI error objects: 400 bad request / prompt over the context, 401 API key, 403 Host not
// allowed, 404 unknown model or route, 413 body too large, 415 API POST not application/json, 503 queue full. One JSON
// line per request goes to the access log, and one per connection refused over the per-client cap (429)
// or cut at its request deadline.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devops_model/generate/generation_params.h"
#include "devops_model/model/model.h"
#include "devops_model/serve/scheduler.h"
#include "devops_model/tokenizer/tokenizer.h"

namespace dm {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port (read it back from start())
  std::string api_key;             // non-empty: /v1/* and /metrics need "Authorization: Bearer <key>"
  int parallel = 1;                // scheduler slots
  int max_queue = 32;              // requests waiting for a slot before 503
  size_t max_body_bytes = 1 << 20;
  std::string model_id;  // the name /v1/models reports and requests must use (empty: the model dir's name)
  // /v1/embeddings: a Sentence-BERT model directory (the encoder `data` uses; loaded by the Server, named
  // by its directory), or empty: the served decoder's final hidden states, mean-pooled and L2-normalised.
  std::string embedding_model;
  // Cross-site protection. Bound to loopback (or given allowed_hosts), requests whose Host header is not
  // 127.0.0.1 / localhost / [::1] with the bound port, nor a name here, get 403 (DNS rebinding).
  std::vector<std::string> allowed_hosts;
  // Origins that get Access-Control-Allow-Origin and CORS preflight answers ("*": any); default none.
  std::vector<std::string> cors_origins;
  // Connections (see ConnectionGuard): a request's headers and body must arrive within request_timeout_s,
  // a kept-alive connection waits idle_timeout_s for the next; max_conns_per_client caps one address's
  // open connections (429 beyond it; 0: no cap; -1: none on a loopback bind, where every local client
  // shares 127.0.0.1, else 16).
  int request_timeout_s = 30;
  int idle_timeout_s = 5;
  int max_conns_per_client = -1;
  // Receives one JSON line per request (no newline); default: stderr.
  std::function<void(const std::string&)> access_log;
};

// 127.x.x.x, localhost, ::1.
bool is_loopback_host(const std::string& host);

class Server {
 public:
  // `model` and `tok` must outlive the server. `defaults`: generation_config.json, overridden per request.
  Server(const Model& model, const Tokenizer& tok, GenerationParams defaults, ServerOptions opts);
  ~Server();  // stops

  // Binds and serves on a background thread; returns the port. Error(kIo) when the address cannot be bound.
  int start();
  void stop();
  int port() const;
  const std::string& model_id() const;
  SchedulerStats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace dm
