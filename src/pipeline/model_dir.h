// Writing model directories (docs/design/architecture.md#the-model-directory): random-weight models for tests and
// benchmarks, and xsam-model config.json from an upstream-style config (used by tools/xsam-export).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

namespace xsam {

struct LoadedModel;

// Where the Phi-3 tokenizer files for random models come from: `explicit_dir` if given, else
// $XSAM_TOKENIZER_DIR, else xsam/tokenizer beside the library (installed, and in the build tree, where
// CMake copies tests/data/tokenizer's files), then ../lib/xsam/tokenizer (a statically linked program in
// bin/). Throws Status::Io listing what was tried.
std::string find_tokenizer_source(const std::string& explicit_dir);

// Writes config.json (size preset "tiny" or "full", behaviour preset aaai26, tokenizer mode fast when a
// tokenizer.json is available), model.safetensors with random weights in the exact checkpoint layout,
// the tokenizer files and checksums.json. `out_dir` is created if needed.
void write_random_model(const std::string& out_dir, const std::string& size_preset, torch::Dtype dtype, uint64_t seed,
                        const std::string& tokenizer_dir = "");

// Upstream-style config.json (golden sets) → xsam-model config.json text.
void convert_upstream_config(const std::string& upstream_path, const std::string& out_path);

// What `xsam info` prints: parts, sizes, parameter counts, dtype, presets, tasks.
nlohmann::json model_info(const LoadedModel& model);

}  // namespace xsam
