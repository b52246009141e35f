// libFuzzer: arbitrary bytes as a GBNF grammar and as a JSON schema. Parsing either must succeed or throw
// dm::Error (kInvalidArgument), never crash or hang; a grammar that parses (and the schema's grammar) is
// then run: its GBNF rendering must parse again, and a matcher fed the input bytes one at a time must stay
// consistent (a rejected byte leaves the state unchanged, so a fresh matcher accepts the accepted ones).
#include <cstdint>
#include <string>
#include <string_view>

#include "devops_model/core/error.h"
#include "devops_model/generate/grammar.h"
#include "devops_model/generate/grammar_matcher.h"
#include "devops_model/generate/json_schema_grammar.h"

namespace {

void exercise(const dm::Grammar& g, std::string_view input) {
  try {
    (void)dm::Grammar::parse(g.to_string(), g.rule_name(g.start_rule()));  // the rendering parses back
  } catch (...) {
    __builtin_trap();
  }
  dm::GrammarMatcher m(g);
  std::string accepted;
  for (size_t i = 0; i < input.size() && i < 256; ++i) {
    if (m.accept_bytes(input.substr(i, 1))) accepted += input[i];
  }
  dm::GrammarMatcher again(g);
  if (!again.accept_bytes(accepted) || again.is_complete() != m.is_complete()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    exercise(dm::Grammar::parse(text), text);
  } catch (const dm::Error& e) {
    if (e.kind() != dm::ErrorKind::kInvalidArgument) __builtin_trap();
  }
  try {
    exercise(dm::json_schema_grammar(text), text);
  } catch (const dm::Error& e) {
    if (e.kind() != dm::ErrorKind::kInvalidArgument) __builtin_trap();
  }
  return 0;
}
