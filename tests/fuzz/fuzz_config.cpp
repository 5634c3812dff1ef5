// Fuzz target: the config parsers (src/core/config.h) on arbitrary JSON text. Either kind of config
// (xsam-model or upstream-style) must be refused with a Status naming the field, or yield a config whose
// derived sizes compute without overflow (UBSan watches) and that survives a round trip through
// model_config_to_json unchanged.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xsam;
  using nlohmann::json;
  json j = json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return 0;  // the JSON parser is not ours to fuzz
  fuzz::expect_clean([&] {
    // The same dispatch as load_model_config.
    ModelConfig c = j.contains("format") ? parse_model_config(j, "fuzz.json") : parse_upstream_config(j, "fuzz.json");
    // Derived sizes (each used to size tensors somewhere).
    volatile int64_t sink = 0;
    sink = sink + c.image_tokens() + c.siglip.num_tokens() + c.sam_llm_tokens() + c.llm.head_dim() +
           c.sam.grid() + c.sam.max_hidden_state_needed() + c.sampler.tokens_per_region() +
           c.visual_projector.input_dim() + c.seg_projector.input_dim() + c.llm_projector.input_dim();
    for (size_t i = 0; i < c.connector.in_channels.size(); ++i) sink = sink + c.connector.out_channels(i);
    // Round trip: what we write, we read back identically.
    json written = model_config_to_json(c);
    ModelConfig back = parse_model_config(written, "fuzz-roundtrip.json");
    if (model_config_to_json(back) != written) fuzz::finding("config changed in a round trip through JSON");
  });
  return 0;
}
