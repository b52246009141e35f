#include "devops_model/serve/server.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>
#include <thread>

#include "devops_model/core/error.h"
#include "devops_model/generate/chat_session.h"
#include "devops_model/generate/grammar.h"
#include "devops_model/serve/web_page.h"
#include "serve/connection_guard.h"
#include "serve/embeddings.h"
#include "serve/metrics.h"
#include "serve/openai_api.h"
#include "serve/openai_tools.h"

namespace dm {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// What the access log needs to know about the request this worker thread is serving. httplib runs the
// handler, the streaming provider and the logger of one request on the same thread.
struct RequestLog {
  Clock::time_point start{};
  bool started = false;
  json fields = json::object();
  Clock::time_point first_text{};  // of a generation's reply (time to first token, /metrics)
};
thread_local RequestLog t_log;

// Passed as / called from a job's on_text: remembers when the reply's first text came.
bool note_first_text() {
  if (t_log.first_text == Clock::time_point{}) t_log.first_text = Clock::now();
  return true;
}

std::string utc_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

bool equal_constant_time(const std::string& a, const std::string& b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

std::string dir_name(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  size_t slash = d.rfind('/');
  std::string name = slash == std::string::npos ? d : d.substr(slash + 1);
  return name.empty() ? "devops-model" : name;
}

void set_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(j.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  const std::string h = lower(host);
  return h == "localhost" || h == "::1" || h == "[::1]" || h.rfind("127.", 0) == 0;
}

namespace {

// The Host header's name without its port ("[::1]:8080" -> "[::1]", "a.b:80" -> "a.b").
std::string host_name(const std::string& host) {
  size_t colon = host.rfind(':');
  if (colon == std::string::npos || host.find(']', colon) != std::string::npos) return host;
  return host.substr(0, colon);
}

void log_result(const JobResult& r) {
  t_log.fields["prompt_tokens"] = r.prompt_tokens;
  t_log.fields["completion_tokens"] = r.completion_tokens;
  t_log.fields["reused_tokens"] = r.reused_tokens;
  t_log.fields["finish"] = finish_reason_name(r.finish);
  // Time to the first text (held back text, e.g. a possible stop string, counts when it is released; a
  // reply with no text at all: the job's end) and the time generating after it.
  const Clock::time_point end = Clock::now();
  if (t_log.started && (t_log.first_text != Clock::time_point{} || r.completion_tokens > 0)) {
    const Clock::time_point first = t_log.first_text != Clock::time_point{} ? t_log.first_text : end;
    t_log.fields["ttft_ms"] = std::chrono::duration<double, std::milli>(first - t_log.start).count();
    t_log.fields["decode_ms"] = std::chrono::duration<double, std::milli>(end - first).count();
  }
}

}  // namespace

struct Server::Impl {
  const Model& model;
  const Tokenizer& tok;
  GenerationParams defaults;
  ServerOptions opts;
  ChatTemplateInfo chat_template;
  Scheduler sched;
  std::unique_ptr<EmbeddingsService> embeddings;
  ServerMetrics metrics;
  httplib::Server svr;
  std::unique_ptr<ConnectionGuard> guard;  // our accept loop: per-client cap, request deadlines
  int listen_fd = -1;                      // the bound socket (to raise its backlog)
  int port = -1;

  Impl(const Model& m, const Tokenizer& t, GenerationParams d, ServerOptions o)
      : model(m),
        tok(t),
        defaults(std::move(d)),
        opts(std::move(o)),
        chat_template(chat_style(m)),
        sched(m, t, SchedulerOptions{opts.parallel, opts.max_queue}) {
    if (opts.model_id.empty()) opts.model_id = dir_name(m.dir());
    if (!opts.access_log) opts.access_log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    embeddings = make_embeddings();
    setup();
  }

  void setup();
  std::unique_ptr<EmbeddingsService> make_embeddings();
  void embed(const httplib::Request& req, httplib::Response& res);
  bool host_allowed(const std::string& host) const;
  bool origin_allowed(const std::string& origin) const;
  Job make_job(const ApiRequest& ar, const ToolRequest& tools);
  void generate(const httplib::Request& req, httplib::Response& res, bool chat);
  void stream(httplib::Response& res, std::shared_ptr<Scheduler::Lease> lease, Job job, ResponseMeta meta, bool chat,
              bool include_usage, std::shared_ptr<const ToolRequest> tools);
};

Job Server::Impl::make_job(const ApiRequest& ar, const ToolRequest& tools) {
  if (!ar.model.empty() && ar.model != opts.model_id)
    throw ApiError(404, "The model '" + ar.model + "' does not exist; this server serves '" + opts.model_id + "'",
                   "model", "model_not_found");
  Job job;
  job.params = request_params(ar, defaults);
  if (ar.chat) {
    try {
      job.prompt =
          uses_tool_prompt(tools, ar.messages)
              ? build_tool_prompt(model, tok, job.params, ar.messages, tools, chat_template, ar.enable_thinking).tokens
              : build_chat_prompt(model, tok, job.params, ar.messages, chat_template, ar.enable_thinking).tokens;
    } catch (const Error& e) {
      throw ApiError(400, e.what(), "messages");
    }
  } else {
    job.prompt = tok.encode(ar.prompt, /*allow_special=*/true);
  }
  const int ctx = sched.context_length();
  if (static_cast<int>(job.prompt.size()) >= ctx)
    throw ApiError(400,
                   "This model's maximum context length is " + std::to_string(ctx) + " tokens, but the prompt has " +
                       std::to_string(job.prompt.size()) + " tokens (at least one must be left for the reply)",
                   ar.chat ? "messages" : "prompt", "context_length_exceeded");
  if (!ar.ignore_eos) job.rules = stop_rules(tok, job.params);
  job.stop = ar.stop;
  job.grammar = response_format_grammar(ar.structured.response_format);
  job.logprobs = ar.structured.logprobs;
  for (std::string& s : tool_stop_strings(tool_format(model), tools)) job.stop.push_back(std::move(s));
  if (const std::string g = tool_call_grammar(tool_format(model), tools); !g.empty()) {  // a forced call
    if (job.grammar)
      throw ApiError(400, "'response_format': cannot be combined with a required or named tool_choice",
                     "response_format");
    job.grammar = std::make_shared<const Grammar>(Grammar::parse(g));
  }
  return job;
}

void Server::Impl::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
  ApiRequest ar = chat ? parse_chat_request(req.body) : parse_completion_request(req.body);
  auto tools = std::make_shared<const ToolRequest>(chat ? parse_tool_request(req.body) : ToolRequest{});
  Job job = make_job(ar, *tools);
  t_log.fields["stream"] = ar.stream;
  t_log.fields["prompt_tokens"] = job.prompt.size();
  std::shared_ptr<Scheduler::Lease> lease;
  try {
    lease = sched.acquire(job.prompt);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kCapacity) throw;
    res.set_header("Retry-After", "1");
    throw ApiError(503, e.what(), "", "server_busy", "server_error");
  }
  ResponseMeta meta = new_response_meta(chat, opts.model_id);
  if (tools->tools.empty()) tools.reset();  // no tools: the reply is plain text
  if (ar.stream)
    return stream(res, std::move(lease), std::move(job), std::move(meta), chat, ar.include_usage, std::move(tools));
  JobResult r = sched.run(*lease, job, [](std::string_view) { return note_first_text(); });
  lease.reset();
  log_result(r);
  json body = tools  ? chat_tool_response(meta, r, tool_format(model), *tools)
              : chat ? chat_response(meta, r)
                     : completion_response(meta, r);
  if (job.logprobs >= 0) {
    size_t offset = 0;
    set_choice_logprobs(body, tok, chat, r.logprobs, offset);
  }
  set_json(res, 200, body);
}

