#include "io/random_weights.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "io/safetensors.h"

namespace xsam {

static bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

static torch::Tensor random_tensor(const NamedShape& spec, at::Generator& gen) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  if (ends_with(spec.name, "logit_scale")) return torch::full(spec.shape, std::log(100.0), opts);
  auto n = at::normal(0.0, 1.0, spec.shape, gen, opts);
  if (spec.shape.size() >= 2) {
    if (spec.name.find("queries_") != std::string::npos) return n;  // query tables: std 1
    int64_t fan_in = 1;
    for (size_t i = 1; i < spec.shape.size(); ++i) fan_in *= spec.shape[i];
    return n.mul_(1.0 / std::sqrt(static_cast<double>(fan_in)));
  }
  if (ends_with(spec.name, "bias")) return n.mul_(0.1);
  return n.mul_(0.1).add_(1.0);  // 1-D weights are normalisation scales
}

std::string write_random_checkpoint(const std::string& path, const std::vector<NamedShape>& layout, torch::Dtype dtype,
                                    uint64_t seed) {
  StDtype st = st_from_torch(dtype, "random checkpoint dtype");
  std::vector<SafetensorsStreamWriter::Spec> specs;
  for (const auto& t : layout) specs.push_back({t.name, st, t.shape});
  SafetensorsStreamWriter writer(path, specs, {{"format", "pt"}, {"generator", "xsam random-model"}});
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (const auto& t : layout) writer.write_next(random_tensor(t, gen).to(dtype));
  return writer.finish();
}

}  // namespace xsam
