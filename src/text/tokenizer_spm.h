// C++ side of the SentencePiece plugin: one loaded tokenizer.model, RAII over the plugin's handle.
// Knows nothing of added tokens or HF modes (tokenizer.h builds those).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "text/plugin_loader.h"

namespace xsam {

class SpmModel {
 public:
  // `bytes` is the content of tokenizer.model; `source` names it in error messages.
  // Throws xsam::Failure(Status::Format) naming `source` when SentencePiece rejects the bytes.
  SpmModel(const TokenizerPlugin& plugin, std::string bytes, std::string source);
  ~SpmModel();
  SpmModel(const SpmModel&) = delete;
  SpmModel& operator=(const SpmModel&) = delete;

  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  const std::string& source() const { return source_; }
  const std::string& bytes() const { return bytes_; }

  // Ids of UTF-8 text; add_dummy_prefix: prepend "▁" (the model's own normalizer) or not.
  std::vector<int32_t> encode(std::string_view text, bool add_dummy_prefix) const;
  // SentencePiece's DecodePieces over piece strings (they need not be valid pieces).
  std::string decode_pieces(const std::vector<std::string>& pieces, bool add_dummy_prefix) const;

  const std::string& piece(int32_t id) const { return pieces_.at(static_cast<size_t>(id)); }
  std::optional<int32_t> piece_id(const std::string& piece) const;
  bool is_byte(int32_t id) const { return types_.at(static_cast<size_t>(id)) == XSAM_SPM_PIECE_BYTE; }

 private:
  const xsam_spm_api* api_;
  xsam_spm* handle_ = nullptr;
  std::string bytes_;
  std::string source_;
  std::vector<std::string> pieces_;  // copied once: id -> piece
  std::vector<int32_t> types_;       // id -> XSAM_SPM_PIECE_*
  std::unordered_map<std::string, int32_t> ids_;
};

}  // namespace xsam
