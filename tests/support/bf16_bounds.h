// bf16 bounds per CPU kernel path. bf16 cannot reach the fp32 tolerances (8-bit mantissa at every op), so a
// bf16 run is compared with the fp32 goldens against a bound that only a broken bf16 path exceeds. The
// error depends on the path: oneDNN's bf16 GEMMs (avx512, avx512bf16) round differently from ATen's own
// bf16 GEMMs, which run below AVX-512 (avx2, generic). Each bound is twice the worst error measured on that
// family's paths over three golden sets (docs/numerics.md has the measured values). The random tiny models
// amplify rounding (in fp32, input noise of 2^-9 moves their decoder logits by several percent), so the
// decoder and end-to-end bounds catch only gross breakage; the fp32 bounds are the parity gate.
#pragma once

namespace xsam::test {

enum class Bf16Stage {
  Siglip,               // SigLIP selected hidden state
  VisualProjector,      // visual projector output (also SigLIP → projector chained)
  Sam,                  // SAM hidden states
  SegProjector,         // seg projector output (also SAM → projector chained)
  Connector,            // segmentation connector outputs (also SAM → connector chained)
  Sampler,              // vision sampler region tokens
  LlmHidden,            // Phi-3 final-norm hidden states (prefill and generation)
  LlmLogits,            // Phi-3 logits and their logsumexp
  DecoderMaskFeatures,  // pixel decoder mask features
  DecoderMaskLogits,    // Mask2Former mask logits
  DecoderClassLogits,   // Mask2Former class logits
  PipelineClassLogits,  // end to end: class logits after every stage in bf16
  PipelinePixelDisagreement,  // end to end: mean fraction of map pixels that differ from the fp32 golden
};

// The bound for the active kernel path (core/cpu_path.h).
double bf16_bound(Bf16Stage stage);

}  // namespace xsam::test
