#include "cli/grammar_args.h"

#include "devops_model/core/error.h"
#include "devops_model/core/mapped_file.h"
#include "devops_model/generate/json_schema_grammar.h"

namespace dm::cli {

void GrammarArgs::add(CLI::App& app) {
  auto* schema = app.add_option("--json-schema", json_schema,
                                "constrain the reply to JSON matching this JSON schema file (see README)");
  auto* gbnf = app.add_option("--grammar", grammar, "constrain the reply to this GBNF grammar file (root rule)");
  schema->excludes(gbnf);
}

std::shared_ptr<const Grammar> GrammarArgs::load() const {
  if (!json_schema.empty()) {
    const std::string text = read_file(json_schema);
    try {
      return std::make_shared<const Grammar>(json_schema_grammar(text));
    } catch (const Error& e) {
      fail(ErrorKind::kFormat, json_schema, ": ", e.what());
    }
  }
  if (!grammar.empty()) {
    const std::string text = read_file(grammar);
    try {
      return std::make_shared<const Grammar>(Grammar::parse(text));
    } catch (const Error& e) {
      // "grammar:LINE:COL: msg" -> "FILE:LINE:COL: msg"; "grammar: msg" -> "FILE: msg".
      std::string msg = e.what();
      if (msg.rfind("grammar:", 0) == 0) msg.erase(0, 8);
      fail(ErrorKind::kFormat, grammar, msg.empty() || msg[0] == ' ' ? "" : ":", msg);
    }
  }
  return nullptr;
}

}  // namespace dm::cli
