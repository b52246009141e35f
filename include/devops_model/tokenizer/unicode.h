// UTF-8 helpers shared by the tokenizer, the stream decoder and reply cleanup.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace dm {

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence which more bytes could
// still complete. Ill-formed bytes count as complete (they will never become valid).
size_t utf8_complete_prefix(std::string_view s);

// Python's bytes.decode("utf-8", errors="replace"): one U+FFFD per maximal ill-formed subpart.
std::string utf8_replace_invalid(std::string_view s);

bool utf8_is_valid(std::string_view s);

// Unicode NFC (utf8proc). Invalid UTF-8 is returned unchanged (Python strings cannot hold it).
std::string nfc_normalize(std::string_view s);

// Python str.strip(): removes leading/trailing characters for which str.isspace() is true.
std::string_view python_strip(std::string_view s);

}  // namespace dm

namespace dm {
// GPT-2 byte-level form of raw token bytes (space -> "Ġ", LF -> "Ċ"), as vocab.json and HF's
// convert_ids_to_tokens write them.
std::string byte_level_encode(std::string_view bytes);
}  // namespace dm
