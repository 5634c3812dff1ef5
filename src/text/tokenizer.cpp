#include "text/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/files.h"
#include "text/plugin_loader.h"
#include "text/tokenizer_impl.h"

namespace xsam {
namespace {

constexpr const char* kSpaceSymbol = "\xE2\x96\x81";  // "▁" (U+2581), SentencePiece's space

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail(Status::Io, path + ": cannot create");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) fail(Status::Io, path + ": write error");
}

// Slow tokenizer (LlamaTokenizer, legacy=False), docs/design/upstream-facts.md#tokenization (the slow rule), steps
// 1-5. replace_all(text, "▁", " ") that carries the user-text flags along.
std::string spaces_for_symbols(const std::string& text, const std::vector<bool>& user, std::vector<bool>* user_out) {
  const std::string symbol = kSpaceSymbol;
  std::string out;
  user_out->clear();
  for (size_t i = 0; i < text.size();) {
    const bool flag = !user.empty() && user[i];
    if (text.compare(i, symbol.size(), symbol) == 0) {
      out += ' ';
      i += symbol.size();
    } else {
      out += text[i++];
    }
    if (!user.empty()) user_out->push_back(flag);
  }
  return out;
}

std::vector<int64_t> encode_slow(const Tokenizer::Impl& t, const std::string& text, const std::vector<bool>& user = {}) {
  if (text.empty()) return {};
  // Step 2: one "▁" for the whole text (literal "▁" in the text counts as a space).
  std::vector<bool> replaced_user;
  const std::string prefixed = kSpaceSymbol + spaces_for_symbols(text, user, &replaced_user);
  if (!user.empty()) replaced_user.insert(replaced_user.begin(), std::string(kSpaceSymbol).size(), false);
  std::vector<int64_t> ids;
  std::vector<bool> from_added;
  // Steps 3-4: split on added tokens (Python's whitespace for the strips), SentencePiece without a
  // dummy prefix on each text part.
  for (const TextPart& part : t.matcher->split(prefixed, WhitespaceRule::Python, replaced_user)) {
    if (part.token) {
      ids.push_back(part.token->id);
      from_added.push_back(true);
      continue;
    }
    for (int32_t id : t.spm->encode(part.text, /*add_dummy_prefix=*/false)) {
      ids.push_back(id);
      from_added.push_back(false);
    }
  }
  // Step 5: the lone "▁" left by step 2 goes when an all_special_tokens member follows it.
  if (ids.size() > 1 && !from_added[0] && t.spm->piece(static_cast<int32_t>(ids[0])) == kSpaceSymbol && from_added[1] &&
      t.added_by_id(ids[1])->all_special)
    ids.erase(ids.begin());
  return ids;
}

// Fast tokenizer (LlamaTokenizerFast from Phi-3's tokenizer.json): split on added tokens (Rust's
// whitespace), then every text part gets the normalizer Prepend("▁") + Replace(" ", "▁") and BPE,
// which is SentencePiece with its own dummy prefix.
std::vector<int64_t> encode_fast(const Tokenizer::Impl& t, const std::string& text, const std::vector<bool>& user = {}) {
  std::vector<int64_t> ids;
  for (const TextPart& part : t.matcher->split(text, WhitespaceRule::Rust, user)) {
    if (part.token) {
      ids.push_back(part.token->id);
      continue;
    }
    for (int32_t id : t.spm->encode(part.text, /*add_dummy_prefix=*/true)) ids.push_back(id);
  }
  return ids;
}

}  // namespace

void Tokenizer::Impl::check_id(int64_t id) const {
  if (id < 0 || id >= vocab_size)
    fail(Status::InvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                      std::to_string(vocab_size) + ") of " + spm->source());
}

std::string Tokenizer::Impl::piece_of(int64_t id) const {
  check_id(id);
  if (const AddedToken* a = added_by_id(id)) return a->content;
  return spm->piece(static_cast<int32_t>(id));
}

Tokenizer Tokenizer::from_directory(const std::string& dir, const TokenizerOptions& options) {
  const std::string model_path = dir + "/tokenizer.model";
  std::string bytes = read_regular_file(model_path, "cannot open the SentencePiece model (missing or unreadable)");
  AddedTokenTable added = read_added_tokens(dir);
  return from_parts(std::move(bytes), model_path, std::move(added), options);
}

