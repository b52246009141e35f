// JSON schema -> GBNF text -> Grammar. Each schema node becomes one rule (named after its path) whose
// text is the JSON value, without surrounding whitespace; shared pieces (ws, string, number, any value)
// are fixed rules added on first use. The schema is read as ordered_json so properties keep their order.
#include "devops_model/generate/json_schema_grammar.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "devops_model/core/error.h"

namespace dm {
namespace {

using Json = nlohmann::ordered_json;

// The fixed rules, by name; `deps` are added with them.
struct Primitive {
  const char* name;
  const char* body;
  std::vector<const char*> deps;
};

const std::vector<Primitive>& primitives() {
  static const std::vector<Primitive> p = {
      {"ws", R"(| " " | "\n" [ \t]{0,16})", {}},
      {"hex", R"([0-9a-fA-F])", {}},
      // \u escapes exclude lone surrogates (JSON parsers reject them): a high one must pair with a low one.
      {"char",
       R"([^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" ([0-9a-cA-Ce-fE-F] hex hex hex | [dD] [0-7] hex hex | )"
       R"([dD] [89abAB] hex hex "\\u" [dD] [c-fC-F] hex hex)))",
       {"hex"}},
      {"string", R"("\"" char* "\"")", {"char"}},
      {"integer", R"("-"? ("0" | [1-9] [0-9]{0,15}))", {}},
      {"number", R"(integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?)", {"integer"}},
      {"boolean", R"("true" | "false")", {}},
      {"null", R"("null")", {}},
      {"value",
       R"(object | array | string | number | boolean | null)",
       {"object", "array", "string", "number", "boolean", "null"}},
      {"object",
       R"("{" ws (string ws ":" ws value (ws "," ws string ws ":" ws value)* ws)? "}")",
       {"ws", "string", "value"}},
      {"array", R"("[" ws (value (ws "," ws value)* ws)? "]")", {"ws", "value"}},
  };
  return p;
}

bool is_primitive(const std::string& name) {
  for (const Primitive& p : primitives()) {
    if (name == p.name) return true;
  }
  return false;
}

const std::set<std::string>& annotations() {
  static const std::set<std::string> s = {"$schema",     "$id",       "$comment", "title",
                                          "description", "default",   "examples", "deprecated",
                                          "readOnly",    "writeOnly", "$defs",    "definitions"};
  return s;
}

const std::set<std::string>& supported() {
  static const std::set<std::string> s = {"type",      "properties", "required", "additionalProperties",
                                          "items",     "minItems",   "maxItems", "minLength",
                                          "maxLength", "enum",       "const",    "anyOf",
                                          "oneOf",     "allOf",      "$ref"};
  return s;
}

// `s` as a GBNF literal holding its UTF-8 bytes.
std::string gbnf_literal(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F) {
      out += str_cat("\\x", "0123456789abcdef"[u >> 4], "0123456789abcdef"[u & 15]);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class SchemaCompiler {
 public:
  explicit SchemaCompiler(const Json& root) : root_(root) {}

  std::string compile_root() {
    rules_.emplace_back("root", "");  // first in the text; body set below
    names_.insert("root");
    const std::string body = compile(root_, "#", "root");
    rules_[0].second = body;
    return text();
  }

  std::string any_object() {
    rules_.emplace_back("root", "object");
    names_.insert("root");
    use("object");
    return text();
  }

 private:
  template <typename... Args>
  [[noreturn]] static void error(const std::string& path, Args&&... args) {
    fail(ErrorKind::kInvalidArgument, "json schema: ", std::forward<Args>(args)..., " at ", path);
  }

  std::string text() const {
    std::string out;
    for (const auto& [name, body] : rules_) out += name + " ::= " + body + "\n";
    return out;
  }

  // Adds a fixed rule (and what it uses) once; returns its name.
  std::string use(const std::string& name) {
    if (names_.count(name)) return name;
    for (const Primitive& p : primitives()) {
      if (p.name != name) continue;
      names_.insert(name);
      rules_.emplace_back(name, p.body);
      for (const char* d : p.deps) use(d);
      return name;
    }
    fail(ErrorKind::kInternal, "json schema: no fixed rule '", name, "'");
  }

  // A fresh rule name from a hint ([A-Za-z0-9-] only).
  std::string fresh(const std::string& hint) {
    std::string base;
    for (char c : hint) base += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    if (base.empty()) base = "r";
    std::string name = base;
    for (int i = 2; names_.count(name) || is_primitive(name); ++i) name = str_cat(base, "-", i);
    names_.insert(name);
    return name;
  }

  std::string add_rule(const std::string& hint, std::string body) {
    const std::string name = fresh(hint);
    rules_.emplace_back(name, std::move(body));
    return name;
  }

  std::string compile(const Json& s, const std::string& path, const std::string& hint);
  std::string compile_ref(const Json& s, const std::string& path);
  std::string compile_typed(const Json& s, const std::string& type, const std::string& path, const std::string& hint);
  std::string compile_object(const Json& s, const std::string& path, const std::string& hint);
  std::string compile_array(const Json& s, const std::string& path, const std::string& hint);
  std::string compile_string(const Json& s, const std::string& path);
  std::string infer_type(const Json& s, const std::string& path);
  static uint32_t count(const Json& s, const char* key, const std::string& path);

  const Json& root_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> names_;
  std::map<std::string, std::string> refs_;  // JSON pointer -> rule name
};

uint32_t SchemaCompiler::count(const Json& s, const char* key, const std::string& path) {
  const Json& v = s[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0) error(path, "'", key, "' must be a non-negative integer");
  if (v.get<int64_t>() > Grammar::kMaxRepetition) {
    error(path, "'", key, "' over ", Grammar::kMaxRepetition, " is not supported");
  }
  return static_cast<uint32_t>(v.get<int64_t>());
}

// The body of a rule matching the value of `s` (a rule name or an expression). Rule-valued results are
// returned as names so parents can reference them.
std::string SchemaCompiler::compile(const Json& s, const std::string& path, const std::string& hint) {
  if (s.is_boolean()) {
    if (!s.get<bool>()) error(path, "schema 'false' matches nothing");
    return use("value");
  }
  if (!s.is_object()) error(path, "a schema must be an object or a boolean");
  for (const auto& [key, v] : s.items()) {
    if (!annotations().count(key) && !supported().count(key)) error(path, "unsupported keyword '", key, "'");
  }
  if (s.contains("$ref")) return compile_ref(s, path);
  if (s.contains("const")) return gbnf_literal(s["const"].dump());
  if (s.contains("enum")) {
    const Json& e = s["enum"];
    if (!e.is_array() || e.empty()) error(path, "'enum' must be a non-empty array");
    std::string body;
    for (const Json& v : e) body += (body.empty() ? "" : " | ") + gbnf_literal(v.dump());
    return add_rule(hint, body);
  }
  for (const char* key : {"anyOf", "oneOf", "allOf"}) {
    if (!s.contains(key)) continue;
    for (const char* other : {"type", "properties", "items", "anyOf", "oneOf", "allOf"}) {
      if (other != std::string_view(key) && s.contains(other)) {
        error(path, "'", key, "' combined with '", other, "' is not supported");
      }
    }
    const Json& alts = s[key];
    if (!alts.is_array() || alts.empty()) error(path, "'", key, "' must be a non-empty array");
    if (std::string_view(key) == "allOf" && alts.size() != 1) error(path, "'allOf' with more than one schema");
    std::string body;
    for (size_t i = 0; i < alts.size(); ++i) {
      body += (i ? " | " : "") + compile(alts[i], str_cat(path, "/", key, "/", i), str_cat(hint, "-", i));
    }
    return add_rule(hint, body);
  }
  if (!s.contains("type")) return compile_typed(s, infer_type(s, path), path, hint);
  const Json& type = s["type"];
  if (type.is_string()) return compile_typed(s, type.get<std::string>(), path, hint);
  if (!type.is_array() || type.empty()) error(path, "'type' must be a string or a non-empty array");
  std::string body;
  for (const Json& t : type) {
    if (!t.is_string()) error(path, "'type' must list strings");
    const std::string name = t.get<std::string>();
    body += (body.empty() ? "" : " | ") + compile_typed(s, name, path, hint + "-" + name);
  }
  return add_rule(hint, body);
}

std::string SchemaCompiler::infer_type(const Json& s, const std::string& path) {
  std::set<std::string> kinds;
  for (const char* k : {"properties", "required", "additionalProperties"}) {
    if (s.contains(k)) kinds.insert("object");
  }
  for (const char* k : {"items", "minItems", "maxItems"}) {
    if (s.contains(k)) kinds.insert("array");
  }
  for (const char* k : {"minLength", "maxLength"}) {
    if (s.contains(k)) kinds.insert("string");
  }
  if (kinds.size() > 1) error(path, "keywords of several types without 'type'");
  return kinds.empty() ? "any" : *kinds.begin();
}

std::string SchemaCompiler::compile_ref(const Json& s, const std::string& path) {
  for (const auto& [key, v] : s.items()) {
    if (key != "$ref" && !annotations().count(key)) error(path, "'$ref' with sibling keyword '", key, "'");
  }
  if (!s["$ref"].is_string()) error(path, "'$ref' must be a string");
  const std::string ref = s["$ref"].get<std::string>();
  if (ref.empty() || ref[0] != '#') error(path, "only local '$ref's (#...) are supported, not '", ref, "'");
  if (const auto it = refs_.find(ref); it != refs_.end()) return it->second;
  const Json* target = nullptr;
  try {
    target = &root_.at(Json::json_pointer(ref.substr(1)));
  } catch (const Json::exception&) {
    error(path, "'$ref' '", ref, "' does not resolve");
  }
  // Named before compiling, so a recursive schema refers back to this rule.
  const std::string hint = ref == "#" ? "root-ref" : ref.substr(ref.rfind('/') + 1);
  const std::string name = fresh(hint);
  refs_[ref] = name;
  rules_.emplace_back(name, "");
  const size_t at = rules_.size() - 1;
  const std::string body = compile(*target, ref, name + "-value");
  rules_[at].second = body;
  return name;
}

std::string SchemaCompiler::compile_typed(const Json& s, const std::string& type, const std::string& path,
                                          const std::string& hint) {
  if (type == "any") return use("value");
  if (type == "object") return compile_object(s, path, hint);
  if (type == "array") return compile_array(s, path, hint);
  if (type == "string") return compile_string(s, path);
  if (type == "number" || type == "integer" || type == "boolean" || type == "null") return use(type);
  error(path, "unknown type '", type, "'");
}

// Declared properties in order: `first_i` = members i.. when none has been written yet, `rest_i` = the
// same after one has (each then preceded by a comma). Required members are mandatory in both.
std::string SchemaCompiler::compile_object(const Json& s, const std::string& path, const std::string& hint) {
  use("ws");
  const Json empty = Json::object();
  const Json& props = s.contains("properties") ? s["properties"] : empty;
  if (!props.is_object()) error(path, "'properties' must be an object");
  std::set<std::string> required;
  if (s.contains("required")) {
    if (!s["required"].is_array()) error(path, "'required' must be an array");
    for (const Json& r : s["required"]) {
      if (!r.is_string() || !props.contains(r.get<std::string>())) {
        error(path, "'required' names ", r.dump(), ", which is not in 'properties'");
      }
      required.insert(r.get<std::string>());
    }
  }
  const Json* extra = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
  if (props.empty()) {
    if (!extra || (extra->is_boolean() && extra->get<bool>())) return use("object");
    if (extra->is_boolean()) return add_rule(hint, R"("{" ws "}")");
    const std::string v = compile(*extra, path + "/additionalProperties", hint + "-value");
    const std::string kv = use("string") + R"( ws ":" ws )" + v;
    return add_rule(hint, str_cat(R"("{" ws ()", kv, R"( (ws "," ws )", kv, R"()* ws)? "}")"));
  }
  if (extra && !(extra->is_boolean() && !extra->get<bool>())) {
    error(path, "'additionalProperties' other than false alongside 'properties' is not supported");
  }
  std::vector<std::pair<std::string, bool>> members;  // (rule body of `"key": value`, required)
  for (const auto& [key, sub] : props.items()) {
    const std::string v = compile(sub, path + "/properties/" + key, hint + "-" + key);
    members.emplace_back(str_cat(gbnf_literal(Json(key).dump()), R"( ws ":" ws )", v), required.count(key) > 0);
  }
  std::string rest, first;  // rule names for i+1 ("" = nothing left)
  for (size_t i = members.size(); i-- > 0;) {
    const auto& [kv, req] = members[i];
    const std::string tail = rest.empty() ? "" : " " + rest;
    const std::string sep = R"(ws "," ws )";
    const std::string r_body = req ? sep + kv + tail : str_cat("(", sep, kv, ")?", tail);
    std::string f_body = kv + tail;
    if (!req) f_body += first.empty() ? R"( | "")" : " | " + first;  // not a trailing `|`: see grammar.h
    rest = add_rule(str_cat(hint, "-rest-", i), r_body);
    first = add_rule(str_cat(hint, "-first-", i), f_body);
  }
  if (!required.empty()) return add_rule(hint, str_cat(R"("{" ws )", first, R"( ws "}")"));
  return add_rule(hint, str_cat(R"("{" ws ()", first, R"( ws)? "}")"));
}

std::string SchemaCompiler::compile_array(const Json& s, const std::string& path, const std::string& hint) {
  use("ws");
  const std::string item = s.contains("items") ? compile(s["items"], path + "/items", hint + "-item") : use("value");
  const uint32_t min = s.contains("minItems") ? count(s, "minItems", path) : 0;
  const bool bounded = s.contains("maxItems");
  const uint32_t max = bounded ? count(s, "maxItems", path) : 0;
  if (bounded && max < min) error(path, "'maxItems' below 'minItems'");
  if (bounded && max == 0) return add_rule(hint, R"("[" ws "]")");
  // The first item, then (min-1 .. max-1) more after commas.
  const uint32_t more_min = min > 0 ? min - 1 : 0;
  const std::string more =
      bounded ? str_cat("{", more_min, ",", max - 1, "}") : (more_min > 0 ? str_cat("{", more_min, ",}") : "*");
  const std::string items = str_cat(item, R"( (ws "," ws )", item, ")", more, " ws");
  return add_rule(hint, min > 0 ? str_cat(R"("[" ws )", items, R"( "]")") : str_cat(R"("[" ws ()", items, R"()? "]")"));
}

std::string SchemaCompiler::compile_string(const Json& s, const std::string& path) {
  if (!s.contains("minLength") && !s.contains("maxLength")) return use("string");
  use("char");
  const uint32_t min = s.contains("minLength") ? count(s, "minLength", path) : 0;
  if (!s.contains("maxLength")) return str_cat(R"("\"" char{)", min, R"(,} "\"")");
  const uint32_t max = count(s, "maxLength", path);
  if (max < min) error(path, "'maxLength' below 'minLength'");
  return str_cat(R"("\"" char{)", min, ",", max, R"(} "\"")");
}

Json parse_schema(std::string_view text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    fail(ErrorKind::kInvalidArgument, "json schema: not valid JSON: ", e.what());
  }
}

}  // namespace

std::string json_schema_to_gbnf(std::string_view schema_json) {
  const Json schema = parse_schema(schema_json);
  return SchemaCompiler(schema).compile_root();
}

Grammar json_schema_grammar(std::string_view schema_json) { return Grammar::parse(json_schema_to_gbnf(schema_json)); }

std::string json_object_gbnf() {
  const Json none;
  return SchemaCompiler(none).any_object();
}

Grammar json_object_grammar() { return Grammar::parse(json_object_gbnf()); }

}  // namespace dm
