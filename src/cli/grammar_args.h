// --json-schema FILE / --grammar FILE, shared by chat and generate: the reply is sampled under the
// grammar (constrained decoding), so it always parses.
#pragma once
#include <memory>
#include <string>

#include "cli/command.h"
#include "devops_model/generate/grammar.h"

namespace dm::cli {

struct GrammarArgs {
  std::string json_schema, grammar;

  void add(CLI::App& app);
  // The grammar the flags name (nullptr without them). Errors name the file: "FILE: json schema: ..."
  // or, for GBNF, "FILE:LINE:COL: ...".
  std::shared_ptr<const Grammar> load() const;
};

}  // namespace dm::cli
