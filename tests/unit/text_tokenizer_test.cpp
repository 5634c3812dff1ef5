// Tokenizer behaviour beyond the fixtures: encode_fn chunking and sentinels, added-token matching and
// stripping, the model-directory layouts, and bad input (files, text, ids).
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text_test_util.h"

using namespace xsam;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const Tokenizer& slow() { return test::fixture_tokenizer(TokenizerMode::Slow); }
const Tokenizer& fast() { return test::fixture_tokenizer(TokenizerMode::Fast); }

std::vector<int64_t> cat(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A fresh directory under the system temp dir, removed at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "xsam_text_XXXXXX").string();
    path = mkdtemp(&tmpl[0]);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string str() const { return path.string(); }
};

void write(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void copy_fixture_files(const fs::path& to) {
  for (const auto& e : fs::directory_iterator(test::fixture_tokenizer_dir())) fs::copy_file(e.path(), to / e.path().filename());
}

// Runs `body`, expects an xsam::Failure with `status` whose message contains every string of `parts`.
template <class F>
void expect_error(F body, Status status, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "no error thrown";
  } catch (const Failure& e) {
    EXPECT_EQ(static_cast<int>(e.status()), static_cast<int>(status)) << e.what();
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << "'" << p << "' not in: " << e.what();
  }
}

}  // namespace

// ---- encode_fn chunking -------------------------------------------------------------------------

TEST(TokenizerChunks, SentinelsReplaceImageAndRegion) {
  for (const Tokenizer* tok : {&slow(), &fast()}) {
    EXPECT_EQ(tok->encode_chunks("<image>"), (std::vector<int64_t>{-200}));
    EXPECT_EQ(tok->encode_chunks("<image><region><image>"), (std::vector<int64_t>{-200, -300, -200}));
    EXPECT_EQ(tok->encode_chunks("a<image>b<region>c"),
              cat(cat(cat(cat(tok->encode("a"), {-200}), tok->encode("b")), {-300}), tok->encode("c")));
    // Each chunk is encoded on its own: the one after <image> gets its own leading "▁" in both modes.
    EXPECT_EQ(tok->encode_chunks("<image>\nhello"), (std::vector<int64_t>{-200, 29871, 13, 12199}));
    // No sentinel: the same as encode (a lookalike is plain text).
    EXPECT_EQ(tok->encode_chunks("an <imag> tag"), tok->encode("an <imag> tag"));
    EXPECT_EQ(tok->encode_chunks("<Image>"), tok->encode("<Image>"));
    EXPECT_TRUE(tok->encode_chunks("").empty());
  }
}

TEST(TokenizerChunks, CustomSentinelsAndBlankChunks) {
  ChunkOptions options;
  options.image_sentinel = -7;
  options.region_sentinel = -8;
  EXPECT_EQ(fast().encode_chunks("<region><image>", options), (std::vector<int64_t>{-8, -7}));
  // aaai26 keeps whitespace-only chunks ("\n" -> "▁\n" = 29871, 13); main drops them.
  const std::string text = "<image>\n<region>";
  EXPECT_EQ(slow().encode_chunks(text), (std::vector<int64_t>{-200, 29871, 13, -300}));
  ChunkOptions drop;
  drop.drop_blank_chunks = true;
  EXPECT_EQ(slow().encode_chunks(text, drop), (std::vector<int64_t>{-200, -300}));
  EXPECT_EQ(fast().encode_chunks(" <image> x ", drop), cat({-200}, fast().encode(" x ")));
  // Without any sentinel the whole text is encoded, blank or not (encode_fn's else branch).
  EXPECT_EQ(fast().encode_chunks("  ", drop), fast().encode("  "));
}

// ---- added tokens -------------------------------------------------------------------------------

