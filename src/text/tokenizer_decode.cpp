// decode() of both modes. Ids are already range-checked by Tokenizer::decode.
#include <string>
#include <vector>

#include "text/tokenizer_impl.h"

namespace xsam {
namespace {

constexpr const char* kSpaceSymbol = "\xE2\x96\x81";  // "▁"
constexpr size_t kSpaceSymbolBytes = 3;
constexpr const char* kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// "<0xHH>" -> the byte, as HF's ByteFallback decoder reads it.
bool byte_piece(const std::string& token, unsigned char* byte) {
  if (token.size() != 6 || !starts_with(token, "<0x") || token[5] != '>') return false;
  unsigned value = 0;
  for (int i = 3; i < 5; ++i) {
    char c = token[static_cast<size_t>(i)];
    unsigned digit = (c >= '0' && c <= '9') ? unsigned(c - '0')
                     : (c >= 'a' && c <= 'f') ? unsigned(c - 'a' + 10)
                     : (c >= 'A' && c <= 'F') ? unsigned(c - 'A' + 10)
                                              : 16u;
    if (digit > 15) return false;
    value = value * 16 + digit;
  }
  *byte = static_cast<unsigned char>(value);
  return true;
}

// HF slow decode groups: tokens that are added but not in all_special_tokens, and the additional
// special tokens (not bos/eos/unk/pad) beyond the SentencePiece vocabulary, stand alone.
bool is_legacy_added(const Tokenizer::Impl& t, const std::string& token) {
  const AddedToken* a = t.added.find_content(token);
  if (!a) return false;
  if (!a->all_special) return true;
  bool additional = !t.added.has_role(a->content);
  return additional && a->id >= t.spm->size();
}

bool is_all_special_content(const Tokenizer::Impl& t, const std::string& token) {
  const AddedToken* a = t.added.find_content(token);
  return a && a->all_special;
}

// LlamaTokenizer.convert_tokens_to_string (add_prefix_space=True, legacy=False).
std::string slow_tokens_to_string(const Tokenizer::Impl& t, std::vector<std::string> tokens) {
  if (starts_with(tokens[0], kSpaceSymbol)) tokens[0].erase(0, kSpaceSymbolBytes);  // the prefix encode added
  std::string out;
  std::vector<std::string> pending;
  bool previous_special = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    if (is_all_special_content(t, token)) {
      out += t.spm->decode_pieces(pending, /*add_dummy_prefix=*/false) + token;
      pending.clear();
      previous_special = true;
    } else {
      if (previous_special && i == 1 && !starts_with(token, kSpaceSymbol)) out += " ";
      pending.push_back(token);
      previous_special = false;
    }
  }
  return out + t.spm->decode_pieces(pending, /*add_dummy_prefix=*/false);
}

}  // namespace

// PreTrainedTokenizer._decode (spaces_between_special_tokens=True, clean_up_tokenization_spaces=False).
std::string decode_slow(const Tokenizer::Impl& t, const std::vector<int64_t>& ids, bool skip_special) {
  std::vector<std::string> sub_texts;
  std::vector<std::string> current;
  for (int64_t id : ids) {
    const AddedToken* a = t.added_by_id(id);
    if (skip_special && a && a->all_special) continue;  // all_special_ids, not the "special" flag
    std::string token = t.piece_of(id);
    if (is_legacy_added(t, token)) {
      if (!current.empty()) {
        std::string s = slow_tokens_to_string(t, current);
        if (!s.empty()) sub_texts.push_back(s);
        current.clear();
      }
      sub_texts.push_back(token);
    } else {
      current.push_back(token);
    }
  }
  if (!current.empty()) sub_texts.push_back(slow_tokens_to_string(t, current));
  std::string text;
  for (size_t i = 0; i < sub_texts.size(); ++i) text += (i ? " " : "") + sub_texts[i];
  return text;
}

// tokenizers' decoder of Phi-3's tokenizer.json: Replace("▁", " "), ByteFallback, Fuse, Strip(" ", 1, 0).
std::string decode_fast(const Tokenizer::Impl& t, const std::vector<int64_t>& ids, bool skip_special) {
  std::string text;
  std::string bytes;  // a run of byte pieces, emitted whole if valid UTF-8, else one U+FFFD per byte
  auto flush_bytes = [&] {
    if (bytes.empty()) return;
    if (first_invalid_utf8(bytes) == std::string::npos) {
      text += bytes;
    } else {
      for (size_t i = 0; i < bytes.size(); ++i) text += kReplacementChar;
    }
    bytes.clear();
  };
  for (int64_t id : ids) {
    const AddedToken* a = t.added_by_id(id);
    if (skip_special && a && a->special) continue;
    std::string token = replace_all(t.piece_of(id), kSpaceSymbol, " ");
    unsigned char byte = 0;
    if (byte_piece(token, &byte)) {
      bytes.push_back(static_cast<char>(byte));
      continue;
    }
    flush_bytes();
    text += token;
  }
  flush_bytes();
  if (!text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

}  // namespace xsam