Tokenizer Tokenizer::from_parts(std::string model_bytes, const std::string& source, AddedTokenTable added,
                                const TokenizerOptions& options) {
  auto impl = std::make_shared<Impl>();
  impl->mode = options.mode;
  const TokenizerPlugin& plugin = load_tokenizer_plugin(options.plugin_path);
  impl->spm = std::make_unique<SpmModel>(plugin, std::move(model_bytes), source);
  const int64_t base = impl->spm->size();

  if (options.mode == TokenizerMode::Slow && added.legacy)
    fail(Status::Unsupported, added.source + ": legacy: the slow tokenizer is implemented for legacy=false only "
                                             "(Phi-3's value); use tokenizer mode \"fast\" or set legacy to false");

  // HF registers the special roles as added tokens when the config does not list them.
  for (const std::string* role : {&added.unk, &added.bos, &added.eos, &added.pad}) {
    if (role->empty() || added.find_content(*role)) continue;
    auto id = impl->spm->piece_id(*role);
    if (!id) fail(Status::Format, added.source + ": special token " + *role + " is neither an added token nor a piece of " + source);
    AddedToken t;
    t.id = *id;
    t.content = *role;
    t.special = t.all_special = true;
    added.tokens.push_back(t);
  }
  if (options.add_xsam_tokens) {
    for (const auto& content : xsam_special_tokens()) {
      int64_t next = base;
      for (const auto& t : added.tokens) next = std::max(next, t.id + 1);
      added.add_special_if_missing(content, next);
    }
  }
  added.sort_and_check();

  // Added ids beyond the SentencePiece vocabulary must continue it without gaps (len(tokenizer)).
  int64_t expected = base;
  for (const auto& t : added.tokens) {
    if (t.id < base) continue;
    if (t.id != expected)
      fail(Status::Format, added.source + ": added token " + t.content + " has id " + std::to_string(t.id) +
                               ", expected " + std::to_string(expected) + " (ids must continue the " +
                               std::to_string(base) + " pieces of " + source + " without gaps)");
    ++expected;
  }
  impl->vocab_size = expected;
  impl->added = std::move(added);
  impl->matcher = std::make_unique<AddedTokenMatcher>(impl->added);
  return Tokenizer(std::move(impl));
}

TokenizerMode Tokenizer::mode() const { return impl_->mode; }

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  require_utf8(text, "text to tokenize");
  return impl_->mode == TokenizerMode::Slow ? encode_slow(*impl_, text) : encode_fast(*impl_, text);
}

std::string Tokenizer::user_text(const std::string& text) { return kUserTextBegin + text + kUserTextEnd; }

std::string Tokenizer::without_user_markers(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != kUserTextBegin && c != kUserTextEnd) out += c;
  return out;
}

std::vector<int64_t> Tokenizer::encode_chunks(const std::string& marked, const ChunkOptions& options) const {
  if (marked.find(kUserTextBegin) != std::string::npos) return encode_chunks_marked(marked, options);
  const std::string& text = marked;
  require_utf8(text, "text to tokenize");
  static const std::string kImage = "<image>", kRegion = "<region>";
  if (text.find(kImage) == std::string::npos && text.find(kRegion) == std::string::npos) return encode(text);
  // re.split("(<image>|<region>)", text): the delimiters stay as chunks of their own.
  std::vector<int64_t> ids;
  auto add_chunk = [&](const std::string& chunk) {
    if (options.drop_blank_chunks && is_blank(chunk)) return;
    auto part = encode(chunk);
    ids.insert(ids.end(), part.begin(), part.end());
  };
  size_t pos = 0;
  while (true) {
    size_t image = text.find(kImage, pos), region = text.find(kRegion, pos);
    size_t hit = std::min(image, region);
    if (hit == std::string::npos) break;
    add_chunk(text.substr(pos, hit - pos));
    bool is_image = hit == image;
    ids.push_back(is_image ? options.image_sentinel : options.region_sentinel);
    pos = hit + (is_image ? kImage.size() : kRegion.size());
  }
  add_chunk(text.substr(pos));
  return ids;
}