TEST(TokenizerAddedTokens, RstripSwallowsWhitespaceOthersKeepIt) {
  // <|end|> (rstrip) eats "\n\t  "; <SEG> (no strip) keeps it in the next segment.
  EXPECT_EQ(fast().encode("<|end|>\n\t  x"), fast().encode("<|end|>x"));
  EXPECT_EQ(slow().encode("<|end|>\n\t  x"), slow().encode("<|end|>x"));
  EXPECT_NE(fast().encode("<SEG>\nx"), fast().encode("<SEG>x"));
  // Whitespace before a token is never stripped (no token has lstrip).
  EXPECT_EQ(fast().encode(" <p>"), (std::vector<int64_t>{259, 32012}));
  EXPECT_EQ(slow().encode(" <p>"), (std::vector<int64_t>{259, 32012}));
}

TEST(TokenizerAddedTokens, WhitespaceRulesOfPythonAndRust) {
  // U+001F is whitespace for Python's str.lstrip (slow) but not for Rust's char::is_whitespace (fast).
  EXPECT_EQ(slow().encode("<|user|>\x1f"), (std::vector<int64_t>{29871, 32010}));
  auto f = fast().encode("<|user|>\x1f");
  ASSERT_GT(f.size(), 1u);
  EXPECT_EQ(f[0], 32010);
  // U+3000 (ideographic space) is whitespace for both.
  EXPECT_EQ(fast().encode("<|user|>\xE3\x80\x80"), (std::vector<int64_t>{32010}));
}

TEST(TokenizerAddedTokens, LeftmostLongestMatchAndLstrip) {
  std::string model = read(fs::path(test::fixture_tokenizer_dir()) / "tokenizer.model");
  AddedTokenTable table;
  table.source = "test table";
  table.legacy = false;
  table.tokens = {{32000, "<x>", false, false, false, true, true},
                  {32001, "<x>y", false, false, false, true, true},
                  {32002, "<L>", /*lstrip=*/true, false, false, true, true}};
  TokenizerOptions options = test::tokenizer_options(TokenizerMode::Fast);
  options.add_xsam_tokens = false;
  Tokenizer tok = Tokenizer::from_parts(model, "tokenizer.model", table, options);
  EXPECT_EQ(tok.vocab_size(), 32003);
  EXPECT_EQ(tok.encode("<x>y"), (std::vector<int64_t>{32001}));  // the longer of two matches at one place
  EXPECT_EQ(tok.encode("<x><x>y"), (std::vector<int64_t>{32000, 32001}));
  EXPECT_EQ(tok.encode("a \n <L>"), cat(tok.encode("a"), {32002}));  // lstrip eats the whitespace before
  EXPECT_EQ(tok.decode({32001, 32002}), "<x>y<L>");
  EXPECT_FALSE(tok.find_token_id("<SEG>").has_value());
}

TEST(TokenizerAddedTokens, XsamTokensAddedOnlyWhenMissing) {
  TokenizerOptions options = test::tokenizer_options(TokenizerMode::Slow);
  options.add_xsam_tokens = false;
  // The HF fixture files stop at Phi-3's 32010 ...
  EXPECT_EQ(Tokenizer::from_directory(test::fixture_tokenizer_dir(), options).vocab_size(), 32011);
  // ... the golden directory lists X-SAM's tokens in xsam_added_tokens.json.
  Tokenizer golden = Tokenizer::from_directory(test::golden_dir() + "/tokenizer", options);
  EXPECT_EQ(golden.vocab_size(), 32014);
  const AddedToken* seg = golden.added_tokens().find_content("<SEG>");
  ASSERT_NE(seg, nullptr);
  EXPECT_EQ(seg->id, 32011);
  EXPECT_TRUE(seg->special && seg->all_special && !seg->lstrip && !seg->rstrip && !seg->normalized);
}

// ---- model-directory layouts ----------------------------------------------------------------------

