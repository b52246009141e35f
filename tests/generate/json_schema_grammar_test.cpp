// JSON schema -> grammar: fixed strings accepted/rejected, unsupported keywords named, and many random
// generations through the real Qwen vocabulary under the mask, each parsed with nlohmann::json and
// checked by the small validator below.
#include "devops_model/generate/json_schema_grammar.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "devops_model/core/error.h"
#include "devops_model/generate/grammar_matcher.h"
#include "devops_model/generate/token_table.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "test_util.h"

namespace dm {
namespace {
using nlohmann::json;

bool matches(const Grammar& g, const std::string& text) {
  GrammarMatcher m(g);
  return m.accept_bytes(text) && m.is_complete();
}

std::string schema_error(const std::string& schema) {
  try {
    json_schema_grammar(schema);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.what();
  }
  return "";
}

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The supported subset of JSON schema, checked the way the spec reads (not the way the compiler works).
bool valid(const json& v, const json& s, const json& root);

bool valid_type(const json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "number") return v.is_number();
  if (t == "integer") return v.is_number_integer() || (v.is_number_float() && std::trunc(v.get<double>()) == v);
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  return false;
}

bool valid_object(const json& v, const json& s, const json& root) {
  const json props = s.value("properties", json::object());
  for (const auto& r : s.value("required", json::array())) {
    if (!v.contains(r.get<std::string>())) return false;
  }
  for (const auto& [k, x] : v.items()) {
    if (props.contains(k)) {
      if (!valid(x, props[k], root)) return false;
    } else if (s.contains("additionalProperties")) {
      const json& ap = s["additionalProperties"];
      if (ap.is_boolean() ? !ap.get<bool>() : !valid(x, ap, root)) return false;
    }
  }
  return true;
}

bool valid(const json& v, const json& s, const json& root) {
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) return valid(v, root.at(json::json_pointer(s["$ref"].get<std::string>().substr(1))), root);
  if (s.contains("const") && v != s["const"]) return false;
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) return false;
  if (s.contains("anyOf") || s.contains("oneOf")) {
    const json& alts = s.contains("anyOf") ? s["anyOf"] : s["oneOf"];
    int n = 0;
    for (const auto& a : alts) n += valid(v, a, root);
    if (n == 0 || (s.contains("oneOf") && n != 1)) return false;
  }
  if (s.contains("allOf") && !valid(v, s["allOf"][0], root)) return false;
  if (s.contains("type")) {
    bool any = false;
    for (const auto& t : s["type"].is_array() ? s["type"] : json::array({s["type"]})) any = any || valid_type(v, t);
    if (!any) return false;
  }
  if (v.is_object() && !valid_object(v, s, root)) return false;
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
    for (const auto& x : v) {
      if (s.contains("items") && !valid(x, s["items"], root)) return false;
    }
  }
  if (v.is_string()) {
    const size_t n = code_points(v.get<std::string>());
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return false;
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return false;
  }
  return true;
}

TEST(JsonSchemaGrammar, ObjectsInDeclaredOrderWithOptionalMembers) {
  const Grammar g = json_schema_grammar(R"({"type": "object", "properties": {
      "a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "boolean"}}, "required": ["b"]})");
  EXPECT_TRUE(matches(g, R"({"b":"x"})"));
  EXPECT_TRUE(matches(g, R"({"a": 1, "b": "x", "c": true})"));
  EXPECT_TRUE(matches(g, "{\n  \"a\": -12,\n  \"b\": \"\\u00e9\\n\"\n}"));
  EXPECT_TRUE(matches(g, R"({"b":"x","c":false})"));
  EXPECT_FALSE(matches(g, R"({"a":1})"));            // b is required
  EXPECT_FALSE(matches(g, R"({"b":"x","a":1})"));    // declared order
  EXPECT_FALSE(matches(g, R"({"a":1.5,"b":"x"})"));  // integer
  EXPECT_FALSE(matches(g, R"({"b":"x","d":1})"));    // no other keys
  EXPECT_FALSE(matches(g, R"({"b":"x",})"));
  EXPECT_FALSE(matches(g, R"( {"b":"x"})"));           // nothing before the value
  EXPECT_FALSE(matches(g, R"({"b":"x"} )"));           // nor after it
  EXPECT_FALSE(matches(g, "{\"b\":\"x\"       \n}"));  // at most one space in a row
}

