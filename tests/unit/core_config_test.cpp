#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "core/files.h"
#include "support/golden.h"

using namespace xsam;

// The importer against the golden set's own upstream config: every expected value is read from that file.
TEST(Config, ReadsGoldenUpstreamConfig) {
  ModelConfig c = test::golden_config();
  const auto raw = nlohmann::json::parse(read_regular_file(test::golden_dir() + "/config.json"));
  const auto& siglip = raw.at("siglip_config");
  const auto& runtime = raw.at("xsam_runtime");
  EXPECT_EQ(c.siglip.hidden_size, siglip.at("hidden_size").get<int>());
  EXPECT_EQ(c.siglip.num_layers, siglip.at("num_hidden_layers").get<int>());
  // visual_select_layer indexes hidden_states (embeddings + one per layer) from either end.
  const int select = runtime.at("visual_select_layer").get<int>();
  EXPECT_EQ(c.siglip.select_hidden_state, select < 0 ? c.siglip.num_layers + 1 + select : select);
  const auto seg_layers = runtime.at("seg_select_layers_used").get<std::vector<int>>();
  EXPECT_EQ(c.sam.connector_hidden_states, seg_layers);
  EXPECT_EQ(c.llm.vocab_size, raw.at("llm_config").at("vocab_size").get<int>());
  EXPECT_EQ(c.llm.hidden_size, raw.at("llm_config").at("hidden_size").get<int>());
  EXPECT_EQ(c.tokens.seg, runtime.at("seg_token_idx").get<int64_t>());
  EXPECT_EQ(c.llm.sliding_window_keys, 0);  // the golden generator runs eager attention: no window
  EXPECT_EQ(c.tokenizer.mode, TokenizerMode::Slow);  // golden sets tokenize as HF's slow LlamaTokenizer
  EXPECT_EQ(c.image_tokens(), c.siglip_tokens() + c.sam_llm_tokens());
  EXPECT_EQ(c.preprocess.siglip_resample, Resample::Bilinear);
  EXPECT_EQ(c.behaviour.preset, raw.at("upstream").at("branch") == "main" ? "main" : "aaai26");
}

TEST(Config, RoundTripsOwnFormat) {
  for (const char* preset : {"tiny", "full"}) {
    ModelConfig c = size_preset(preset);
    auto j = model_config_to_json(c);
    ModelConfig d = parse_model_config(j, "mem.json");
    EXPECT_EQ(model_config_to_json(d).dump(), j.dump()) << preset;
  }
  EXPECT_EQ(size_preset("full").image_tokens(), 1753);
}

TEST(Config, MissingFieldIsNamed) {
  auto j = model_config_to_json(size_preset("tiny"));
  j["llm"].erase("hidden_size");
  try {
    parse_model_config(j, "x/config.json");
    FAIL() << "no error";
  } catch (const Failure& e) {
    EXPECT_EQ(e.status(), Status::Format);
    EXPECT_NE(std::string(e.what()).find("x/config.json: llm.hidden_size"), std::string::npos) << e.what();
  }
}

TEST(Config, AbsurdValuesRejected) {
  auto j = model_config_to_json(size_preset("tiny"));
  j["llm"]["num_heads"] = 5;  // 64 not divisible by 5
  EXPECT_THROW(parse_model_config(j, "c.json"), Failure);
  j = model_config_to_json(size_preset("tiny"));
  j["sam"]["hidden_size"] = -3;
  EXPECT_THROW(parse_model_config(j, "c.json"), Failure);
  j = model_config_to_json(size_preset("tiny"));
  j["preset"] = "nonsense";
  EXPECT_THROW(parse_model_config(j, "c.json"), Failure);
  j = model_config_to_json(size_preset("tiny"));
  j["format_version"] = 7;
  EXPECT_THROW(parse_model_config(j, "c.json"), Failure);
}

TEST(Config, MainPresetDiffers) {
  auto j = model_config_to_json(size_preset("tiny"));
  j["preset"] = "main";
  j.erase("behaviour");
  j.erase("class_head");
  j["sampler"].erase("pooling");
  ModelConfig c = parse_model_config(j, "c.json");
  EXPECT_EQ(c.behaviour.image_token_text, "<image>");
  EXPECT_EQ(c.class_head.logit_clamp, 50.0);
  EXPECT_EQ(c.sampler.pooling, RegionPooling::Mean);
}
