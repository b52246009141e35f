// JSON schema -> grammar, for response_format json_schema / json_object and forced tool calls.
//
// The supported subset (anything else is Error(kInvalidArgument) naming the keyword and where it is,
// e.g. "json schema: unsupported keyword 'pattern' at #/properties/id", so a server answers 400):
// - type: object, array, string, number, integer, boolean, null, or a list of them; without type, the
//   kind is inferred from the keywords present (properties -> object, items -> array, ...), else any value.
// - object: properties, required, additionalProperties. Properties are emitted in declared order;
//   required ones always, the others optionally. With properties, additionalProperties absent or false
//   means no other keys (true or a schema is refused: the grammar could not rule out duplicate keys).
//   Without properties: any object, or one whose values all match the additionalProperties schema.
// - array: items (absent = any values), minItems, maxItems (at most 4096).
// - string: minLength, maxLength (code points, at most 4096). `pattern` and `format` are refused:
//   ignoring them would produce strings the schema does not accept.
// - number / integer: JSON numbers with at most 16 integer digits (16 fraction digits, 2 exponent
//   digits for number), so the model cannot run on forever; minimum/maximum/multipleOf are refused.
// - enum / const of any JSON values (matched exactly as their compact serialisation); anyOf and oneOf
//   (both as alternatives: oneOf's exclusivity is not enforced); allOf with a single schema; $ref to
//   "#", "#/$defs/..", "#/definitions/.." or any other local JSON pointer, recursion allowed. Boolean
//   schemas: true = any value, false is refused. Annotations (title, description, default, examples,
//   $schema, $id, $comment, deprecated, readOnly, writeOnly, $defs, definitions) are ignored.
// Whitespace: after { [ , : and before } ] , at most one space, or one newline followed by at most 16
// spaces/tabs (pretty printing); none before the value or after it, so the model must stop there.
#pragma once
#include <string>
#include <string_view>

#include "devops_model/generate/grammar.h"

namespace dm {

// GBNF text for a schema given as JSON text (Error(kInvalidArgument) for bad JSON too).
std::string json_schema_to_gbnf(std::string_view schema_json);
Grammar json_schema_grammar(std::string_view schema_json);

// Any JSON object (response_format {"type": "json_object"}), with the same whitespace and number rules.
std::string json_object_gbnf();
Grammar json_object_grammar();

}  // namespace dm
