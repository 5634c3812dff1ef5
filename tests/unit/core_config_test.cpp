#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/error.h"
#include "support/golden.h"

using namespace xsam;

TEST(Config, ReadsGoldenUpstreamConfig) {
  ModelConfig c = test::golden_config();
  EXPECT_EQ(c.siglip.hidden_size, 48);
  EXPECT_EQ(c.siglip.select_hidden_state, 2);  // hidden_states[-2] of 3 layers
  EXPECT_EQ(c.sam.llm_hidden_state, 3);
  EXPECT_EQ(c.sam.connector_hidden_states, (std::vector<int>{2, 3, 4}));
  EXPECT_EQ(c.llm.vocab_size, 32014);
  EXPECT_EQ(c.llm.sliding_window_keys, 0);
  EXPECT_EQ(c.tokenizer.mode, TokenizerMode::Slow);
  EXPECT_EQ(c.image_tokens(), 128);
  EXPECT_EQ(c.preprocess.siglip_resample, Resample::Bilinear);
  EXPECT_EQ(c.behaviour.preset, "aaai26");
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
