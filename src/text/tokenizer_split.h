// Splitting text on added tokens, as both HF tokenizers do before SentencePiece sees anything:
// leftmost-longest match of the token contents in the raw text, then lstrip/rstrip tokens swallow the
// whitespace next to them ("\n" included). Also the UTF-8 helpers the tokenizer needs.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer_added_tokens.h"

namespace xsam {

// Which notion of "whitespace" strips: Python's str.isspace (slow tokenizer: str.lstrip/rstrip) or
// Rust's char::is_whitespace (fast tokenizer). They differ only on U+001C..U+001F.
enum class WhitespaceRule { Python, Rust };

struct TextPart {
  const AddedToken* token = nullptr;  // an added token, or nullptr for plain text
  std::string_view text;              // plain text (never empty); the token's content otherwise
};

// Finds added tokens by leftmost-longest match. Built once per tokenizer.
class AddedTokenMatcher {
 public:
  explicit AddedTokenMatcher(const AddedTokenTable& table);
  // Splits `text` (which must outlive the result) into plain text and tokens; strips per the flags.
  // `user` (one flag per byte of `text`, or empty): bytes of the user's text, where no token is matched.
  std::vector<TextPart> split(std::string_view text, WhitespaceRule rule, const std::vector<bool>& user = {}) const;

 private:
  std::vector<std::vector<const AddedToken*>> by_first_byte_;  // 256 lists, longest content first
};

// Offset of the first byte that is not part of valid UTF-8, or npos.
size_t first_invalid_utf8(std::string_view text);
// Throws xsam::Failure(InvalidArgument) naming `what` and the byte offset when `text` is not UTF-8.
void require_utf8(std::string_view text, const std::string& what);

bool is_whitespace(char32_t c, WhitespaceRule rule);
// Python's s.strip() == "" (for encode_fn's blank-chunk rule).
bool is_blank(std::string_view text);
// Replaces every occurrence of `from` by `to`.
std::string replace_all(std::string_view text, std::string_view from, std::string_view to);

}  // namespace xsam
