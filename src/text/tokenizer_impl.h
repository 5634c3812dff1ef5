// Private state of xsam::Tokenizer, shared by tokenizer.cpp (loading, encoding) and
// tokenizer_decode.cpp (decoding). Not for use outside src/text/.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer.h"
#include "text/tokenizer_spm.h"
#include "text/tokenizer_split.h"

namespace xsam {

struct Tokenizer::Impl {
  TokenizerMode mode = TokenizerMode::Fast;
  std::unique_ptr<SpmModel> spm;
  AddedTokenTable added;                       // final: the matcher points into it
  std::unique_ptr<AddedTokenMatcher> matcher;
  int64_t vocab_size = 0;

  const AddedToken* added_by_id(int64_t id) const { return added.find_id(id); }
  // Throws InvalidArgument unless 0 <= id < vocab_size.
  void check_id(int64_t id) const;
  std::string piece_of(int64_t id) const;  // added content or SentencePiece piece
};

std::string decode_fast(const Tokenizer::Impl& t, const std::vector<int64_t>& ids, bool skip_special);
std::string decode_slow(const Tokenizer::Impl& t, const std::vector<int64_t>& ids, bool skip_special);

}  // namespace xsam