TEST(JsonSchemaGrammar, StringsNumbersAndEscapes) {
  const Grammar num = json_schema_grammar(R"({"type": "number"})");
  for (const char* ok : {"0", "-0", "12.5", "1e5", "-3.25E-07", "1234567890123456"})
    EXPECT_TRUE(matches(num, ok)) << ok;
  for (const char* bad : {"01", "+1", ".5", "1.", "1e", "12345678901234567", "1e100", "NaN"}) {
    EXPECT_FALSE(matches(num, bad)) << bad;
  }
  const Grammar str = json_schema_grammar(R"({"type": "string", "minLength": 2, "maxLength": 3})");
  EXPECT_TRUE(matches(str, R"("中文")"));
  EXPECT_TRUE(matches(str, R"("a\"b")"));
  EXPECT_FALSE(matches(str, R"("a")"));
  EXPECT_FALSE(matches(str, R"("abcd")"));
  const Grammar any = json_schema_grammar(R"({"type": "string"})");
  EXPECT_TRUE(matches(any, R"("\ud83d\ude00 \u20ac")"));
  EXPECT_FALSE(matches(any, R"("\ud83d")"));  // a lone surrogate escape does not parse as JSON
  EXPECT_FALSE(matches(any, R"("\ude00")"));
  EXPECT_FALSE(matches(any, "\"a\nb\""));  // raw control characters are not JSON
  EXPECT_FALSE(matches(any, R"("\x")"));
}

TEST(JsonSchemaGrammar, EnumsConstAnyOfRefsAndArrays) {
  const Grammar g = json_schema_grammar(R"({
    "$defs": {"color": {"enum": ["red", "grün", 3, null, {"k": [1, 2]}]},
              "node": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
                       "required": ["next"]}},
    "type": "array", "minItems": 1, "maxItems": 3,
    "items": {"anyOf": [{"$ref": "#/$defs/color"}, {"$ref": "#/definitions/x"}, {"$ref": "#/$defs/node"}]},
    "definitions": {"x": {"const": "x"}}})");
  EXPECT_TRUE(matches(g, R"(["red"])"));
  EXPECT_TRUE(matches(g, R"(["grün", 3, null])"));
  EXPECT_TRUE(matches(g, R"([{"k":[1,2]}, "x"])"));
  EXPECT_TRUE(matches(g, R"([{"next": {"next": null}}])"));
  EXPECT_FALSE(matches(g, R"([])"));
  EXPECT_FALSE(matches(g, R"(["red","red","red","red"])"));
  EXPECT_FALSE(matches(g, R"(["blue"])"));
  EXPECT_FALSE(matches(g, R"([{"k": [1,2]}])"));  // const/enum values are matched in compact form
  // Definitions named like the fixed rules do not replace them.
  const Grammar named = json_schema_grammar(
      R"({"$defs": {"string": {"const": 1}, "ws": {"const": 2}}, "type": "array",
          "items": {"anyOf": [{"$ref": "#/$defs/string"}, {"$ref": "#/$defs/ws"}, {"type": "string"}]}})");
  EXPECT_TRUE(matches(named, R"([1, 2, "s"])"));
  EXPECT_FALSE(matches(named, R"([3])"));
  const Grammar types = json_schema_grammar(R"({"type": ["integer", "null"]})");
  EXPECT_TRUE(matches(types, "7"));
  EXPECT_TRUE(matches(types, "null"));
  EXPECT_FALSE(matches(types, "7.5"));
}

