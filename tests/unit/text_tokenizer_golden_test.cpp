// The golden sets' prepared.input_ids, rebuilt from each case's conversation with the golden tokenizer
// directory (HF layout + xsam_added_tokens.json) in slow mode, as upstream encode_fn does per turn:
//   encode_fn(input) [+ encode(output) + encode(sep) when teacher-forced]   (no BOS: demo path)
#include <gtest/gtest.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"
#include "text_test_util.h"

using namespace xsam;
using nlohmann::json;

namespace {

const Tokenizer& golden_tokenizer() {
  static const Tokenizer tok =
      Tokenizer::from_directory(test::golden_dir() + "/tokenizer", test::tokenizer_options(TokenizerMode::Slow));
  return tok;
}

// The case's turns. imgconv_gen records no conversation: its prompt is the phi3_chat INSTRUCTION
// around "<image>\n" + prompt_arg (docs/design/upstream-facts.md#chat-template).
json conversation_of(const json& c) {
  if (!c.at("conversation").is_null()) return c.at("conversation");
  std::string input = "<|user|>\n<image>\n" + c.at("prompt_arg").get<std::string>() + "<|end|>\n<|assistant|>\n";
  return json::array({json{{"input", input}, {"output", ""}, {"sep", "\n"}}});
}

std::vector<int64_t> encode_case(const Tokenizer& tok, const json& c) {
  std::vector<int64_t> ids;
  auto append = [&](const std::vector<int64_t>& part) { ids.insert(ids.end(), part.begin(), part.end()); };
  bool teacher_forced = c.at("teacher_forced").get<bool>();
  for (const auto& turn : conversation_of(c)) {
    append(tok.encode_chunks(turn.at("input").get<std::string>()));
    if (!teacher_forced) continue;
    append(tok.encode(turn.at("output").get<std::string>()));
    append(tok.encode(turn.at("sep").get<std::string>()));
  }
  return ids;
}

}  // namespace

TEST(TokenizerGolden, EveryCaseInputIdsInSlowMode) {
  const Tokenizer& tok = golden_tokenizer();
  ASSERT_EQ(tok.vocab_size(), 32014);
  auto names = test::golden_case_names();
  ASSERT_GE(names.size(), 16u);
  int matched = 0;
  for (const auto& name : names) {
    test::GoldenCase golden(name);
    auto reference = golden.get("prepared.input_ids").contiguous();
    std::vector<int64_t> want(reference.data_ptr<int64_t>(), reference.data_ptr<int64_t>() + reference.numel());
    EXPECT_EQ(want, golden.json().at("input_ids").get<std::vector<int64_t>>()) << name << ": tensor vs json";
    auto got = encode_case(tok, golden.json());
    if (got == want) {
      ++matched;
    } else {
      ADD_FAILURE() << name << ": got " << json(got).dump() << "\n want " << json(want).dump();
    }
    // The recorded pieces are the slow tokenizer's own; sentinels are shown as <IMAGE:-200> etc.
    const auto& pieces = golden.json().at("input_text_pieces");
    for (size_t i = 0; i < want.size() && i < pieces.size(); ++i)
      if (want[i] >= 0) EXPECT_EQ(tok.id_to_piece(want[i]), pieces[i].get<std::string>()) << name << " position " << i;
  }
  std::printf("[tokenizer] golden prepared.input_ids (slow): %d/%zu cases match\n", matched, names.size());
  EXPECT_EQ(matched, static_cast<int>(names.size()));
}

// The golden generated text is slow-decode output: spaces around added tokens
// (docs/design/decisions.md#tokenizer-mode).
TEST(TokenizerGolden, GeneratedTextDecodesPerMode) {
  for (const auto& name : test::golden_case_names()) {
    test::GoldenCase golden(name);
    if (!golden.json().contains("generated_ids") || !golden.json().contains("generated_text")) continue;
    auto ids = golden.json().at("generated_ids").get<std::vector<int64_t>>();
    EXPECT_EQ(golden_tokenizer().decode(ids), golden.json().at("generated_text").get<std::string>()) << name;
  }
  // The same ids in both modes: "A", <p>, "▁cat", </p>, <SEG>, ".", <|end|> (Phi-3 / X-SAM vocabulary ids).
  const std::vector<int64_t> ids{319, 32012, 6635, 32013, 32011, 29889, 32007};
  EXPECT_EQ(test::fixture_tokenizer(TokenizerMode::Slow).decode(ids), "A <p> cat </p> <SEG> . <|end|>");
  EXPECT_EQ(test::fixture_tokenizer(TokenizerMode::Fast).decode(ids), "A<p> cat</p><SEG>.<|end|>");
}

// The same demo prompt in both modes (docs/design/upstream-facts.md#tokenization; tests/data/tokenizer/SOURCE.md,
// "encode_fn").
TEST(TokenizerGolden, DemoPromptDiffersOnlyWhereTheModesDo) {
  const std::string prompt = "<|user|>\n<image>\nCan you describe this image in detail?<|end|>\n<|assistant|>\n";
  auto slow = test::fixture_tokenizer(TokenizerMode::Slow).encode_chunks(prompt);
  auto fast = test::fixture_tokenizer(TokenizerMode::Fast).encode_chunks(prompt);
  ASSERT_GE(slow.size(), 6u);
  EXPECT_EQ((std::vector<int64_t>(slow.begin(), slow.begin() + 6)), (std::vector<int64_t>{29871, 32010, -200, 29871, 13, 6028}));
  EXPECT_EQ((std::vector<int64_t>(fast.begin(), fast.begin() + 5)), (std::vector<int64_t>{32010, -200, 29871, 13, 6028}));
  EXPECT_EQ(std::vector<int64_t>(slow.begin() + 1, slow.end()), fast);
}
