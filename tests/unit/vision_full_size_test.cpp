// Full-size vision shapes (size_preset("full")): every parameter name and shape against the exact
// checkpoint layout, and one block of each kind run at full width with random weights.
#include <chrono>
#include <cmath>
#include <map>
#include <numeric>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/config.h"
#include "models/checkpoint_layout.h"
#include "models/connector.h"
#include "models/projector.h"
#include "models/sam_encoder.h"
#include "models/sampler.h"
#include "models/siglip_vision.h"

namespace {

using namespace xsam;

const ModelConfig& full() {
  static const ModelConfig c = size_preset("full");
  return c;
}

// Every module parameter exists in the full checkpoint layout with the same shape, and every layout
// key under `prefix` is either a module parameter or allowed to stay unused. (Constructing is cheap:
// parameters are allocated uninitialised.)
void expect_matches_layout(torch::nn::Module& module, const std::string& prefix,
                           const std::vector<std::string>& allowed_unused) {
  std::map<std::string, std::vector<int64_t>> layout;
  for (const auto& t : checkpoint_layout(full()))
    if (t.name.compare(0, prefix.size(), prefix) == 0) layout[t.name] = t.shape;
  size_t matched = 0;
  for (const auto& p : module.named_parameters(true)) {
    auto it = layout.find(prefix + p.key());
    ASSERT_NE(it, layout.end()) << prefix + p.key() << " is not a checkpoint key";
    EXPECT_EQ(p.value().sizes().vec(), it->second) << prefix + p.key();
    layout.erase(it);
    ++matched;
  }
  for (const auto& [name, shape] : layout) {
    bool allowed = false;
    for (const auto& a : allowed_unused) allowed = allowed || name.compare(0, a.size(), a) == 0;
    EXPECT_TRUE(allowed) << name << " is neither bound nor allowed-unused";
  }
  EXPECT_GT(matched, 0u);
}

void randomise(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters(true)) {
    auto& t = p.value();
    if (t.dim() >= 2) {
      t.normal_(0, 1.0 / std::sqrt(static_cast<double>(t.numel() / t.size(0))));
    } else if (p.key().size() >= 6 && p.key().compare(p.key().size() - 6, 6, "weight") == 0) {
      t.normal_(1, 0.1);  // norm scales
    } else {
      t.normal_(0, 0.1);
    }
  }
}

void expect_finite(const torch::Tensor& t, const std::string& what) {
  EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << what << " has non-finite values";
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(VisionFullSize, ParameterNamesAndShapesMatchTheCheckpointLayout) {
  const auto& c = full();
  SiglipVision siglip(c.siglip);
  expect_matches_layout(siglip, "visual_encoder.", unused_checkpoint_keys(c));
  SamEncoder sam(c.sam);
  EXPECT_EQ(sam.num_blocks_built(), 24);  // hs[24] is needed by the connector
  expect_matches_layout(sam, "segmentor.encoder.", unused_checkpoint_keys(c));
  Projector visual(c.visual_projector, torch::kFloat32), seg(c.seg_projector, torch::kFloat32);
  expect_matches_layout(visual, "visual_projector.", {});
  expect_matches_layout(seg, "seg_projector.", {});
  Connector connector(c.connector);
  expect_matches_layout(connector, "seg_connector.", {});
}

TEST(VisionFullSize, OneBlockOfEachKindRuns) {
  torch::set_num_threads(2);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const auto& c = full();
  auto t0 = std::chrono::steady_clock::now();

  // SigLIP: embeddings + one encoder layer over 27×27 = 729 tokens (the valid conv drops 6 px).
  SiglipConfig one_layer = c.siglip;
  one_layer.select_hidden_state = 1;
  SiglipVision siglip(one_layer);
  randomise(siglip);
  auto s = siglip.forward(torch::randn({1, 3, 384, 384}));
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{1, 729, 1152}));
  expect_finite(s, "siglip");
  std::printf("[time] full siglip layer: %.2f s\n", seconds_since(t0));

  // SAM: patch embedding + positions and windowed block 0 (64×64 grid padded to 70×70, 25 windows).
  auto t1 = std::chrono::steady_clock::now();
  SamEncoderConfig first_block = c.sam;
  first_block.llm_hidden_state = 1;
  first_block.connector_hidden_states = {1};
  SamEncoder sam(first_block);
  ASSERT_EQ(sam.num_blocks_built(), 1);
  randomise(sam);
  auto hs = sam.forward(torch::randn({1, 3, 1024, 1024}), {0, 1});
  EXPECT_EQ(hs[1].sizes(), (std::vector<int64_t>{1, 64, 64, 1024}));
  expect_finite(hs[1], "sam windowed block");
  std::printf("[time] full sam patch embed + windowed block: %.2f s\n", seconds_since(t1));

  // SAM global block (block 5 at full size) over all 4096 tokens, heads chunked.
  auto t2 = std::chrono::steady_clock::now();
  SamVisionBlock global(c.sam, 0);
  randomise(global);
  auto g = global.forward(hs[1]);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{1, 64, 64, 1024}));
  expect_finite(g, "sam global block");
  std::printf("[time] full sam global block: %.2f s\n", seconds_since(t2));

  // Projectors at full width on small inputs (the seg projector on an 8×8 grid → 16 tokens).
  Projector visual(c.visual_projector, torch::kFloat32), seg(c.seg_projector, torch::kFloat32);
  randomise(visual);
  randomise(seg);
  EXPECT_EQ(visual.forward(s.slice(1, 0, 4)).sizes(), (std::vector<int64_t>{1, 4, 3072}));
  auto seg_tokens = seg.forward(g.slice(1, 0, 8).slice(2, 0, 8));
  EXPECT_EQ(seg_tokens.sizes(), (std::vector<int64_t>{1, 16, 3072}));
  expect_finite(seg_tokens, "seg projector");

  // Connector levels (1×1 → 3×3 → 1×1 at full widths) on 8×8 inputs: ×2, ×1, ×0.5.
  Connector connector(c.connector);
  randomise(connector);
  auto small = g.slice(1, 0, 8).slice(2, 0, 8).contiguous();
  auto maps = connector.forward({small, small, small});
  ASSERT_EQ(maps.size(), 3u);
  EXPECT_EQ(maps[0].sizes(), (std::vector<int64_t>{1, c.mask2former.feature_channels[0], 16, 16}));
  EXPECT_EQ(maps[1].sizes(), (std::vector<int64_t>{1, c.mask2former.feature_channels[1], 8, 8}));
  EXPECT_EQ(maps[2].sizes(), (std::vector<int64_t>{1, c.mask2former.feature_channels[2], 4, 4}));
  for (const auto& m : maps) expect_finite(m, "connector");

  // Sampler on a 32×32×3072 map with a 1024² canvas mask of more than 256 pixels.
  auto masks = torch::zeros({1, 1024, 1024}, torch::kUInt8);
  masks.slice(1, 100, 140).slice(2, 500, 530).fill_(1);
  auto region = VisionSampler(c.sampler).forward(torch::randn({1, 1024, 3072}), masks, 0);
  EXPECT_EQ(region.sizes(), (std::vector<int64_t>{1, 1, 3072}));
  expect_finite(region, "sampler");
  std::printf("[time] full-size vision checks: %.2f s\n", seconds_since(t0));
}

}  // namespace
