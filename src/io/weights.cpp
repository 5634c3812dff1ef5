#include "io/weights.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "core/error.h"

namespace xsam {

static bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

WeightStore WeightStore::open_file(const std::string& path) {
  WeightStore s;
  auto f = std::make_shared<SafetensorsFile>(path);
  for (const auto& n : f->names()) s.where_[n] = 0;
  s.files_.push_back(std::move(f));
  return s;
}

WeightStore WeightStore::open_dir(const std::string& dir) {
  std::string single = dir + "/model.safetensors";
  std::string index = dir + "/model.safetensors.index.json";
  if (file_exists(single)) return open_file(single);
  if (!file_exists(index))
    fail(Status::Io, dir + ": no model.safetensors or model.safetensors.index.json in the model directory");
  std::ifstream in(index);
  nlohmann::json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    fail(Status::Format, index + ": invalid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(Status::Format, index + ": missing object 'weight_map'");
  WeightStore s;
  std::map<std::string, size_t> file_index;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) fail(Status::Format, index + ": weight_map['" + it.key() + "'] must be a file name");
    std::string shard = it->get<std::string>();
    if (shard.find('/') != std::string::npos || shard == "..")
      fail(Status::Format, index + ": weight_map['" + it.key() + "'] names a file outside the directory");
    auto fi = file_index.find(shard);
    if (fi == file_index.end()) {
      s.files_.push_back(std::make_shared<SafetensorsFile>(dir + "/" + shard));
      fi = file_index.emplace(shard, s.files_.size() - 1).first;
    }
    if (!s.files_[fi->second]->contains(it.key()))
      fail(Status::Format, dir + "/" + shard + ": tensor '" + it.key() + "' listed in the index is not in the shard");
    s.where_[it.key()] = fi->second;
  }
  return s;
}

torch::Tensor WeightStore::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(Status::Model, describe() + ": tensor '" + name + "' not found");
  return files_[it->second]->tensor(name);
}

const StTensorInfo& WeightStore::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(Status::Model, describe() + ": tensor '" + name + "' not found");
  return files_[it->second]->info(name);
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : where_) out.push_back(n);
  return out;
}

std::string WeightStore::describe() const {
  if (files_.size() == 1) return files_[0]->path();
  std::string s;
  for (const auto& f : files_) s += (s.empty() ? "" : ", ") + f->path();
  return "[" + s + "]";
}

static std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "[";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  o << "]";
  return o.str();
}

namespace {

// The first element of `bits` [0, n) with an all-ones exponent (NaN or ±infinity), or -1: `exponent` is the
// mask of the exponent field in the element's bit pattern.
template <class U>
int64_t first_non_finite(const U* bits, int64_t n, U exponent) {
  constexpr int64_t kBlock = 4096;
  for (int64_t at = 0; at < n; at += kBlock) {
    const int64_t end = std::min(n, at + kBlock);
    // The largest masked exponent of the block: all ones only if some element is NaN or infinite. A max
    // reduction, which compilers vectorise (a per-element comparison reduced with || was left scalar).
    U largest = 0;
    for (int64_t i = at; i < end; ++i) largest = std::max<U>(largest, U(bits[i] & exponent));
    if (largest != exponent) continue;
    for (int64_t i = at; i < end; ++i)
      if ((bits[i] & exponent) == exponent) return i;
  }
  return -1;
}

// Maps the pages of [p, p + bytes) in one call where the kernel can (Linux >= 5.14: MADV_POPULATE_READ):
// for a file already in the page cache that is several times faster than taking a page fault per 4 KB
// page on first touch (measured: the check of a full-size model 9.7 s → see docs/performance.md).
void populate(const void* p, int64_t bytes) {
#ifdef __linux__
  constexpr int kPopulateRead = 22;  // MADV_POPULATE_READ, absent from older headers
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + uintptr_t(bytes);
  (void)madvise(reinterpret_cast<void*>(begin), end - begin, kPopulateRead);  // best effort: faults otherwise
#endif
}

// The first non-finite element of a contiguous float tensor, or -1; split over the intra-op threads.
int64_t first_non_finite(const torch::Tensor& t) {
  const int64_t n = t.numel();
  populate(t.data_ptr(), n * int64_t(t.element_size()));
  std::atomic<int64_t> first{-1};
  at::parallel_for(0, n, int64_t(1) << 20, [&](int64_t b, int64_t e) {
    int64_t found = -1;
    if (t.scalar_type() == torch::kFloat32)
      found = first_non_finite(static_cast<const uint32_t*>(t.data_ptr()) + b, e - b, uint32_t{0x7F800000u});
    else  // bf16 and fp16 both keep their exponent in 0x7F80 / 0x7C00 of a 16-bit pattern
      found = first_non_finite(static_cast<const uint16_t*>(t.data_ptr()) + b, e - b,
                               uint16_t(t.scalar_type() == torch::kBFloat16 ? 0x7F80 : 0x7C00));
    if (found < 0) return;
    int64_t expected = first.load();
    while ((expected < 0 || b + found < expected) && !first.compare_exchange_weak(expected, b + found)) {
    }
  });
  return first.load();
}

}  // namespace

