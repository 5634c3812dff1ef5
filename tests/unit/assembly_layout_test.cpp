// The checkpoint layout (models/checkpoint_layout.h) against upstream's own checkpoint, and its groups.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "io/safetensors.h"
#include "models/checkpoint_layout.h"
#include "support/golden.h"

using namespace xsam;

namespace {

std::map<std::string, LayoutTensor> by_name(const std::vector<LayoutTensor>& layout) {
  std::map<std::string, LayoutTensor> out;
  for (const auto& t : layout) EXPECT_TRUE(out.emplace(t.name, t).second) << "duplicate " << t.name;
  return out;
}

// The layer index after `prefix` in `name` ("...layers.7.mlp" → 7), or -1.
int layer_index(const std::string& name, const std::string& prefix) {
  if (name.compare(0, prefix.size(), prefix) != 0) return -1;
  return std::stoi(name.substr(prefix.size()));
}

}  // namespace

// The layout derived from the golden config is exactly upstream's checkpoint: same names, same shapes.
TEST(CheckpointLayout, MatchesGoldenCheckpointExactly) {
  ModelConfig c = test::golden_config();
  SafetensorsFile f(test::golden_dir() + "/model.safetensors");
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& t : f.header().tensors) expected[t.name] = t.shape;
  auto got = by_name(checkpoint_layout(c));
  for (const auto& [name, shape] : expected) {
    auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << "layout lacks " << name;
      continue;
    }
    EXPECT_EQ(it->second.shape, shape) << name;
  }
  for (const auto& [name, t] : got) EXPECT_TRUE(expected.count(name)) << "layout has extra " << name;
  EXPECT_EQ(got.size(), expected.size());
}

// The unused groups are what the config says inference skips, and nothing else.
TEST(CheckpointLayout, UnusedGroupsFollowTheConfig) {
  ModelConfig c = test::golden_config();
  const std::string siglip_layers = c.behaviour.key_vision_prefix + "vision_model.encoder.layers.";
  const std::string sam_blocks = "segmentor.encoder.layers.";
  std::set<std::string> groups;
  for (const auto& t : checkpoint_layout(c)) {
    groups.insert(t.group);
    const int siglip_layer = layer_index(t.name, siglip_layers), sam_block = layer_index(t.name, sam_blocks);
    if (siglip_layer >= 0) {
      EXPECT_EQ(t.group, siglip_layer >= c.siglip.select_hidden_state ? "siglip_layers_after_selected" : "") << t.name;
    } else if (sam_block >= 0) {
      EXPECT_EQ(t.group, sam_block >= c.sam.max_hidden_state_needed() ? "sam_blocks_after_deepest" : "") << t.name;
    }
    const bool optional_group = t.group != "" && t.group != "siglip_layers_after_selected" && t.group != "sam_blocks_after_deepest";
    EXPECT_EQ(t.optional, optional_group) << t.name;
  }
  for (const char* g : {"siglip_post_layernorm", "siglip_head", "sam_neck", "shared_image_embedding"})
    EXPECT_TRUE(groups.count(g)) << g;
  EXPECT_FALSE(groups.count("pad_embeds"));  // aaai26 has none

  std::vector<std::string> expected_unused;
  for (const auto& t : checkpoint_layout(c))
    if (!t.group.empty()) expected_unused.push_back(t.name);
  EXPECT_EQ(unused_checkpoint_keys(c), expected_unused);
}

// The main preset's spellings and its optional pad_embeds; every other name and shape is the same.
TEST(CheckpointLayout, MainPresetSpellsTheBranchKeys) {
  ModelConfig a = test::golden_config();
  ModelConfig m = a;
  apply_preset(m, "main");
  auto aaai26 = by_name(checkpoint_layout(a));
  auto main = by_name(checkpoint_layout(m));
  ASSERT_TRUE(main.count("pad_embeds.weight"));
  EXPECT_EQ(main.at("pad_embeds.weight").shape, (std::vector<int64_t>{1, m.mask2former.hidden_dim}));
  EXPECT_TRUE(main.at("pad_embeds.weight").optional);
  EXPECT_TRUE(main.count(m.behaviour.key_logit_scale));
  EXPECT_EQ(main.size(), aaai26.size() + 1);
  for (const auto& [name, t] : aaai26) {
    std::string renamed = name;
    if (name.rfind(a.behaviour.key_vision_prefix, 0) == 0)
      renamed = m.behaviour.key_vision_prefix + name.substr(a.behaviour.key_vision_prefix.size());
    if (name == a.behaviour.key_logit_scale) renamed = m.behaviour.key_logit_scale;
    ASSERT_TRUE(main.count(renamed)) << renamed;
    EXPECT_EQ(main.at(renamed).shape, t.shape) << renamed;
  }
}

TEST(CheckpointLayout, FullPresetHasReleasedSizes) {
  int64_t params = 0;
  for (const auto& t : checkpoint_layout(size_preset("full"))) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    params += n;
  }
  // The released checkpoint holds about 4.62 B parameters (docs/design/decisions.md).
  EXPECT_GT(params, 4.55e9);
  EXPECT_LT(params, 4.70e9);
  std::printf("full preset parameters: %lld\n", static_cast<long long>(params));
}