// SSE: the reply is generated inside the content provider, writing one event per text piece. A failed
// write (client gone) cancels the job at that token and frees the slot.
void Server::Impl::stream(httplib::Response& res, std::shared_ptr<Scheduler::Lease> lease, Job job, ResponseMeta meta,
                          bool chat, bool include_usage, std::shared_ptr<const ToolRequest> tools) {
  auto job_ptr = std::make_shared<Job>(std::move(job));
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider("text/event-stream", [this, lease, job_ptr, meta, chat, include_usage, tools](
                                                            size_t, httplib::DataSink& sink) mutable {
    auto write = [&](const std::string& ev) { return sink.write(ev.data(), ev.size()); };
    if (!lease) return false;  // already served (provider called again)
    if (chat && !write(sse_event(chat_chunk_role(meta)))) {
      lease.reset();
      return false;
    }
    JobResult r;
    size_t text_offset = 0;  // completions logprobs: text_offset runs on across chunks
    // With tools the text goes through the call parser: content deltas, then tool_calls deltas. A
    // piece's logprobs ride on the next chunk sent (the parser may hold text back).
    std::optional<ToolDeltaStream> tool_deltas;
    if (tools) tool_deltas.emplace(meta, tool_format(model), *tools);
    std::vector<TokenLogprob> held_lps;
    auto write_all = [&](std::vector<json> chunks) {
      for (json& c : chunks) {
        if (job_ptr->logprobs >= 0 && !held_lps.empty()) {
          set_choice_logprobs(c, tok, chat, held_lps, text_offset);
          held_lps.clear();
        }
        if (!write(sse_event(c))) return false;
      }
      return true;
    };
    try {
      r = sched.run_pieces(*lease, *job_ptr, [&](std::string_view t, std::span<const TokenLogprob> lps) {
        note_first_text();
        if (tool_deltas) {
          held_lps.insert(held_lps.end(), lps.begin(), lps.end());
          return write_all(tool_deltas->push(t));
        }
        json chunk = stream_chunk_text(meta, chat, t);
        if (job_ptr->logprobs >= 0) set_choice_logprobs(chunk, tok, chat, lps, text_offset);
        return write(sse_event(chunk));
      });
    } catch (const std::exception& e) {
      lease.reset();
      t_log.fields["error"] = e.what();
      write(sse_event(error_body(e.what(), "server_error", "", "")));
      write(std::string(kSseDone));
      sink.done();
      return true;
    }
    lease.reset();  // free the slot before the last writes
    log_result(r);
    if (r.finish == FinishReason::kCancelled) return false;
    bool ok = tool_deltas ? write_all(tool_deltas->finish(r.finish))
                          : write(sse_event(stream_chunk_finish(meta, chat, r.finish)));
    if (ok && include_usage) ok = write(sse_event(stream_chunk_usage(meta, chat, r)));
    if (ok) ok = write(std::string(kSseDone));
    if (ok) sink.done();
    return ok;
  });
}

