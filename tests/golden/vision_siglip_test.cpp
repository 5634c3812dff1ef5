// SigLIP vision tower and visual projector against every golden case (fp32 at 1e-5; bf16 printed).
#include <algorithm>

#include "golden/vision_common.h"
#include "models/checkpoint_layout.h"
#include "models/projector.h"
#include "models/siglip_vision.h"

namespace {

using namespace xsam;
namespace tv = xsam::test::vision;
const std::string kPrefix = "visual_encoder.";

struct SiglipModels {
  ModelConfig config;
  std::shared_ptr<SiglipVision> siglip, siglip_bf16;
  std::shared_ptr<Projector> projector, projector_bf16;
};

const SiglipModels& models() {
  static const SiglipModels m = [] {
    torch::set_num_threads(2);
    SiglipModels s;
    s.config = test::golden_config();
    auto unused = unused_checkpoint_keys(s.config);
    s.siglip = tv::bind_golden(std::make_shared<SiglipVision>(s.config.siglip), kPrefix, unused);
    s.siglip_bf16 = tv::bind_golden(std::make_shared<SiglipVision>(s.config.siglip), kPrefix, unused);
    s.siglip_bf16->to(torch::kBFloat16);
    s.projector = tv::bind_golden(std::make_shared<Projector>(s.config.visual_projector, torch::kFloat32), "visual_projector.");
    s.projector_bf16 = tv::bind_golden(std::make_shared<Projector>(s.config.visual_projector, torch::kBFloat16), "visual_projector.");
    s.projector_bf16->to(torch::kBFloat16);
    return s;
  }();
  return m;
}

TEST(VisionSiglip, BindsStrictlyAndSkipsUnusedLayers) {
  auto config = test::golden_config();
  SiglipVision siglip(config.siglip);
  auto report = bind_module(siglip, tv::golden_store(), kPrefix);
  EXPECT_TRUE(report.missing.empty()) << tv::join(report.missing);
  EXPECT_TRUE(report.mismatched.empty()) << tv::join(report.mismatched);
  auto unused = unused_checkpoint_keys(config);
  EXPECT_TRUE(tv::unexpected_keys(report, kPrefix, unused).empty());
  // Layers after the selected hidden state are not even constructed.
  for (const auto& p : siglip.named_parameters(true))
    EXPECT_EQ(p.key().find("layers." + std::to_string(config.siglip.select_hidden_state) + "."), std::string::npos)
        << p.key();
  // The layers it skips are the checkpoint layout's unused group (models/checkpoint_layout.h).
  const std::string first_skipped = kPrefix + "vision_model.encoder.layers." + std::to_string(config.siglip.select_hidden_state) + ".";
  if (config.siglip.select_hidden_state < config.siglip.num_layers)
    EXPECT_TRUE(std::any_of(unused.begin(), unused.end(),
                            [&](const std::string& u) { return u.compare(0, first_skipped.size(), first_skipped) == 0; }));
}

class SiglipGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SiglipGolden, SelectedHiddenState) {
  const auto& c = tv::golden_case(GetParam());
  ASSERT_TRUE(c.has("siglip.selected_hidden_state"));
  const auto& m = models();
  auto pixels = tv::siglip_pixels(c);
  auto ref = c.get("siglip.selected_hidden_state");
  XSAM_EXPECT_CLOSE(m.siglip->forward(pixels), ref, tv::kFp32Tol, c.name() + " siglip.selected_hidden_state");
  XSAM_EXPECT_CLOSE(m.siglip_bf16->forward(pixels).to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::Siglip),
                    c.name() + " bf16 siglip.selected_hidden_state");
  // Every stored hidden state this module computes (hs[0 .. select_hidden_state]).
  auto hs = m.siglip->hidden_states(pixels);
  for (size_t i = 0; i < hs.size(); ++i) {
    std::string name = "siglip.hidden_states." + std::to_string(i);
    if (c.has(name)) XSAM_EXPECT_CLOSE(hs[i], c.get(name), tv::kFp32Tol, c.name() + " " + name);
  }
}

TEST_P(SiglipGolden, VisualProjector) {
  const auto& c = tv::golden_case(GetParam());
  ASSERT_TRUE(c.has("visual_projector.input"));
  const auto& m = models();
  auto input = c.get("visual_projector.input");
  auto ref = c.get("visual_projector.output");
  XSAM_EXPECT_CLOSE(m.projector->forward(input), ref, tv::kFp32Tol, c.name() + " visual_projector.output");
  XSAM_EXPECT_CLOSE(m.projector_bf16->forward(input).to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::VisualProjector),
                    c.name() + " bf16 visual_projector.output");
  // End to end in bf16: our own bf16 SigLIP feature through the bf16 projector.
  auto chained = m.projector_bf16->forward(m.siglip_bf16->forward(tv::siglip_pixels(c)));
  XSAM_EXPECT_CLOSE(chained.to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::VisualProjector), c.name() + " bf16 siglip→visual_projector");
}

INSTANTIATE_TEST_SUITE_P(AllCases, SiglipGolden, ::testing::ValuesIn(test::golden_case_names()), tv::case_param_name);

// The stored hidden states past the selected one come from layers X-SAM never runs; a tower built to
// select the last hidden state (same code, more layers) must reproduce them too.
TEST(VisionSiglip, EveryStoredHiddenStateWithAllLayers) {
  auto config = test::golden_config();
  config.siglip.select_hidden_state = config.siglip.num_layers;
  auto full = tv::bind_golden(std::make_shared<SiglipVision>(config.siglip), kPrefix,
                              unused_checkpoint_keys(config));
  int checked = 0;
  for (const auto& name : test::golden_case_names()) {
    const auto& c = tv::golden_case(name);
    if (!c.has("siglip.hidden_states.0")) continue;
    auto hs = full->hidden_states(tv::siglip_pixels(c));
    ASSERT_EQ(static_cast<int>(hs.size()), config.siglip.num_layers + 1);
    for (size_t i = 0; i < hs.size(); ++i) {
      std::string t = "siglip.hidden_states." + std::to_string(i);
      ASSERT_TRUE(c.has(t)) << name << " " << t;
      XSAM_EXPECT_CLOSE(hs[i], c.get(t), tv::kFp32Tol, name + " (all layers) " + t);
      ++checked;
    }
  }
  EXPECT_GT(checked, 0) << "no golden case stores siglip.hidden_states.*";
}

}  // namespace