TEST(TokenizerLayout, SavedDirectoryLoadsBackIdentically) {
  TempDir dir;
  fast().save_model_files(dir.str());
  EXPECT_EQ(read(dir.path / "tokenizer.model"), read(fs::path(test::fixture_tokenizer_dir()) / "tokenizer.model"));
  json j = json::parse(read(dir.path / "added_tokens.json"));
  EXPECT_EQ(j.at("format"), "xsam-added-tokens");
  EXPECT_EQ(j.at("format_version"), 1);
  EXPECT_EQ(j.at("bos_token"), "<s>");
  EXPECT_EQ(j.at("eos_token"), "<|endoftext|>");
  ASSERT_EQ(j.at("added_tokens").size(), 17u);  // ids 0-2, 32000-32013
  EXPECT_EQ(j.at("added_tokens")[16], (json{{"id", 32013}, {"content", "</p>"}, {"lstrip", false}, {"rstrip", false},
                                            {"normalized", false}, {"special", true}, {"all_special", true}}));
  EXPECT_EQ(j.at("added_tokens")[2].at("content"), "</s>");
  EXPECT_EQ(j.at("added_tokens")[2].at("rstrip"), true);
  EXPECT_EQ(j.at("added_tokens")[2].at("special"), false);

  // Layout (a) alone: a stray tokenizer_config.json that disagrees is not read.
  write(dir.path / "tokenizer_config.json", "{ not json");
  json cases = test::read_json(test::data_dir() + "/tokenizer/cases.json").at("cases");
  for (auto mode : {TokenizerMode::Slow, TokenizerMode::Fast}) {
    TokenizerOptions options = test::tokenizer_options(mode);
    options.add_xsam_tokens = false;
    Tokenizer back = Tokenizer::from_directory(dir.str(), options);
    const Tokenizer& ref = test::fixture_tokenizer(mode);
    EXPECT_EQ(back.vocab_size(), 32014);
    for (const auto& c : cases) {
      std::string text = c.at("text");
      ASSERT_EQ(back.encode(text), ref.encode(text)) << text;
      ASSERT_EQ(back.decode(ref.encode(text)), ref.decode(ref.encode(text))) << text;
    }
  }
}

TEST(TokenizerLayout, BadAddedTokensFilesAreNamed) {
  TempDir dir;
  fast().save_model_files(dir.str());
  json j = json::parse(read(dir.path / "added_tokens.json"));
  j["added_tokens"][3].erase("rstrip");
  write(dir.path / "added_tokens.json", j.dump());
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
               Status::Format, {"added_tokens.json", "added_tokens[3]", "rstrip"});

  j = json::parse(read(dir.path / "added_tokens.json"));
  j["added_tokens"][3]["rstrip"] = true;
  j["added_tokens"][16]["id"] = 32020;  // a gap after 32012
  write(dir.path / "added_tokens.json", j.dump());
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
               Status::Format, {"added_tokens.json", "</p>", "32020", "without gaps"});

  j["added_tokens"][16]["id"] = 32012;  // duplicate id
  write(dir.path / "added_tokens.json", j.dump());
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
               Status::Format, {"added_tokens.json", "32012"});

  write(dir.path / "added_tokens.json", "{\"format\": \"xsam-added-tokens\", ");
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
               Status::Format, {"added_tokens.json", "not valid JSON"});
}

TEST(TokenizerLayout, HfLayoutChecksAndLegacy) {
  TempDir dir;
  copy_fixture_files(dir.path);
  // added_tokens.json must agree with tokenizer_config.json.
  write(dir.path / "added_tokens.json", "{\"<|user|>\": 32009}");
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
               Status::Format, {"added_tokens.json", "<|user|>", "32009", "tokenizer_config.json"});
  fs::remove(dir.path / "added_tokens.json");

  // The slow tokenizer is legacy=false only; the fast one ignores the flag (as transformers 4.45.1).
  json config = test::read_json((dir.path / "tokenizer_config.json").string());
  config["legacy"] = true;
  write(dir.path / "tokenizer_config.json", config.dump());
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Slow)); },
               Status::Unsupported, {"tokenizer_config.json", "legacy"});
  EXPECT_EQ(Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)).encode("<|user|>\nHi"),
            fast().encode("<|user|>\nHi"));

  config.erase("added_tokens_decoder");
  config["added_tokens_decoder"] = {{"32000", {{"content", "<|endoftext|>"}, {"single_word", true}}}};
  write(dir.path / "tokenizer_config.json", config.dump());
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
               Status::Unsupported, {"tokenizer_config.json", "added_tokens_decoder.32000.single_word"});

  fs::remove(dir.path / "tokenizer_config.json");
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
               Status::Io, {dir.str(), "tokenizer_config.json", "added_tokens.json"});
}

