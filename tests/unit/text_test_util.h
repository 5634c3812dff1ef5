// Shared by the text_* tests: the fixture tokenizers, built once per process.
#pragma once
#include <string>

#include "support/golden.h"
#include "text/tokenizer.h"

namespace xsam::test {

// The HF side files of the fixture (Phi-3 tokenizer_config + tokenizer.model); X-SAM's three tokens
// are added on top by TokenizerOptions::add_xsam_tokens (ids 32011-32013).
inline std::string fixture_tokenizer_dir() { return data_dir() + "/tokenizer/hf-phi3-xsam"; }

inline TokenizerOptions tokenizer_options(TokenizerMode mode) {
  TokenizerOptions o;
  o.mode = mode;
  o.plugin_path = tokenizer_plugin();  // "" -> the loader's own search (beside the test binary, ../lib)
  return o;
}

inline const Tokenizer& fixture_tokenizer(TokenizerMode mode) {
  static const Tokenizer slow = Tokenizer::from_directory(fixture_tokenizer_dir(), tokenizer_options(TokenizerMode::Slow));
  static const Tokenizer fast = Tokenizer::from_directory(fixture_tokenizer_dir(), tokenizer_options(TokenizerMode::Fast));
  return mode == TokenizerMode::Slow ? slow : fast;
}

}  // namespace xsam::test