TEST(JsonSchemaGrammar, UnsupportedKeywordsAreNamed) {
  EXPECT_NE(schema_error(R"({"type": "object", "properties": {"id": {"type": "string", "pattern": "^a"}}})")
                .find("unsupported keyword 'pattern' at #/properties/id"),
            std::string::npos);
  EXPECT_NE(schema_error(R"({"type": "string", "format": "date-time"})").find("unsupported keyword 'format' at #"),
            std::string::npos);
  EXPECT_NE(schema_error(R"({"type": "integer", "minimum": 0})").find("'minimum'"), std::string::npos);
  EXPECT_NE(schema_error(R"({"type": "array", "items": {"not": {}}})").find("'not' at #/items"), std::string::npos);
  EXPECT_NE(schema_error(R"({"properties": {"a": {}}, "additionalProperties": true})").find("additionalProperties"),
            std::string::npos);
  EXPECT_NE(schema_error(R"({"$ref": "other.json#/a"})").find("only local"), std::string::npos);
  EXPECT_NE(schema_error(R"({"$ref": "#/$defs/missing"})").find("does not resolve"), std::string::npos);
  EXPECT_NE(schema_error(R"({"allOf": [{}, {}]})").find("allOf"), std::string::npos);
  EXPECT_NE(schema_error(R"({"type": "object", "required": ["a"]})").find("not in 'properties'"), std::string::npos);
  EXPECT_NE(schema_error(R"({"type": "strin"})").find("unknown type 'strin'"), std::string::npos);
  EXPECT_NE(schema_error(R"({"type": "array", "maxItems": 100000})").find("'maxItems' over 4096"), std::string::npos);
  EXPECT_NE(schema_error("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(schema_error(R"({"maxLength": 1e999})").find("not valid JSON"), std::string::npos);  // fuzz find
  EXPECT_NE(schema_error("false").find("matches nothing"), std::string::npos);
  EXPECT_NE(schema_error(R"({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})").find("left-recursive"),
            std::string::npos);
  EXPECT_EQ(schema_error(R"({"title": "t", "description": "d", "$schema": "x", "default": 1, "examples": [1]})"), "");
}

// Random generations through the real vocabulary: random logits (with a bias towards closing quotes,
// brackets and eos so that most finish within the cap), the grammar's mask, greedy on the result.
class JsonSchemaSampling : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tok_ = Tokenizer::from_file(test::fixture("qwen-tokenizer/tokenizer.json")).release();
    eos_ = *tok_->token_id("<|im_end|>");
    table_ = new TokenTable(TokenTable::from_tokenizer(*tok_, {eos_, *tok_->token_id("<|endoftext|>")}));
    bias_.assign(static_cast<size_t>(table_->size()), 0.0f);
    for (int32_t id = 0; id < table_->size(); ++id) {
      const std::string& b = table_->bytes(id);
      if (b.find_first_of("\"}]") != std::string::npos) bias_[static_cast<size_t>(id)] = 5.0f;
    }
    bias_[static_cast<size_t>(eos_)] = 100.0f;
  }
  static void TearDownTestSuite() {
    delete table_;
    delete tok_;
  }

  // Generates `seeds` texts; each must parse and validate. Counts those that finished within the cap.
  static void sample_many(const json& schema, const Grammar& g, int seeds, int& finished, int max_tokens = 200) {
    finished = 0;
    for (int seed = 0; seed < seeds; ++seed) {
      std::mt19937_64 rng(static_cast<uint64_t>(seed));
      std::normal_distribution<float> noise(0.0f, 2.0f);
      GrammarMatcher m(g);
      std::string text;
      std::vector<float> logits(static_cast<size_t>(table_->size()) + 7);  // the model's padded rows
      for (int step = 0; step < max_tokens && !m.is_finished(); ++step) {
        for (size_t i = 0; i < logits.size(); ++i) logits[i] = noise(rng) + (i < bias_.size() ? bias_[i] : 0.0f);
        ASSERT_GT(m.mask_logits(logits, *table_), 0u) << "stuck after: " << text;
        const auto id = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        ASSERT_TRUE(m.accept_token(id, *table_)) << text;
        if (!table_->is_eos(id)) text += table_->bytes(id);
      }
      if (!m.is_finished()) continue;
      ++finished;
      json v;
      ASSERT_NO_THROW(v = json::parse(text)) << "seed " << seed << ": " << text;
      EXPECT_TRUE(valid(v, schema, schema)) << "seed " << seed << ": " << text;
    }
  }

  void check_schema(const char* schema_text, int seeds = 12) {
    const json schema = json::parse(schema_text);
    int finished = 0;
    sample_many(schema, json_schema_grammar(schema_text), seeds, finished);
    EXPECT_GE(finished, seeds * 3 / 4) << schema_text;
  }

  static Tokenizer* tok_;
  static TokenTable* table_;
  static int32_t eos_;
  static std::vector<float> bias_;
};
Tokenizer* JsonSchemaSampling::tok_ = nullptr;
TokenTable* JsonSchemaSampling::table_ = nullptr;
int32_t JsonSchemaSampling::eos_ = 0;
std::vector<float> JsonSchemaSampling::bias_;

TEST_F(JsonSchemaSampling, JsonObjectAlwaysParses) {
  int finished = 0;
  sample_many(json{{"type", "object"}}, json_object_grammar(), 16, finished);
  EXPECT_GE(finished, 12);
}

TEST_F(JsonSchemaSampling, NestedObjectsRequiredAndOptional) {
  check_schema(R"({"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 12},
      "age": {"type": "integer"},
      "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                  "required": ["city"]},
      "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
    "required": ["name", "address"]})");
}

TEST_F(JsonSchemaSampling, ArraysEnumsAndNumbers) {
  check_schema(R"({"type": "array", "minItems": 2, "maxItems": 4, "items": {"type": "object", "properties": {
      "level": {"enum": ["debug", "info", "警告", 3, true, null]}, "ratio": {"type": "number"},
      "count": {"type": "integer"}}, "required": ["level", "ratio", "count"]}})");
}