// With --embedding-model its own encoder, one request at a time (at most max_queue waiting); else the
// decoder, run under a scheduler slot like a generation (capacity and the 503 included).
std::unique_ptr<EmbeddingsService> Server::Impl::make_embeddings() {
  // Both embedders compute on the generation thread: one OpenMP team in the process.
  auto compute = [this](const std::function<void()>& job) { sched.run_compute(job); };
  if (!opts.embedding_model.empty())
    return std::make_unique<EmbeddingsService>(sbert_embedder(opts.embedding_model), dir_name(opts.embedding_model),
                                               std::vector<std::string>{opts.model_id}, exclusive_gate(opts.max_queue),
                                               compute);
  return std::make_unique<EmbeddingsService>(
      decoder_embedder(model, tok), opts.model_id, std::vector<std::string>{},
      [this]() -> std::shared_ptr<void> {
        try {
          return std::shared_ptr<void>(sched.acquire({}));
        } catch (const Error& e) {
          if (e.kind() != ErrorKind::kCapacity) throw;
          throw ApiError(503, e.what(), "", "server_busy", "server_error");
        }
      },
      compute);
}

void Server::Impl::embed(const httplib::Request& req, httplib::Response& res) {
  try {
    EmbeddingsService::Result r = embeddings->handle(req.body);
    t_log.fields["inputs"] = r.inputs;
    t_log.fields["prompt_tokens"] = r.prompt_tokens;
    set_json(res, 200, r.body);
  } catch (const ApiError& e) {
    if (e.status == 503) res.set_header("Retry-After", "1");
    set_json(res, e.status, error_body(e.what(), e.type, e.param, e.code));
  } catch (const Error& e) {
    const bool client = e.kind() == ErrorKind::kInvalidArgument;
    set_json(res, client ? 400 : 500, error_body(e.what(), client ? "invalid_request_error" : "server_error", "", ""));
  } catch (const std::exception& e) {
    set_json(res, 500, error_body(e.what(), "server_error", "", ""));
  }
}

