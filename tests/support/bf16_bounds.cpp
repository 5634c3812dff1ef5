#include "support/bf16_bounds.h"

#include "core/cpu_path.h"

namespace xsam::test {
namespace {

struct Bounds {
  Bf16Stage stage;
  double onednn;  // avx512, avx512bf16
  double aten;    // avx2, generic
};

// Twice the worst relative error measured on the paths of each family over three golden sets of the same
// producer (the bundled one and two with other sizes, seeds, images and prompts; docs/numerics.md has the
// values), rounded up.
constexpr Bounds kBounds[] = {
    {Bf16Stage::Siglip, 0.03, 0.10},
    {Bf16Stage::VisualProjector, 0.03, 0.09},
    {Bf16Stage::Sam, 0.035, 0.19},
    {Bf16Stage::SegProjector, 0.04, 0.11},
    {Bf16Stage::Connector, 0.04, 0.23},
    {Bf16Stage::Sampler, 0.015, 0.015},
    {Bf16Stage::LlmHidden, 0.025, 0.085},
    {Bf16Stage::LlmLogits, 0.02, 0.07},
    {Bf16Stage::DecoderMaskFeatures, 0.07, 0.11},
    {Bf16Stage::DecoderMaskLogits, 0.64, 1.0},
    {Bf16Stage::DecoderClassLogits, 1.25, 0.97},
    {Bf16Stage::PipelineClassLogits, 0.97, 0.85},
    {Bf16Stage::PipelinePixelDisagreement, 0.28, 0.47},
};

bool onednn_path() { return cpu_path_active() >= CpuPath::Avx512; }

}  // namespace

double bf16_bound(Bf16Stage stage) {
  for (const auto& b : kBounds)
    if (b.stage == stage) return onednn_path() ? b.onednn : b.aten;
  return 0.0;
}

}  // namespace xsam::test