// encode_chunks for text with user-text markers: the markers are removed, and the bytes between them
// are flagged so that neither the chunk split nor the added-token split matches inside them.
std::vector<int64_t> Tokenizer::encode_chunks_marked(const std::string& marked, const ChunkOptions& options) const {
  std::string text;
  std::vector<bool> user;
  bool inside = false;
  for (char c : marked) {
    if (c == kUserTextBegin || c == kUserTextEnd) {
      inside = c == kUserTextBegin;
      continue;
    }
    text += c;
    user.push_back(inside);
  }
  require_utf8(text, "text to tokenize");
  auto encode_part = [&](size_t begin, size_t end) {
    const std::string part = text.substr(begin, end - begin);
    const std::vector<bool> flags(user.begin() + long(begin), user.begin() + long(end));
    return impl_->mode == TokenizerMode::Slow ? encode_slow(*impl_, part, flags) : encode_fast(*impl_, part, flags);
  };
  static const std::string kImage = "<image>", kRegion = "<region>";
  auto find_outside_user = [&](const std::string& what, size_t from) {
    for (size_t at = text.find(what, from); at != std::string::npos; at = text.find(what, at + 1)) {
      bool touches_user = false;
      for (size_t i = at; i < at + what.size(); ++i) touches_user = touches_user || user[i];
      if (!touches_user) return at;
    }
    return std::string::npos;
  };
  std::vector<int64_t> ids;
  auto add_chunk = [&](size_t begin, size_t end) {
    if (options.drop_blank_chunks && is_blank(std::string_view(text).substr(begin, end - begin))) return;
    auto part = encode_part(begin, end);
    ids.insert(ids.end(), part.begin(), part.end());
  };
  size_t pos = 0;
  while (true) {
    const size_t image = find_outside_user(kImage, pos), region = find_outside_user(kRegion, pos);
    const size_t hit = std::min(image, region);
    if (hit == std::string::npos) break;
    add_chunk(pos, hit);
    const bool is_image = hit == image;
    ids.push_back(is_image ? options.image_sentinel : options.region_sentinel);
    pos = hit + (is_image ? kImage.size() : kRegion.size());
  }
  add_chunk(pos, text.size());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const {
  for (int64_t id : ids) impl_->check_id(id);
  return impl_->mode == TokenizerMode::Slow ? decode_slow(*impl_, ids, skip_special_tokens)
                                            : decode_fast(*impl_, ids, skip_special_tokens);
}

std::string Tokenizer::id_to_piece(int64_t id) const { return impl_->piece_of(id); }

std::optional<int64_t> Tokenizer::find_token_id(const std::string& token) const {
  if (const AddedToken* a = impl_->added.find_content(token)) return a->id;
  if (auto id = impl_->spm->piece_id(token)) return *id;
  return std::nullopt;
}

int64_t Tokenizer::token_id(const std::string& token) const {
  if (auto id = find_token_id(token)) return *id;
  fail(Status::InvalidArgument, "token \"" + token + "\" is neither an added token nor a piece of " + impl_->spm->source());
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }
int64_t Tokenizer::base_vocab_size() const { return impl_->spm->size(); }

bool Tokenizer::is_special(int64_t id) const {
  const AddedToken* a = impl_->added_by_id(id);
  return a && a->special;
}

bool Tokenizer::is_all_special(int64_t id) const {
  const AddedToken* a = impl_->added_by_id(id);
  return a && a->all_special;
}

std::optional<int64_t> Tokenizer::bos_id() const {
  if (impl_->added.bos.empty()) return std::nullopt;
  return find_token_id(impl_->added.bos);
}

std::optional<int64_t> Tokenizer::eos_id() const {
  if (impl_->added.eos.empty()) return std::nullopt;
  return find_token_id(impl_->added.eos);
}

const AddedTokenTable& Tokenizer::added_tokens() const { return impl_->added; }

void Tokenizer::save_model_files(const std::string& dir) const {
  write_file(dir + "/tokenizer.model", impl_->spm->bytes());
  write_file(dir + "/added_tokens.json", added_tokens_to_json(impl_->added).dump(2) + "\n");
}

}  // namespace xsam
