// Every case of the tokenizer fixtures, in its mode: cases.json = HF slow LlamaTokenizer (golden sets),
// cases_fast.json = HF LlamaTokenizerFast from Phi-3's tokenizer.json (real models). 177/177 each.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "text/tokenizer.h"
#include "text_test_util.h"

using namespace xsam;
using nlohmann::json;

namespace {

std::string show(const std::string& s) { return json(s).dump(); }

std::string show(const std::vector<int64_t>& ids) { return json(ids).dump(); }

// Runs every case of `file` through `tok`; returns the number of cases whose every field matched.
void check_fixture(const std::string& file, TokenizerMode mode) {
  const Tokenizer& tok = test::fixture_tokenizer(mode);
  json fixture = test::read_json(test::data_dir() + "/tokenizer/" + file);
  const json& cases = fixture.at("cases");
  std::map<std::string, int> field_pass, field_total;
  int all_pass = 0, failures_shown = 0;
  const int64_t bos = tok.bos_id().value();

  for (const auto& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    bool ok = true;
    auto check = [&](const std::string& field, bool equal, const std::string& got, const std::string& want) {
      ++field_total[field];
      if (equal) {
        ++field_pass[field];
        return;
      }
      ok = false;
      if (failures_shown++ < 25)
        ADD_FAILURE() << file << " " << field << " of " << show(text) << "\n  got  " << got << "\n  want " << want;
    };
    auto ids = tok.encode(text);
    auto want_ids = c.at("ids").get<std::vector<int64_t>>();
    check("ids", ids == want_ids, show(ids), show(want_ids));

    std::vector<std::string> pieces;
    for (int64_t id : want_ids) pieces.push_back(tok.id_to_piece(id));
    auto want_pieces = c.at("pieces").get<std::vector<std::string>>();
    check("pieces", pieces == want_pieces, json(pieces).dump(), json(want_pieces).dump());

    // Decoding is checked on the fixture's ids, so that an encode error does not hide a decode one.
    std::string decoded = tok.decode(want_ids, false);
    check("decoded", decoded == c.at("decoded").get<std::string>(), show(decoded), show(c.at("decoded").get<std::string>()));
    std::string skipped = tok.decode(want_ids, true);
    check("decoded_skip_special", skipped == c.at("decoded_skip_special").get<std::string>(), show(skipped),
          show(c.at("decoded_skip_special").get<std::string>()));

    if (c.contains("xsam_encode_fn_ids")) {
      auto chunks = tok.encode_chunks(text);
      auto want = c.at("xsam_encode_fn_ids").get<std::vector<int64_t>>();
      check("xsam_encode_fn_ids", chunks == want, show(chunks), show(want));
      std::vector<int64_t> with_bos{bos};
      with_bos.insert(with_bos.end(), chunks.begin(), chunks.end());
      auto want_bos = c.at("xsam_encode_fn_ids_with_bos").get<std::vector<int64_t>>();
      check("xsam_encode_fn_ids_with_bos", with_bos == want_bos, show(with_bos), show(want_bos));
    }
    if (ok) ++all_pass;
  }
  std::printf("[tokenizer] %s (%s mode): %d/%zu cases fully match\n", file.c_str(), to_string(mode), all_pass,
              cases.size());
  for (const auto& [field, total] : field_total)
    std::printf("[tokenizer]   %-28s %d/%d\n", field.c_str(), field_pass[field], total);
  EXPECT_EQ(all_pass, static_cast<int>(cases.size()));
  EXPECT_EQ(cases.size(), 177u);
}

}  // namespace

TEST(TokenizerFixture, SlowModeReproducesCasesJson) { check_fixture("cases.json", TokenizerMode::Slow); }

TEST(TokenizerFixture, FastModeReproducesCasesFastJson) { check_fixture("cases_fast.json", TokenizerMode::Fast); }

TEST(TokenizerFixture, VocabularyOfPhi3PlusXsam) {
  for (auto mode : {TokenizerMode::Slow, TokenizerMode::Fast}) {
    const Tokenizer& tok = test::fixture_tokenizer(mode);
    EXPECT_EQ(tok.base_vocab_size(), 32000);
    EXPECT_EQ(tok.vocab_size(), 32014);
    EXPECT_EQ(tok.token_id("<SEG>"), 32011);
    EXPECT_EQ(tok.token_id("<p>"), 32012);
    EXPECT_EQ(tok.token_id("</p>"), 32013);
    EXPECT_EQ(tok.token_id("<|user|>"), 32010);
    EXPECT_EQ(tok.token_id("<|end|>"), 32007);
    EXPECT_EQ(tok.token_id("\xE2\x96\x81the"), 278);
    EXPECT_EQ(tok.bos_id(), 1);
    EXPECT_EQ(tok.eos_id(), 32000);
    EXPECT_TRUE(tok.is_special(32011));
    EXPECT_TRUE(tok.is_all_special(32011));
    EXPECT_TRUE(tok.is_special(32010));       // <|user|>: special=true ...
    EXPECT_FALSE(tok.is_all_special(32010));  // ... but not in all_special_tokens (slow step 5)
    EXPECT_FALSE(tok.is_special(2));          // </s>: special=false
    EXPECT_FALSE(tok.is_special(278));
  }
}
