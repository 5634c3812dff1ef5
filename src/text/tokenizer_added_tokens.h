// Added tokens: the HF notion of strings matched in the raw text before SentencePiece runs
// (Phi-3's <|user|> ..., X-SAM's <SEG> <p> </p>, and ids 0-2 <unk> <s> </s>), with their flags.
//
// A model directory describes them in one of two layouts (read_added_tokens):
//  (a) xsam: `added_tokens.json` = {"format": "xsam-added-tokens", "format_version": 1, "legacy": false,
//      "bos_token", "eos_token", "unk_token", "pad_token": contents (or null),
//      "added_tokens": [{"id", "content", "lstrip", "rstrip", "normalized", "special", "all_special"}]}
//      — self-contained; other tokenizer files in the directory are not read.
// docs/design/decisions.md#tokenizer-mode.
//  (b) HF / golden: `tokenizer_config.json` (`added_tokens_decoder` with the flags, bos/eos/unk/pad,
//      `additional_special_tokens`, `legacy`), optional `special_tokens_map.json`, optional
//      `added_tokens.json` as a plain {content: id} map (checked against the config), optional
//      `xsam_added_tokens.json` ({content: id}: X-SAM's add_tokens(..., special_tokens=True)).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace xsam {

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool lstrip = false;      // swallow whitespace to the left
  bool rstrip = false;      // swallow whitespace to the right ("\n" included)
  bool normalized = false;  // HF flag, kept and written back. Matching always uses the raw text (HF fast
                            // would match normalized=true tokens after its normalizer; no Phi-3/X-SAM
                            // token is normalized)
  bool special = false;     // dropped by the fast decode(skip_special_tokens=True)
  bool all_special = false; // member of HF's all_special_tokens (slow encode step 5, slow decode)
};

struct AddedTokenTable {
  std::vector<AddedToken> tokens;  // sorted by id, ids and contents unique
  // Contents of the special roles ("" when unset); they decide HF's slow decode grouping.
  std::string bos, eos, unk, pad;
  bool legacy = true;  // tokenizer_config "legacy" (HF's default when absent is true)
  std::string source;  // what it was read from, for messages

  const AddedToken* find_id(int64_t id) const;
  const AddedToken* find_content(const std::string& content) const;
  bool has_role(const std::string& content) const;  // is it bos, eos, unk or pad?
  // Adds a token (X-SAM's add_tokens(..., special_tokens=True) flags) unless its content exists.
  void add_special_if_missing(const std::string& content, int64_t next_id);
  void sort_and_check();  // sorts by id; throws naming `source` on duplicate ids/contents
};

// Reads the added tokens of `dir` (layout (a) or (b)). Throws xsam::Failure naming the file and field.
AddedTokenTable read_added_tokens(const std::string& dir);

// Layout (a) document / parser.
nlohmann::json added_tokens_to_json(const AddedTokenTable& table);
AddedTokenTable added_tokens_from_json(const nlohmann::json& j, const std::string& source);

}  // namespace xsam
