// Helpers shared by the tests: where the test data is, golden cases, and tensor comparison with the
// tolerances of docs/design/decisions.md#tolerances (max abs error relative to max|reference|), printed for
// the record.
#pragma once
#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/config.h"

namespace xsam::test {

// tests/data (or $XSAM_TEST_DATA).
std::string data_dir();
// The golden set the tests run on: $XSAM_GOLDEN_DIR or tests/data/golden/aaai26-tiny.
std::string golden_dir();
// Path of the tokenizer plugin built beside the tests ($XSAM_TOKENIZER_PLUGIN).
std::string tokenizer_plugin();

nlohmann::json read_json(const std::string& path);

// The golden set's config, read through the library's upstream-config importer.
ModelConfig golden_config();

// One case_<name>: its tensors (following "tensors_same_as" into earlier cases) and its json.
class GoldenCase {
 public:
  explicit GoldenCase(const std::string& name);
  const std::string& name() const { return name_; }
  const nlohmann::json& json() const { return json_; }
  bool has(const std::string& tensor) const;
  // Names of every tensor the case holds (its own and those it shares with earlier cases).
  std::vector<std::string> tensor_names() const;
  // The n of each "<prefix><n>" tensor the case holds (e.g. "llm.logits_last" → 8, 2), descending.
  std::vector<int64_t> numbered(const std::string& prefix) const;
  // As stored, converted to fp32 for floating types; integer types as int64.
  torch::Tensor get(const std::string& tensor) const;

 private:
  std::string name_;
  nlohmann::json json_;
  std::map<std::string, torch::Tensor> tensors_;
  std::map<std::string, std::string> same_as_;  // tensor -> file name
};

// Names of every case in the golden set (from index.json), in index order.
std::vector<std::string> golden_case_names();
// Whether the set has case_<name>.json. Tests of one named case skip by name (printed) when it lacks it.
bool golden_has_case(const std::string& name);
// Whether the set has `file` (e.g. "preprocess_extra.safetensors"); extras a set may lack.
bool golden_has_file(const std::string& file);
// Prints the "[skip]" line for a check the set has no data for (the reason names the case / file).
void print_skip(const std::string& what, const std::string& reason);

// The golden set's weights (model.safetensors), fp32.
const std::map<std::string, torch::Tensor>& golden_weights();

struct Compare {
  double max_abs = 0;
  double max_ref = 0;
  double rel() const { return max_ref > 0 ? max_abs / max_ref : max_abs; }
};
Compare compare(const torch::Tensor& actual, const torch::Tensor& reference);

}  // namespace xsam::test

// `GoldenCase var(name)` in a test of one named case, or a printed skip when the set has no such case.
#define XSAM_NAMED_CASE(var, case_name)                                                                        \
  if (!::xsam::test::golden_has_case(case_name)) {                                                            \
    ::xsam::test::print_skip(::testing::UnitTest::GetInstance()->current_test_info()->name(),             \
                             std::string("the golden set has no case ") + (case_name));                        \
    GTEST_SKIP() << "the golden set has no case " << (case_name);                                            \
  }                                                                                                      \
  ::xsam::test::GoldenCase var(case_name)

// EXPECT that `actual` matches `reference` within rel_tol × max|reference| (and same shape); prints the
// measured error so that test logs carry the numbers.
#define XSAM_EXPECT_CLOSE(actual, reference, rel_tol, what)                                              \
  do {                                                                                                   \
    auto _a = (actual);                                                                                  \
    auto _r = (reference);                                                                               \
    ASSERT_EQ(_a.sizes(), _r.sizes()) << (what) << ": shape";                                           \
    auto _c = ::xsam::test::compare(_a, _r);                                                             \
    std::printf("[parity] %-60s max_abs=%.3g rel=%.3g tol=%.1g %s\n", std::string(what).c_str(), _c.max_abs, \
                _c.rel(), double(rel_tol), _c.rel() <= (rel_tol) ? "PASS" : "FAIL");                   \
    EXPECT_LE(_c.rel(), (rel_tol)) << (what) << ": max abs err " << _c.max_abs << " vs max|ref| " << _c.max_ref; \
  } while (0)
