// Shared helpers of the vision golden tests: the golden weight store, strict binding with the
// derived allow-list, and the preprocessed pixel inputs a case refers to.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "support/bf16_bounds.h"
#include "support/golden.h"

namespace xsam::test::vision {

// Vision stages at 1e-5 relative to max|ref| in fp32 (docs/numerics.md). bf16 runs are checked against
// the per-path bounds of support/bf16_bounds.h.
constexpr double kFp32Tol = 1e-5;

inline const WeightStore& golden_store() {
  static const WeightStore store = WeightStore::open_file(golden_dir() + "/model.safetensors");
  return store;
}

// Keys under `prefix` that were neither bound nor allowed to stay unused.
inline std::vector<std::string> unexpected_keys(const BindReport& report, const std::string& prefix,
                                                const std::vector<std::string>& allowed_unused) {
  std::vector<std::string> out;
  for (const auto& name : golden_store().names()) {
    if (name.compare(0, prefix.size(), prefix) != 0 || report.used.count(name)) continue;
    bool allowed = false;
    for (const auto& a : allowed_unused) allowed = allowed || name.compare(0, a.size(), a) == 0;
    if (!allowed) out.push_back(name);
  }
  return out;
}

inline std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Binds `module` from the golden checkpoint under `prefix`; throws when a parameter is missing or
// mis-shaped, or a key under the prefix is unused without being in `allowed_unused`.
template <class Module>
std::shared_ptr<Module> bind_golden(std::shared_ptr<Module> module, const std::string& prefix,
                                    const std::vector<std::string>& allowed_unused = {}) {
  auto report = bind_module(*module, golden_store(), prefix);
  auto unexpected = unexpected_keys(report, prefix, allowed_unused);
  if (!report.missing.empty() || !report.mismatched.empty() || !unexpected.empty())
    throw std::runtime_error("binding " + prefix + ": missing [" + join(report.missing) + "] mismatched [" +
                             join(report.mismatched) + "] unexpected [" + join(unexpected) + "]");
  module->eval();
  return module;
}

// A tensor named "file:tensor" in the golden directory (the case jsons' *_same_as references).
inline torch::Tensor golden_file_tensor(const std::string& ref) {
  static std::map<std::string, std::map<std::string, torch::Tensor>> files;
  auto colon = ref.find(':');
  if (colon == std::string::npos) throw std::runtime_error("bad tensor reference '" + ref + "'");
  auto file = ref.substr(0, colon), name = ref.substr(colon + 1);
  auto it = files.find(file);
  if (it == files.end()) it = files.emplace(file, load_safetensors(golden_dir() + "/" + file)).first;
  auto t = it->second.find(name);
  if (t == it->second.end()) throw std::runtime_error(file + ": no tensor '" + name + "'");
  return t->second.to(torch::kFloat32);
}

// Golden cases, loaded once per test binary (several tests read the same case).
inline const GoldenCase& golden_case(const std::string& name) {
  static std::map<std::string, std::unique_ptr<GoldenCase>> cases;
  auto& slot = cases[name];
  if (!slot) slot = std::make_unique<GoldenCase>(name);
  return *slot;
}

// The SigLIP / SAM pixel values a case ran on, as a batch of one.
inline torch::Tensor siglip_pixels(const GoldenCase& c) {
  return golden_file_tensor(c.json().at("pixel_values_same_as").get<std::string>()).unsqueeze(0);
}
inline torch::Tensor sam_pixels(const GoldenCase& c) {
  return golden_file_tensor(c.json().at("extra_pixel_values_same_as").get<std::string>()).unsqueeze(0);
}

inline std::string case_param_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace xsam::test::vision
