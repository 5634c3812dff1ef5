// Weight store (one file or a sharded index) and strict binding of torch modules to checkpoint names.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "io/safetensors.h"

namespace xsam {

class WeightStore {
 public:
  // `dir`/model.safetensors, or `dir`/model.safetensors.index.json with its shards.
  static WeightStore open_dir(const std::string& dir);
  static WeightStore open_file(const std::string& path);

  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  torch::Tensor get(const std::string& name) const;  // zero-copy view of the stored dtype
  const StTensorInfo& info(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  std::string describe() const;  // file list, for messages

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

struct BindReport {
  std::vector<std::string> missing;      // module parameters absent from the store
  std::vector<std::string> mismatched;   // "name: checkpoint [a,b] vs module [c,d]"
  std::set<std::string> used;            // store keys consumed
};

// How bind_module fills each tensor. Default: copy into the module's tensor, converting to its dtype.
// With `replace`, the module's tensor instead takes the checkpoint tensor converted to `dtype` on
// `device` (Tensor::set_data keeps every handle to it valid); when the stored dtype already is `dtype`
// on the CPU and `share_mapped` is set, no copy is made at all: the parameter is a read-only view of
// the file mapping (which it keeps alive), so the weights sit in memory once, as page cache.
// With `replace`, the tensors named in `keep_bf16` (module-local names) that the file stores as bf16 stay
// bf16 whatever `dtype` is (the mixed runtime: bulk matrices bf16 in memory, the math in fp32).
struct BindOptions {
  bool replace = false;
  torch::Dtype dtype = torch::kFloat32;
  torch::Device device = torch::kCPU;
  bool share_mapped = true;
  std::set<std::string> keep_bf16;
};

// Throws Status::Format naming the tensor and the element when a float weight holds NaN or infinity
// (read in chunks of the mapped storage: no copy). bind_module checks every float weight it binds.
void require_finite(const WeightStore& store, const std::string& key);

// Fills every parameter and buffer of `module` from `store[prefix + name]`. Names in `aliases` map a
// module-side full key to another checkpoint key.
BindReport bind_module(torch::nn::Module& module, const WeightStore& store, const std::string& prefix,
                       const std::map<std::string, std::string>& aliases = {}, const BindOptions& options = {});

// Throws one Status::Model error listing every missing key, shape mismatch and unexpected key (keys
// not used and not matched by one of `allowed_unused_prefixes`).
void check_bind_report(const BindReport& report, const WeightStore& store,
                       const std::vector<std::string>& allowed_unused_prefixes);

}  // namespace xsam