// ---- bad input ------------------------------------------------------------------------------------

TEST(TokenizerBadInput, MissingModelFileIsNamed) {
  TempDir dir;
  copy_fixture_files(dir.path);
  fs::remove(dir.path / "tokenizer.model");
  expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); }, Status::Io,
               {(dir.path / "tokenizer.model").string(), "cannot open"});
}

TEST(TokenizerBadInput, CorruptModelFileIsNamed) {
  TempDir dir;
  copy_fixture_files(dir.path);
  const std::string model = read(dir.path / "tokenizer.model");
  const std::vector<std::string> corruptions = {
      "", "this is not a model", model.substr(0, model.size() / 2), model.substr(0, 100), std::string(4096, '\xff')};
  for (size_t i = 0; i < corruptions.size(); ++i) {
    SCOPED_TRACE("corruption " + std::to_string(i));
    write(dir.path / "tokenizer.model", corruptions[i]);
    expect_error([&] { Tokenizer::from_directory(dir.str(), test::tokenizer_options(TokenizerMode::Fast)); },
                 Status::Format, {(dir.path / "tokenizer.model").string()});
  }
}

TEST(TokenizerBadInput, InvalidUtf8IsRejectedWithItsOffset) {
  for (const Tokenizer* tok : {&slow(), &fast()}) {
    for (const std::string bad : {std::string("ab\xff"), std::string("\xC3"), std::string("x\xE2\x96"),
                                  std::string("\xED\xA0\x80"), std::string("\xC0\xAF"), std::string("<p>\x80</p>")}) {
      expect_error([&] { tok->encode(bad); }, Status::InvalidArgument, {"UTF-8", "byte"});
      expect_error([&] { tok->encode_chunks("<image>" + bad); }, Status::InvalidArgument, {"UTF-8"});
    }
    expect_error([&] { tok->encode("ok\xff"); }, Status::InvalidArgument, {"at byte 2"});
    // NUL bytes are valid UTF-8 and are tokenized, not truncated.
    EXPECT_EQ(tok->encode(std::string("a\0b", 3)).size(), tok->encode("a").size() + 2);
  }
}

TEST(TokenizerBadInput, DecodeRejectsIdsOutsideTheVocabulary) {
  for (const Tokenizer* tok : {&slow(), &fast()}) {
    expect_error([&] { tok->decode({1, 32014}); }, Status::InvalidArgument, {"32014", "tokenizer.model"});
    expect_error([&] { tok->decode({-200}); }, Status::InvalidArgument, {"-200"});
    expect_error([&] { tok->id_to_piece(-1); }, Status::InvalidArgument, {"-1"});
    expect_error([&] { tok->token_id("<NOPE>"); }, Status::InvalidArgument, {"<NOPE>"});
  }
}

TEST(TokenizerBadInput, InvalidByteRunsDecodeToReplacementCharacters) {
  // <0xE2><0x96> is an incomplete UTF-8 sequence: one U+FFFD per byte in both modes.
  int64_t e2 = fast().token_id("<0xE2>"), b96 = fast().token_id("<0x96>");
  EXPECT_EQ(fast().decode({e2, b96}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(fast().decode({e2, b96, fast().token_id("<0x81>")}), "\xE2\x96\x81");
  std::string s = slow().decode({e2, b96});
  EXPECT_NE(s.find("\xEF\xBF\xBD"), std::string::npos) << s;
}

// ---- concurrency ----------------------------------------------------------------------------------

TEST(TokenizerThreads, ConcurrentEncodeDecodeAgree) {
  json cases = test::read_json(test::data_dir() + "/tokenizer/cases_fast.json").at("cases");
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      const Tokenizer& tok = t % 2 ? slow() : fast();
      for (int round = 0; round < 5; ++round)
        for (const auto& c : cases) {
          auto ids = tok.encode(c.at("text").get<std::string>());
          if (t % 2 == 0 && ids != c.at("ids").get<std::vector<int64_t>>()) ++mismatches[t];
          if (t % 2 == 0 && tok.decode(ids) != c.at("decoded").get<std::string>()) ++mismatches[t];
        }
    });
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}
