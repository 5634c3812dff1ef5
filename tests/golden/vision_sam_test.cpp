// SAM encoder, seg projector and connector against every golden case (fp32 at 1e-5; bf16 printed).
#include <algorithm>
#include <numeric>

#include "golden/vision_common.h"
#include "models/checkpoint_layout.h"
#include "models/connector.h"
#include "models/projector.h"
#include "models/sam_encoder.h"

namespace {

using namespace xsam;
namespace tv = xsam::test::vision;
const std::string kPrefix = "segmentor.encoder.";

std::vector<int> all_hidden_states(const SamEncoderConfig& c) {
  std::vector<int> v(c.num_layers + 1);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

struct SamModels {
  ModelConfig config;
  std::shared_ptr<SamEncoder> sam, sam_bf16;
  std::shared_ptr<Projector> projector, projector_bf16;
  std::shared_ptr<Connector> connector, connector_bf16;
};

const SamModels& models() {
  static const SamModels m = [] {
    torch::set_num_threads(2);
    SamModels s;
    s.config = test::golden_config();
    auto all = all_hidden_states(s.config.sam);
    auto unused = unused_checkpoint_keys(s.config);
    s.sam = tv::bind_golden(std::make_shared<SamEncoder>(s.config.sam, all), kPrefix, unused);
    s.sam_bf16 = tv::bind_golden(std::make_shared<SamEncoder>(s.config.sam, all), kPrefix, unused);
    s.sam_bf16->to(torch::kBFloat16);
    s.projector = tv::bind_golden(std::make_shared<Projector>(s.config.seg_projector, torch::kFloat32), "seg_projector.");
    s.projector_bf16 = tv::bind_golden(std::make_shared<Projector>(s.config.seg_projector, torch::kBFloat16), "seg_projector.");
    s.projector_bf16->to(torch::kBFloat16);
    s.connector = tv::bind_golden(std::make_shared<Connector>(s.config.connector), "seg_connector.");
    s.connector_bf16 = tv::bind_golden(std::make_shared<Connector>(s.config.connector), "seg_connector.");
    s.connector_bf16->to(torch::kBFloat16);
    return s;
  }();
  return m;
}

std::string hs_name(int i) { return "sam.hidden_states." + std::to_string(i); }

TEST(VisionSam, BindsStrictlyAndBuildsOnlyNeededBlocks) {
  auto config = test::golden_config();
  SamEncoder sam(config.sam);
  EXPECT_EQ(sam.num_blocks_built(), config.sam.max_hidden_state_needed());
  auto report = bind_module(sam, tv::golden_store(), kPrefix);
  EXPECT_TRUE(report.missing.empty()) << tv::join(report.missing);
  EXPECT_TRUE(report.mismatched.empty()) << tv::join(report.mismatched);
  auto unused = unused_checkpoint_keys(config);
  EXPECT_TRUE(tv::unexpected_keys(report, kPrefix, unused).empty());
  // Connector and projectors use every key under their prefixes.
  Connector connector(config.connector);
  auto rc = bind_module(connector, tv::golden_store(), "seg_connector.");
  EXPECT_TRUE(rc.missing.empty() && rc.mismatched.empty());
  EXPECT_TRUE(tv::unexpected_keys(rc, "seg_connector.", {}).empty());
  Projector projector(config.seg_projector, torch::kFloat32);
  auto rp = bind_module(projector, tv::golden_store(), "seg_projector.");
  EXPECT_TRUE(rp.missing.empty() && rp.mismatched.empty());
  EXPECT_TRUE(tv::unexpected_keys(rp, "seg_projector.", {}).empty());
}

// A config that needs only hs[2] builds two blocks, leaves the rest to the allow-list, and still
// matches the goldens for what it computes.
TEST(VisionSam, StopsAfterTheDeepestHiddenStateNeeded) {
  auto config = test::golden_config();
  config.sam.llm_hidden_state = 2;
  config.sam.connector_hidden_states = {1, 2};
  auto unused = unused_checkpoint_keys(config);
  EXPECT_TRUE(std::any_of(unused.begin(), unused.end(),
                          [](const std::string& u) { return u.rfind(kPrefix + "layers.2.", 0) == 0; }));
  auto sam = tv::bind_golden(std::make_shared<SamEncoder>(config.sam), kPrefix, unused);
  EXPECT_EQ(sam->num_blocks_built(), 2);
  const auto& c = tv::golden_case("refseg");
  auto hs = sam->forward(tv::sam_pixels(c));
  ASSERT_EQ(hs.size(), 3u);
  EXPECT_FALSE(hs[0].defined());
  XSAM_EXPECT_CLOSE(hs[1], c.get(hs_name(1)), tv::kFp32Tol, "refseg (2 blocks) " + hs_name(1));
  XSAM_EXPECT_CLOSE(hs[2], c.get(hs_name(2)), tv::kFp32Tol, "refseg (2 blocks) " + hs_name(2));
  EXPECT_THROW(sam->forward(tv::sam_pixels(c), {3}), xsam::Failure);
}

class SamGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(SamGolden, HiddenStates) {
  const auto& c = tv::golden_case(GetParam());
  const auto& m = models();
  auto pixels = tv::sam_pixels(c);
  auto keep = all_hidden_states(m.config.sam);
  auto hs = m.sam->forward(pixels, keep);
  auto hs_bf16 = m.sam_bf16->forward(pixels, keep);
  for (int i : keep) {
    ASSERT_TRUE(c.has(hs_name(i))) << hs_name(i);
    auto ref = c.get(hs_name(i));
    XSAM_EXPECT_CLOSE(hs[i], ref, tv::kFp32Tol, c.name() + " " + hs_name(i));
    XSAM_EXPECT_CLOSE(hs_bf16[i].to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::Sam), c.name() + " bf16 " + hs_name(i));
  }
  // The seg projector reads hs[llm_hidden_state] (docs/design/decisions.md#sam-hidden-state-indices).
  XSAM_EXPECT_CLOSE(hs[m.config.sam.llm_hidden_state], c.get("seg_projector.input"), tv::kFp32Tol,
                    c.name() + " seg_projector.input = hs[llm_hidden_state]");
}

TEST_P(SamGolden, SegProjector) {
  const auto& c = tv::golden_case(GetParam());
  const auto& m = models();
  auto input = c.get("seg_projector.input");
  auto ref = c.get("seg_projector.output");
  XSAM_EXPECT_CLOSE(m.projector->forward(input), ref, tv::kFp32Tol, c.name() + " seg_projector.output");
  XSAM_EXPECT_CLOSE(m.projector_bf16->forward(input).to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::SegProjector),
                    c.name() + " bf16 seg_projector.output");
  // bf16 end to end: our bf16 SAM hidden state through the bf16 projector.
  auto hs = m.sam_bf16->forward(tv::sam_pixels(c), {m.config.sam.llm_hidden_state});
  auto chained = m.projector_bf16->forward(hs[m.config.sam.llm_hidden_state]);
  XSAM_EXPECT_CLOSE(chained.to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::SegProjector), c.name() + " bf16 sam→seg_projector");
}

