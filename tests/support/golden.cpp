#include "support/golden.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "io/safetensors.h"

namespace xsam::test {

std::string data_dir() {
  const char* e = std::getenv("XSAM_TEST_DATA");
  return e && *e ? e : XSAM_SOURCE_DIR "/tests/data";
}

std::string golden_dir() {
  const char* e = std::getenv("XSAM_GOLDEN_DIR");
  return e && *e ? e : data_dir() + "/golden/aaai26-tiny";
}

std::string tokenizer_plugin() {
  const char* e = std::getenv("XSAM_TOKENIZER_PLUGIN");
  return e && *e ? e : "";
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  nlohmann::json j;
  in >> j;
  return j;
}

ModelConfig golden_config() { return load_model_config(golden_dir() + "/config.json"); }

static torch::Tensor normalise(const torch::Tensor& t) {
  if (t.is_floating_point()) return t.to(torch::kFloat32);
  if (t.scalar_type() == torch::kBool) return t;
  return t.to(torch::kInt64);
}

GoldenCase::GoldenCase(const std::string& name) : name_(name) {
  std::string base = golden_dir() + "/case_" + name;
  json_ = read_json(base + ".json");
  tensors_ = load_safetensors(base + ".safetensors");
  if (json_.contains("tensors_same_as"))
    for (auto it = json_["tensors_same_as"].begin(); it != json_["tensors_same_as"].end(); ++it)
      same_as_[it.key()] = it->get<std::string>();
}

bool GoldenCase::has(const std::string& tensor) const {
  return tensors_.count(tensor) || same_as_.count(tensor);
}

torch::Tensor GoldenCase::get(const std::string& tensor) const {
  auto it = tensors_.find(tensor);
  if (it != tensors_.end()) return normalise(it->second);
  auto s = same_as_.find(tensor);
  if (s == same_as_.end()) throw std::runtime_error("golden case " + name_ + ": no tensor " + tensor);
  SafetensorsFile other(golden_dir() + "/" + s->second);
  return normalise(other.tensor(tensor).clone());
}

std::vector<std::string> GoldenCase::tensor_names() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tensors_) out.push_back(name);
  for (const auto& [name, file] : same_as_) out.push_back(name);
  return out;
}

std::vector<int64_t> GoldenCase::numbered(const std::string& prefix) const {
  std::vector<int64_t> out;
  for (const auto& name : tensor_names()) {
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    if (rest.find_first_not_of("0123456789") == std::string::npos) out.push_back(std::stoll(rest));
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

std::vector<std::string> golden_case_names() {
  auto j = read_json(golden_dir() + "/index.json");
  std::vector<std::string> out;
  const auto& cases = j.contains("cases") ? j["cases"] : j;
  for (auto it = cases.begin(); it != cases.end(); ++it) {
    std::string k = it.key();
    if (k.rfind("case_", 0) == 0) k = k.substr(5);
    out.push_back(k);
  }
  return out;
}

static bool is_file(const std::string& path) {
  std::ifstream in(path);
  return static_cast<bool>(in);
}

bool golden_has_case(const std::string& name) { return is_file(golden_dir() + "/case_" + name + ".json"); }

bool golden_has_file(const std::string& file) { return is_file(golden_dir() + "/" + file); }

void print_skip(const std::string& what, const std::string& reason) {
  std::printf("[skip] %s: %s (golden set %s)\n", what.c_str(), reason.c_str(), golden_dir().c_str());
}

const std::map<std::string, torch::Tensor>& golden_weights() {
  static const std::map<std::string, torch::Tensor> w = [] {
    auto raw = load_safetensors(golden_dir() + "/model.safetensors");
    for (auto& [k, v] : raw) v = v.to(torch::kFloat32);
    return raw;
  }();
  return w;
}

Compare compare(const torch::Tensor& actual, const torch::Tensor& reference) {
  Compare c;
  auto a = actual.detach().to(torch::kCPU).to(torch::kFloat64);
  auto r = reference.detach().to(torch::kCPU).to(torch::kFloat64);
  if (r.numel() == 0) return c;
  c.max_abs = (a - r).abs().max().item<double>();
  c.max_ref = r.abs().max().item<double>();
  return c;
}

}  // namespace xsam::test