// A NaN or infinite weight loads fine and then turns every answer into NaN scores, <unk> text or an
// internal error far from the cause: refuse it at load, naming the tensor. The bit patterns are read in
// place from the mapped file (no copy, no temporaries): a full-size model is scanned in well under a second.
void require_finite(const WeightStore& store, const std::string& key) {
  const torch::Tensor flat = store.get(key).reshape({-1}).contiguous();
  const int64_t first = first_non_finite(flat);
  if (first < 0) return;
  fail(Status::Format, key + ": non-finite weight (NaN or infinity) at element " + std::to_string(first) +
                           " (value " + std::to_string(flat[first].item<float>()) + "): the weight file is corrupt");
}

BindReport bind_module(torch::nn::Module& module, const WeightStore& store, const std::string& prefix,
                       const std::map<std::string, std::string>& aliases, const BindOptions& options) {
  BindReport r;
  torch::NoGradGuard no_grad;
  auto bind_one = [&](const std::string& local, torch::Tensor& target) {
    std::string key = prefix + local;
    auto a = aliases.find(key);
    if (a != aliases.end() && !store.contains(key)) key = a->second;
    if (!store.contains(key)) {
      r.missing.push_back(prefix + local);
      return;
    }
    const auto& info = store.info(key);
    if (at::IntArrayRef(info.shape) != target.sizes()) {
      r.mismatched.push_back(key + ": checkpoint " + shape_str(info.shape) + " vs model " + shape_str(target.sizes()));
      return;
    }
    // Float weights from float storage only (and integers from integers): copy_ would silently turn
    // an I32/U8/BOOL tensor into floats, a corrupt checkpoint that then "works".
    const bool stored_float = info.dtype == StDtype::F32 || info.dtype == StDtype::F16 || info.dtype == StDtype::BF16;
    if (stored_float != target.is_floating_point()) {
      r.mismatched.push_back(key + ": checkpoint dtype " + st_dtype_name(info.dtype) + " vs model " +
                             std::string(c10::toString(target.scalar_type())));
      return;
    }
    if (stored_float) require_finite(store, key);
    if (!options.replace) {
      target.copy_(store.get(key));  // converts the stored dtype to the module's dtype once
    } else {
      torch::Tensor stored = store.get(key);
      const bool keep = stored.scalar_type() == torch::kBFloat16 && options.keep_bf16.count(local) != 0;
      const torch::Dtype dtype = keep ? torch::kBFloat16 : options.dtype;
      const bool same = stored.scalar_type() == dtype && options.device.is_cpu();
      if (same && options.share_mapped) target.set_data(stored);  // zero-copy: a view of the mapping
      else if (same) target.set_data(stored.clone());
      else target.set_data(stored.to(options.device, dtype));
    }
    r.used.insert(key);
  };
  for (auto& p : module.named_parameters(true)) bind_one(p.key(), p.value());
  for (auto& b : module.named_buffers(true)) bind_one(b.key(), b.value());
  return r;
}

void check_bind_report(const BindReport& report, const WeightStore& store,
                       const std::vector<std::string>& allowed_unused_prefixes) {
  std::vector<std::string> unexpected;
  for (const auto& name : store.names()) {
    if (report.used.count(name)) continue;
    bool allowed = false;
    for (const auto& p : allowed_unused_prefixes)
      if (name.compare(0, p.size(), p) == 0) { allowed = true; break; }
    if (!allowed) unexpected.push_back(name);
  }
  if (report.missing.empty() && report.mismatched.empty() && unexpected.empty()) return;
  std::ostringstream o;
  o << store.describe() << ": checkpoint does not match the model config:";
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    o << "\n  " << v.size() << " " << what << ":";
    size_t shown = 0;
    for (const auto& s : v) {
      if (++shown > 40) { o << "\n    ... (" << v.size() - 40 << " more)"; break; }
      o << "\n    " << s;
    }
  };
  list("missing tensor(s)", report.missing);
  list("shape mismatch(es)", report.mismatched);
  list("unexpected tensor(s)", unexpected);
  fail(Status::Model, o.str());
}

}  // namespace xsam