TEST_F(JsonSchemaSampling, AnyOfRefsAndTypeLists) {
  check_schema(R"({"$defs": {"cmd": {"type": "object", "properties": {"kind": {"const": "cmd"},
                                     "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
                                     "required": ["kind", "argv"]},
                              "leaf": {"type": ["integer", "boolean", "null"]}},
                   "type": "object",
                   "properties": {"step": {"oneOf": [{"$ref": "#/$defs/cmd"}, {"$ref": "#/$defs/leaf"},
                                                      {"type": "string", "minLength": 1}]},
                                  "extra": {"type": "object", "additionalProperties": {"type": "number"}}},
                   "required": ["step", "extra"]})");
}

TEST_F(JsonSchemaSampling, RecursiveSchema) {
  check_schema(R"({"$defs": {"tree": {"type": "object", "properties": {"v": {"type": "integer"},
                   "kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}, "maxItems": 2}}, "required": ["v"]}},
                   "$ref": "#/$defs/tree"})");
}

// The trie walk gives exactly the tokens a token-by-token check accepts, at several kinds of states.
TEST_F(JsonSchemaSampling, MaskEqualsTokenByTokenCheck) {
  const Grammar g = json_schema_grammar(R"({"type": "object", "properties": {"msg": {"type": "string"},
      "n": {"type": "number"}}, "required": ["msg", "n"]})");
  for (const char* prefix :
       {"", "{\"msg\": \"héllo ", "{\"msg\": \"\xe4\xb8", "{\"msg\":\"\",\"n\":-1.2", "{\"msg\":\"\",\"n\":-1.2e5}"}) {
    GrammarMatcher m(g);
    ASSERT_TRUE(m.accept_bytes(prefix)) << prefix;
    std::vector<uint8_t> allowed;
    const size_t n = m.fill_allowed(*table_, allowed);
    size_t brute = 0;
    for (int32_t id = 0; id < table_->size(); ++id) {
      const bool ok =
          table_->is_eos(id) ? m.is_complete() : !table_->bytes(id).empty() && m.can_accept(table_->bytes(id));
      ASSERT_EQ(ok, allowed[static_cast<size_t>(id)] == 1) << prefix << " token " << id;
      brute += ok;
    }
    EXPECT_EQ(n, brute) << prefix;
    EXPECT_GT(n, 0u) << prefix;
  }
}

}  // namespace
}  // namespace dm