TEST_P(SamGolden, Connector) {
  const auto& c = tv::golden_case(GetParam());
  const auto& m = models();
  const auto& levels = m.config.sam.connector_hidden_states;
  std::vector<torch::Tensor> inputs;
  for (int i : levels) inputs.push_back(c.get(hs_name(i)));
  auto out = m.connector->forward(inputs);
  auto out_bf16 = m.connector_bf16->forward(inputs);
  auto hs_bf16 = m.sam_bf16->forward(tv::sam_pixels(c), levels);
  std::vector<torch::Tensor> chained_inputs;
  for (int i : levels) chained_inputs.push_back(hs_bf16[i]);
  auto chained = m.connector_bf16->forward(chained_inputs);
  ASSERT_EQ(out.size(), levels.size());
  for (size_t l = 0; l < levels.size(); ++l) {
    std::string name = "connector.output." + std::to_string(l);
    ASSERT_TRUE(c.has(name)) << name;
    auto ref = c.get(name);
    XSAM_EXPECT_CLOSE(out[l], ref, tv::kFp32Tol, c.name() + " " + name);
    XSAM_EXPECT_CLOSE(out_bf16[l].to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::Connector), c.name() + " bf16 " + name);
    XSAM_EXPECT_CLOSE(chained[l].to(torch::kFloat32), ref, test::bf16_bound(test::Bf16Stage::Connector), c.name() + " bf16 sam→" + name);
  }
}

INSTANTIATE_TEST_SUITE_P(AllCases, SamGolden, ::testing::ValuesIn(test::golden_case_names()), tv::case_param_name);

}  // namespace
