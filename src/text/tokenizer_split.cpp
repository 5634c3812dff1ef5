#include "text/tokenizer_split.h"

#include <algorithm>

#include "core/error.h"

namespace xsam {
namespace {

// Decodes one UTF-8 code point at `pos` (input already validated); returns its byte length.
size_t decode_utf8(std::string_view s, size_t pos, char32_t* out) {
  unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) {
    *out = c;
    return 1;
  }
  size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  char32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t i = 1; i < len && pos + i < s.size(); ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
  *out = cp;
  return len;
}

// Byte length of the whitespace run starting at `pos`.
size_t whitespace_run_forward(std::string_view s, size_t pos, WhitespaceRule rule) {
  size_t p = pos;
  while (p < s.size()) {
    char32_t c;
    size_t n = decode_utf8(s, p, &c);
    if (!is_whitespace(c, rule)) break;
    p += n;
  }
  return p - pos;
}

// Start of the whitespace run that ends at `end` (not before `floor`).
size_t whitespace_run_backward(std::string_view s, size_t end, size_t floor, WhitespaceRule rule) {
  size_t p = end;
  while (p > floor) {
    size_t q = p - 1;
    while (q > floor && (static_cast<unsigned char>(s[q]) & 0xC0) == 0x80) --q;  // back to a lead byte
    char32_t c;
    decode_utf8(s, q, &c);
    if (!is_whitespace(c, rule)) break;
    p = q;
  }
  return p;
}

}  // namespace

bool is_whitespace(char32_t c, WhitespaceRule rule) {
  if (c >= 0x09 && c <= 0x0D) return true;
  if (c >= 0x1C && c <= 0x1F) return rule == WhitespaceRule::Python;  // Python: bidi class B/S
  switch (c) {
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool is_blank(std::string_view text) { return whitespace_run_forward(text, 0, WhitespaceRule::Python) == text.size(); }

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t hit = from.empty() ? std::string_view::npos : text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

size_t first_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
    bool ok = len > 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && len == 3) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90);  // overlong, > U+10FFFF
    }
    if (!ok) return i;
    i += len;
  }
  return std::string_view::npos;
}

void require_utf8(std::string_view text, const std::string& what) {
  size_t bad = first_invalid_utf8(text);
  if (bad != std::string_view::npos)
    fail(Status::InvalidArgument, what + ": not valid UTF-8 at byte " + std::to_string(bad));
}

AddedTokenMatcher::AddedTokenMatcher(const AddedTokenTable& table) : by_first_byte_(256) {
  for (const auto& t : table.tokens) by_first_byte_[static_cast<unsigned char>(t.content[0])].push_back(&t);
  for (auto& list : by_first_byte_)
    std::stable_sort(list.begin(), list.end(),
                     [](const AddedToken* a, const AddedToken* b) { return a->content.size() > b->content.size(); });
}

std::vector<TextPart> AddedTokenMatcher::split(std::string_view text, WhitespaceRule rule,
                                               const std::vector<bool>& user) const {
  auto overlaps_user = [&](size_t begin, size_t end) {
    if (user.empty()) return false;
    for (size_t i = begin; i < end && i < user.size(); ++i)
      if (user[i]) return true;
    return false;
  };
  std::vector<TextPart> parts;
  size_t text_start = 0;  // start of the pending plain text
  size_t pos = 0;
  auto flush_text = [&](size_t end) {
    if (end > text_start) parts.push_back({nullptr, text.substr(text_start, end - text_start)});
  };
  while (pos < text.size()) {
    const AddedToken* hit = nullptr;
    for (const AddedToken* t : by_first_byte_[static_cast<unsigned char>(text[pos])])
      if (text.compare(pos, t->content.size(), t->content) == 0 && !overlaps_user(pos, pos + t->content.size())) {
        hit = t;  // the list is longest first
        break;
      }
    if (!hit) {
      ++pos;
      continue;
    }
    size_t token_start = pos;
    size_t token_end = pos + hit->content.size();
    size_t text_end = hit->lstrip ? whitespace_run_backward(text, token_start, text_start, rule) : token_start;
    flush_text(text_end);
    parts.push_back({hit, std::string_view(hit->content)});
    if (hit->rstrip) token_end += whitespace_run_forward(text, token_end, rule);
    text_start = pos = token_end;
  }
  flush_text(text.size());
  return parts;
}

}  // namespace xsam