// Loopback names only with the bound port: a page on another port of this machine is another origin too.
bool Server::Impl::host_allowed(const std::string& host) const {
  const std::string h = lower(host);
  for (const char* name : {"127.0.0.1", "localhost", "[::1]"})
    if (h == std::string(name) + ":" + std::to_string(port) || (port == 80 && h == name)) return true;
  for (const std::string& a : opts.allowed_hosts)
    if (h == lower(a) || host_name(h) == lower(a)) return true;
  return false;
}

bool Server::Impl::origin_allowed(const std::string& origin) const {
  if (origin.empty()) return false;
  return std::any_of(opts.cors_origins.begin(), opts.cors_origins.end(),
                     [&](const std::string& o) { return o == "*" || o == origin; });
}

void Server::Impl::setup() {
  ConnectionLimits limits{opts.request_timeout_s, opts.idle_timeout_s, opts.max_conns_per_client};
  if (limits.max_per_client < 0) limits.max_per_client = is_loopback_host(opts.host) ? 0 : 16;
  guard = std::make_unique<ConnectionGuard>(svr, limits, [this](const std::string& event, const std::string& client) {
    opts.access_log(json{{"time", utc_now()}, {"event", event}, {"client", client}}.dump());
  });
  svr.set_payload_max_length(opts.max_body_bytes);
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    t_log = RequestLog{Clock::now(), true, json::object()};
    if (req.method != "POST") guard->request_read(req.remote_addr, req.remote_port);  // POST: once its body is in
    // DNS rebinding: a foreign name resolving to 127.0.0.1 still carries its own Host header.
    const std::string host = req.get_header_value("Host");
    if ((is_loopback_host(opts.host) || !opts.allowed_hosts.empty()) && !host_allowed(host)) {
      set_json(res, 403,
               error_body("Host '" + host + "' is not allowed; start the server with --allowed-hosts to accept it",
                          "invalid_request_error", "", "host_not_allowed"));
      return R::Handled;
    }
    const std::string origin = req.get_header_value("Origin");
    const bool cors = origin_allowed(origin);
    if (cors) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS") {  // CORS preflight: no API key (browsers send none), no body
      if (!origin.empty() && !cors) {
        set_json(res, 403,
                 error_body("Origin '" + origin + "' is not allowed (see --cors-origin)", "invalid_request_error", "",
                            "origin_not_allowed"));
        return R::Handled;
      }
      if (cors) {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Max-Age", "600");
      }
      res.set_header("Allow", "GET, POST, OPTIONS");
      res.status = 204;
      return R::Handled;
    }
    if (req.path.rfind("/v1/", 0) != 0 && req.path != "/metrics") return R::Unhandled;
    if (!opts.api_key.empty()) {
      const std::string auth = req.get_header_value("Authorization");
      if (!equal_constant_time(auth, "Bearer " + opts.api_key)) {
        set_json(res, 401,
                 error_body(auth.empty() ? "Missing API key: send 'Authorization: Bearer <key>'"
                                         : "Incorrect API key provided",
                            "invalid_request_error", "", "invalid_api_key"));
        return R::Handled;
      }
    }
    // A cross-site form or text/plain fetch is a "simple" request that skips the CORS preflight; JSON is not.
    if (req.method == "POST") {
      std::string ct = lower(req.get_header_value("Content-Type"));
      ct = ct.substr(0, ct.find(';'));
      while (!ct.empty() && ct.back() == ' ') ct.pop_back();
      if (ct != "application/json") {
        set_json(res, 415,
                 error_body("Content-Type must be application/json, got '" + req.get_header_value("Content-Type") + "'",
                            "invalid_request_error", "", "unsupported_media_type"));
        return R::Handled;
      }
    }
    return R::Unhandled;
  });
  auto guarded = [this](bool chat) {
    return [this, chat](const httplib::Request& req, httplib::Response& res) {
      guard->request_read(req.remote_addr, req.remote_port);
      try {
        generate(req, res, chat);
      } catch (const ApiError& e) {
        set_json(res, e.status, error_body(e.what(), e.type, e.param, e.code));
      } catch (const Error& e) {
        const bool client = e.kind() == ErrorKind::kInvalidArgument || e.kind() == ErrorKind::kCapacity;
        set_json(res, client ? 400 : 500,
                 error_body(e.what(), client ? "invalid_request_error" : "server_error", "", ""));
      } catch (const std::exception& e) {
        set_json(res, 500, error_body(e.what(), "server_error", "", ""));
      }
    };
  };
  svr.Post("/v1/chat/completions", guarded(true));
  svr.Post("/v1/completions", guarded(false));
  svr.Post("/v1/embeddings", [this](const httplib::Request& req, httplib::Response& res) {
    guard->request_read(req.remote_addr, req.remote_port);
    embed(req, res);
  });
  svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json list = models_list(opts.model_id, 0);
    if (embeddings->id() != opts.model_id)  // --embedding-model: listed after the served model
      list["data"].push_back(models_list(embeddings->id(), 0)["data"][0]);
    set_json(res, 200, list);
  });
  svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    SchedulerStats s = sched.stats();
    set_json(res, 200,
             {{"status", "ok"},
              {"model", opts.model_id},
              {"slots", s.slots},
              {"busy", s.busy},
              {"waiting", s.waiting},
              {"completed", s.completed},
              {"cancelled", s.cancelled},
              {"refused", s.refused}});
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    ServerMetrics::Live live{sched.stats(), sched.batch_stats(), opts.model_id, embeddings->id()};
    res.set_content(metrics.render(live), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    std::string_view page = web_page_html();
    res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
  });
  // Statuses httplib sets itself (404 route, 413 body, 400 malformed HTTP) get an OpenAI error body too.
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg = res.status == 413   ? "request body too large"
                      : res.status == 404 ? "no route " + req.method + " " + req.path
                                          : "request failed";
    set_json(res, res.status, error_body(msg, "invalid_request_error", "", res.status == 413 ? "body_too_large" : ""));
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    json line = {{"time", utc_now()}, {"method", req.method}, {"route", req.path}, {"status", res.status}};
    for (auto& [k, v] : t_log.fields.items()) line[k] = v;
    if (!line.contains("prompt_tokens")) line["prompt_tokens"] = 0;
    if (!line.contains("completion_tokens")) line["completion_tokens"] = 0;
    line["ms"] = t_log.started ? std::chrono::duration<double, std::milli>(Clock::now() - t_log.start).count() : 0.0;
    t_log = RequestLog{};
    metrics.record(req.path, res.status, line);
    opts.access_log(line.dump(-1, ' ', false, json::error_handler_t::replace));
    guard->response_written(req.remote_addr, req.remote_port);
  });
}

