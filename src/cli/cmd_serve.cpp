// devops-model serve: OpenAI-compatible API + web chat page (see include/devops_model/serve/server.h).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/generation_args.h"
#include "cli/model_args.h"
#include "devops_model/generate/chat_session.h"
#include "devops_model/serve/server.h"

namespace dm::cli {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

struct Args {
  ModelArgs model;
  GenerationArgs gen;
  ServerOptions server;
};

Registrar reg{{"serve", "OpenAI-compatible HTTP server (chat/completions, SSE) with a web chat page",
               [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  a->model.add(app);
  a->gen.add(app);
  app.add_option("--host", a->server.host, "address to bind (default loopback)")->capture_default_str();
  app.add_option("--port", a->server.port, "port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--api-key", a->server.api_key, "require 'Authorization: Bearer KEY' on /v1/*");
  app.add_option("--parallel", a->server.parallel, "requests generating at once (slots)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--queue", a->server.max_queue, "requests allowed to wait for a slot before 503")
      ->check(CLI::Range(0, 4096))
      ->capture_default_str();
  app.add_option("--max-body", a->server.max_body_bytes, "largest request body in bytes")->capture_default_str();
  app.add_option("--model-name", a->server.model_id, "model id clients use (default: the directory name)");
  app.add_option("--embedding-model", a->server.embedding_model,
                 "Sentence-BERT directory for /v1/embeddings (default: the model's mean-pooled hidden state)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--allowed-hosts", a->server.allowed_hosts,
                 "extra Host header names to accept (a,b); others get 403 on a loopback bind")
      ->delimiter(',');
  app.add_option("--cors-origin", a->server.cors_origins,
                 "origins allowed to call the API from a browser (a,b; '*': any; default none)")
      ->delimiter(',');
  app.add_option("--request-timeout", a->server.request_timeout_s,
                 "seconds a request's headers and body may take to arrive (a connection still sending is cut)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--idle-timeout", a->server.idle_timeout_s,
                 "seconds a kept-alive connection waits for its next request")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--max-conns-per-client", a->server.max_conns_per_client,
                 "open connections one client address may hold; more get 429 (0: no cap; default: no cap on a "
                 "loopback bind, 16 otherwise)")
      ->check(CLI::Range(0, 100000));
  return [a]() {
    auto model = a->model.load();
    auto tok = Tokenizer::from_dir(a->model.dir);
    GenerationParams params = a->gen.params_for(a->model.dir);
    check_model_inputs(*model, *tok, params);
    Server server(*model, *tok, params, a->server);
    int port = server.start();
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::fprintf(stderr, "serving %s on http://%s:%d/ (%d slot%s)\n", server.model_id().c_str(), a->server.host.c_str(),
                 port, a->server.parallel, a->server.parallel == 1 ? "" : "s");
    std::printf("%d\n", port);  // first line of stdout: the port (scripts and tests read it)
    std::fflush(stdout);
    while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::fprintf(stderr, "shutting down\n");
    server.stop();
    return 0;
  };
               }}};

}  // namespace
}  // namespace dm::cli
