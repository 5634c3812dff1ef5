#include <gtest/gtest.h>

#include <map>

#include "core/checkpoint_layout.h"
#include "io/safetensors.h"
#include "support/golden.h"

using namespace xsam;

// The layout derived from the golden config must be exactly the golden checkpoint: same names, same shapes.
TEST(CheckpointLayout, MatchesGoldenCheckpointExactly) {
  ModelConfig c = test::golden_config();
  SafetensorsFile f(test::golden_dir() + "/model.safetensors");
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& t : f.header().tensors) expected[t.name] = t.shape;
  std::map<std::string, std::vector<int64_t>> got;
  for (const auto& t : checkpoint_layout(c)) {
    EXPECT_TRUE(got.emplace(t.name, t.shape).second) << "duplicate " << t.name;
  }
  for (const auto& [name, shape] : expected) {
    auto it = got.find(name);
    if (it == got.end()) {
      ADD_FAILURE() << "layout lacks " << name;
      continue;
    }
    EXPECT_EQ(it->second, shape) << name;
  }
  for (const auto& [name, shape] : got) EXPECT_TRUE(expected.count(name)) << "layout has extra " << name;
  EXPECT_EQ(got.size(), 322u);
}

TEST(CheckpointLayout, FullPresetHasReleasedSizes) {
  ModelConfig c = size_preset("full");
  int64_t params = 0;
  for (const auto& t : checkpoint_layout(c)) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    params += n;
  }
  // DECISIONS C1 / spec §7.2: about 4.62 B parameters.
  EXPECT_GT(params, 4.55e9);
  EXPECT_LT(params, 4.70e9);
  std::printf("full preset parameters: %lld\n", static_cast<long long>(params));
}
