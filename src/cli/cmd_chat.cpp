// devops-model chat: the seed's model.chat loop. Interactive (streaming, /reset, /system, /save, /exit,
// Ctrl-C stops the reply), one turn with --prompt (and --json), or line by line from piped stdin.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/generation_args.h"
#include "cli/grammar_args.h"
#include "cli/model_args.h"
#include "core/json_file.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/generate/chat_session.h"

namespace dm::cli {
namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

nlohmann::json history_json(const std::vector<ChatTurn>& h) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& t : h) j.push_back({t.query, t.reply});
  return j;
}

std::vector<ChatTurn> load_history(const std::string& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_array()) fail(ErrorKind::kFormat, path, ": history must be a JSON list of [query, reply] pairs");
  std::vector<ChatTurn> h;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& p = j[i];
    if (!p.is_array() || p.size() != 2 || !p[0].is_string() || !p[1].is_string())
      fail(ErrorKind::kFormat, path, ": entry ", i, " is not a [query, reply] pair of strings");
    h.push_back({p[0].get<std::string>(), p[1].get<std::string>()});
  }
  return h;
}

struct Args {
  ModelArgs model;
  GenerationArgs gen;
  GrammarArgs grammar;
  std::string prompt, history, system;
  bool json = false, no_think = false;
};

// Handles a /command; returns false on /exit.
bool slash_command(const std::string& line, ChatSession& s) {
  if (line == "/exit" || line == "/quit") return false;
  if (line == "/reset") {
    s.reset();
    std::fprintf(stderr, "[history cleared]\n");
  } else if (line.rfind("/system", 0) == 0) {
    s.set_system(line.size() > 8 ? line.substr(8) : "");
    std::fprintf(stderr, "[system prompt: %s]\n", s.system().c_str());
  } else if (line.rfind("/save ", 0) == 0) {
    std::string path = line.substr(6);
    write_file_atomic(path, history_json(s.history()).dump(2) + "\n");
    std::fprintf(stderr, "[saved %zu turns to %s]\n", s.history().size(), path.c_str());
  } else {
    std::fprintf(stderr, "commands: /reset, /system TEXT, /save FILE, /exit\n");
  }
  return true;
}

int interactive(ChatSession& s) {
  const bool tty = isatty(STDIN_FILENO) != 0;
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, nullptr);
  if (tty) std::fprintf(stderr, "DevOps-Model chat. /reset, /system TEXT, /save FILE, /exit; Ctrl-C stops a reply.\n");
  std::string line;
  while (true) {
    if (tty) std::fprintf(stderr, "\n用户> ");
    g_interrupted = false;
    if (!std::getline(std::cin, line)) {
      if (g_interrupted && tty && std::cin.eof() == false) {  // Ctrl-C at the prompt: new prompt
        std::cin.clear();
        continue;
      }
      break;
    }
    if (line.empty()) continue;
    if (line[0] == '/') {
      if (!slash_command(line, s)) break;
      continue;
    }
    if (tty) std::fprintf(stderr, "助手> ");
    s.chat(line, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return !g_interrupted.load();
    });
    std::printf("\n");
    std::fflush(stdout);
    if (g_interrupted) std::fprintf(stderr, "[stopped]\n");
  }
  return 0;
}

Registrar reg{{"chat", "chat with a model as the seed's model.chat(query, history)",
               [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  a->model.add(app);
  a->gen.add(app);
  a->grammar.add(app);
  app.add_option("--prompt,-p", a->prompt, "one turn, non-interactive");
  app.add_option("--history", a->history, "continue a saved conversation (JSON [[query, reply], ...])");
  app.add_option("--system", a->system, "system prompt (default: the model family's)");
  app.add_flag("--json", a->json, "with --prompt: print prompt_ids, reply_ids, reply, history");
  app.add_flag("--no-think", a->no_think, "Qwen3: answer without a thinking block (enable_thinking=false)");
  return [a]() {
    auto grammar = a->grammar.load();  // before the model: a bad file fails fast
    auto model = a->model.load();
    auto tok = Tokenizer::from_dir(a->model.dir);
    GenerationParams params = a->gen.params_for(a->model.dir);
    ChatSession s(*model, *tok, params, a->system);
    s.set_grammar(grammar);
    if (a->no_think && !s.set_thinking(false))
      std::fprintf(stderr, "note: this model's chat template has no thinking switch; --no-think changes nothing\n");
    if (!a->history.empty()) s.set_history(load_history(a->history));
    if (a->prompt.empty()) {
      if (a->json) fail(ErrorKind::kInvalidArgument, "--json needs --prompt");
      return interactive(s);
    }
    if (a->json) {
      std::string reply = s.chat(a->prompt);
      nlohmann::json j;
      j["prompt_ids"] = s.last_prompt_ids();
      j["reply_ids"] = s.last_reply_ids();
      j["reply"] = reply;
      j["history"] = history_json(s.history());
      j["stop_reason"] = stop_reason_name(s.last_stop_reason());
      std::printf("%s\n", j.dump().c_str());
      return 0;
    }
    s.chat(a->prompt, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::printf("\n");
    return 0;
  };
               }}};

}  // namespace
}  // namespace dm::cli