Server::Server(const Model& model, const Tokenizer& tok, GenerationParams defaults, ServerOptions opts)
    : impl_(std::make_unique<Impl>(model, tok, std::move(defaults), std::move(opts))) {}

Server::~Server() { stop(); }

int Server::start() {
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the process on the next write
  Impl& m = *impl_;
  // Debian's httplib is a shared library that listens with a backlog of 5: a burst of clients overflows
  // it and waits a second or more to connect. Listening again on the bound socket raises it to the
  // kernel's cap (somaxconn), room for --parallel + --queue and the connections still being accepted.
  m.svr.set_socket_options([&m](socket_t sock) {
    httplib::default_socket_options(sock);
    m.listen_fd = sock;
  });
  if (m.opts.port == 0) {
    m.port = m.svr.bind_to_any_port(m.opts.host);
  } else {
    m.port = m.svr.bind_to_port(m.opts.host, m.opts.port) ? m.opts.port : -1;
  }
  if (m.port < 0) fail(ErrorKind::kIo, "cannot listen on ", m.opts.host, ":", m.opts.port);
  if (m.listen_fd < 0 || ::listen(m.listen_fd, SOMAXCONN) != 0)
    fail(ErrorKind::kIo, "cannot listen on ", m.opts.host, ":", m.port, " with a backlog of ", SOMAXCONN);
  if (!is_loopback_host(m.opts.host) && m.opts.api_key.empty())
    std::fprintf(stderr,
                 "warning: listening on %s without --api-key: anyone who can reach this address can use the model\n",
                 m.opts.host.c_str());
  m.guard->start(m.listen_fd, static_cast<size_t>(m.opts.parallel + m.opts.max_queue + 4));
  return m.port;
}

void Server::stop() {
  if (impl_ && impl_->guard) impl_->guard->stop();
}

int Server::port() const { return impl_->port; }
const std::string& Server::model_id() const { return impl_->opts.model_id; }
SchedulerStats Server::stats() const { return impl_->sched.stats(); }

}  // namespace dm
