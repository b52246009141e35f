// devops-model tokenize: text -> ids (and pieces with --json); --jsonl for batches.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/unicode.h"

namespace dm::cli {
namespace {
using nlohmann::json;

struct TokenizeArgs {
  std::string model, tokenizer, text, file, jsonl;
  bool json = false, no_special = false;
};

std::string ids_line(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

// One {"text": ...} per line -> one {"ids": [...]} per line; a bad line stops with file:line.
int run_jsonl(const Tokenizer& tok, const TokenizeArgs& a) {
  std::ifstream in(a.jsonl, std::ios::binary);
  if (!in) fail(ErrorKind::kIo, a.jsonl, ": cannot open");
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      fail(ErrorKind::kFormat, a.jsonl, ":", line_no, ": invalid JSON: ", e.what());
    }
    if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
      fail(ErrorKind::kFormat, a.jsonl, ":", line_no, ": expected an object with a string \"text\"");
    }
    const auto ids = tok.encode(j["text"].get_ref<const std::string&>(), !a.no_special);
    std::cout << json{{"ids", ids}}.dump() << "\n";
  }
  return 0;
}

int run(const TokenizeArgs& a) {
  auto tok = !a.model.empty() ? Tokenizer::from_dir(a.model) : Tokenizer::from_file(a.tokenizer);
  if (!a.jsonl.empty()) return run_jsonl(*tok, a);
  const std::string text = !a.file.empty() ? read_file(a.file) : a.text;
  const auto ids = tok->encode(text, !a.no_special);
  if (!a.json) {
    std::cout << ids_line(ids) << "\n";
    return 0;
  }
  // pieces: each token's text (partial UTF-8, e.g. half a CJK character, printed as U+FFFD);
  // tokens: the byte-level spelling of HF's convert_ids_to_tokens, which loses nothing.
  json pieces = json::array(), tokens = json::array();
  for (int32_t id : ids) {
    pieces.push_back(tok->token_bytes(id));
    tokens.push_back(tok->is_special(id) ? tok->token_bytes(id) : byte_level_encode(tok->token_bytes(id)));
  }
  const json out{{"ids", ids}, {"pieces", pieces}, {"tokens", tokens}};
  std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  return 0;
}

Registrar reg{{"tokenize", "text -> token ids (tokenizer.json, qwen.tiktoken or vocab.json)", [](CLI::App& app) {
                 auto a = std::make_shared<TokenizeArgs>();
                 auto* src = app.add_option_group("source");
                 src->add_option("--model", a->model, "model directory");
                 src->add_option("--tokenizer", a->tokenizer, "tokenizer.json, qwen.tiktoken or vocab.json");
                 src->require_option(1);
                 auto* in = app.add_option_group("input");
                 in->add_option("--text", a->text, "text to encode");
                 in->add_option("--file", a->file, "file whose whole contents to encode");
                 in->add_option("--jsonl", a->jsonl, "batch: one {\"text\": ...} per line");
                 in->require_option(1);
                 app.add_flag("--json", a->json, "print {\"ids\": [...], \"pieces\": [...]}");
                 app.add_flag("--no-special", a->no_special, "treat special-token strings as plain text");
                 return [a]() { return run(*a); };
               }}};
}  // namespace
}  // namespace dm::cli
