// xsam::Tokenizer — text <-> ids exactly as upstream X-SAM's Hugging Face tokenizer, in either mode:
//  - TokenizerMode::Fast: LlamaTokenizerFast from Phi-3's tokenizer.json (what upstream runs; real models);
//  - TokenizerMode::Slow: LlamaTokenizer (legacy=False) from tokenizer.model (the golden sets).
// Rules: docs/design/upstream-facts.md#tokenization and tests/data/tokenizer/SOURCE.md; checked on cases.json /
// cases_fast.json.
//
// Built from a model directory (tokenizer.model plus the added tokens in either layout of
// tokenizer_added_tokens.h). SentencePiece runs in the isolated plugin (plugin_loader.h). A Tokenizer
// is immutable after construction, cheap to copy (shared state) and safe to use from several threads.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "text/tokenizer_added_tokens.h"

namespace xsam {

// X-SAM's tokens, added by upstream with tokenizer.add_tokens([...], special_tokens=True).
inline const std::vector<std::string>& xsam_special_tokens() {
  static const std::vector<std::string> tokens{"<SEG>", "<p>", "</p>"};
  return tokens;
}

struct TokenizerOptions {
  TokenizerMode mode = TokenizerMode::Fast;
  std::string plugin_path;      // empty: the search of plugin_loader.h
  bool add_xsam_tokens = true;  // append <SEG> <p> </p> (next free ids) when the files lack them
};

// upstream encode_fn's chunking (docs/design/upstream-facts.md#tokenization).
struct ChunkOptions {
  int64_t image_sentinel = -200;   // for "<image>"
  int64_t region_sentinel = -300;  // for "<region>"
  bool drop_blank_chunks = false;  // main branch: drop chunks whose strip() is empty
};

class Tokenizer {
 public:
  // Reads `dir`/tokenizer.model and the added tokens. Throws xsam::Failure naming the file at fault.
  static Tokenizer from_directory(const std::string& dir, const TokenizerOptions& options = {});
  // From explicit parts (tokenizer.model bytes + table); `source` names the model in messages.
  static Tokenizer from_parts(std::string model_bytes, const std::string& source, AddedTokenTable added,
                              const TokenizerOptions& options = {});

  TokenizerMode mode() const;

  // tokenizer.encode(text, add_special_tokens=False): no BOS. Throws InvalidArgument for non-UTF-8 text.
  std::vector<int64_t> encode(const std::string& text) const;
  // encode_fn: split on "<image>"/"<region>" (kept as sentinels), each other chunk encoded on its own.
  // Text between kUserTextBegin and kUserTextEnd (bytes that valid UTF-8 never holds; the markers are
  // dropped) is the user's: no added token (<SEG>, <p>, <|end|>, ...) and no <image>/<region> is matched
  // inside it, so "<SEG>" typed by a user is the ordinary text "<", "SEG", ">" (docs/reliability.md §9).
  std::vector<int64_t> encode_chunks(const std::string& text, const ChunkOptions& options = {}) const;
  static constexpr char kUserTextBegin = '\xFE', kUserTextEnd = '\xFF';
  // `text` wrapped in the user-text markers; `text` without them.
  static std::string user_text(const std::string& text);
  static std::string without_user_markers(const std::string& text);
  // tokenizer.decode(ids, skip_special_tokens, clean_up_tokenization_spaces=False) of the mode.
  // Throws InvalidArgument for an id outside [0, vocab_size()).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  // HF convert_ids_to_tokens: the added token's content or the SentencePiece piece.
  std::string id_to_piece(int64_t id) const;
  // Id of an added token ("<SEG>") or of a SentencePiece piece ("▁the"). Throws InvalidArgument if none.
  int64_t token_id(const std::string& token) const;
  std::optional<int64_t> find_token_id(const std::string& token) const;

  int64_t vocab_size() const;       // len(tokenizer): SentencePiece pieces + added tokens beyond them
  int64_t base_vocab_size() const;  // SentencePiece pieces only
  bool is_special(int64_t id) const;      // an added token flagged special (fast skip_special drops it)
  bool is_all_special(int64_t id) const;  // in HF's all_special_tokens (slow skip_special drops it)
  std::optional<int64_t> bos_id() const;
  std::optional<int64_t> eos_id() const;
  const AddedTokenTable& added_tokens() const;

  // Writes tokenizer.model and added_tokens.json (layout (a)) into `dir`, which must exist, so that
  // from_directory(dir) gives back this tokenizer. Used by random-model and the exporter.
  void save_model_files(const std::string& dir) const;

  struct Impl;

 private:
  std::vector<int64_t> encode_chunks_marked(const std::string& marked, const ChunkOptions& options) const;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace xsam
