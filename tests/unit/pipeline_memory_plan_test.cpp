// The memory a load plans for (pipeline/memory_plan.h): bytes per runtime from the weight file's own
// header, and the refusal of a plan that does not fit, naming the numbers and the cheaper runtime.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "io/weights.h"
#include "pipeline/memory_plan.h"
#include "support/golden.h"

namespace xsam {
namespace {

// Bytes the file stores per dtype (the set's own header, nothing assumed about its sizes).
struct StoredBytes {
  int64_t bf16 = 0, other_float = 0, non_float = 0, bf16_elements = 0;
};

StoredBytes stored_bytes(const WeightStore& store) {
  StoredBytes b;
  for (const auto& name : store.names()) {
    const auto& info = store.info(name);
    const int64_t bytes = int64_t(info.end - info.begin);
    if (info.dtype == StDtype::BF16) {
      b.bf16 += bytes;
      b.bf16_elements += bytes / 2;
    } else if (info.dtype == StDtype::F32 || info.dtype == StDtype::F16) {
      b.other_float += bytes;
    } else {
      b.non_float += bytes;
    }
  }
  return b;
}

TEST(MemoryPlan, MixedKeepsTheFilesBf16MappedAndFp32ConvertsIt) {
  const WeightStore store = WeightStore::open_dir(test::golden_dir());
  const StoredBytes b = stored_bytes(store);
  const MemoryPlan mixed = plan_memory(store, torch::kFloat32, /*bf16_weights=*/true);
  EXPECT_EQ(mixed.converted_bytes, 0);
  EXPECT_EQ(mixed.mapped_bytes, b.bf16 + b.other_float + b.non_float);
  const MemoryPlan fp32 = plan_memory(store, torch::kFloat32, /*bf16_weights=*/false);
  EXPECT_EQ(fp32.converted_bytes, 4 * b.bf16_elements);  // every bf16 element becomes 4 bytes
  const MemoryPlan bf16 = plan_memory(store, torch::kBFloat16, /*bf16_weights=*/false);
  EXPECT_EQ(bf16.converted_bytes, b.other_float / 2);  // fp32 tensors (if any) halve
  EXPECT_GT(mixed.working_bytes, 0);
  EXPECT_LE(mixed.needed(), fp32.needed());
}

TEST(MemoryPlan, SkippedLayersAreNotCounted) {
  const WeightStore store = WeightStore::open_dir(test::golden_dir());
  const MemoryPlan all = plan_memory(store, torch::kFloat32, false);
  const MemoryPlan fewer = plan_memory(store, torch::kFloat32, false, {"llm.model.layers.0."});
  EXPECT_LT(fewer.converted_bytes, all.converted_bytes);
}

TEST(MemoryPlan, APlanThatDoesNotFitIsRefusedWithTheNumbersAndTheCheaperRuntime) {
  MemoryPlan plan;
  plan.mapped_bytes = 1000;
  plan.converted_bytes = int64_t(18) << 30;
  plan.working_bytes = int64_t(2) << 30;
  plan.available_bytes = int64_t(16) << 30;
  try {
    require_fits(plan, "/models/x-sam", torch::kFloat32, false);
    FAIL() << "a plan of " << plan.needed() << " bytes fitted in " << plan.available_bytes;
  } catch (const Failure& e) {
    EXPECT_EQ(e.status(), Status::OutOfMemory);
    const std::string m = e.what();
    EXPECT_NE(m.find("/models/x-sam"), std::string::npos) << m;
    EXPECT_NE(m.find("fp32 runtime does not fit"), std::string::npos) << m;
    EXPECT_NE(m.find("GB available"), std::string::npos) << m;
    EXPECT_NE(m.find("dtype mixed or auto"), std::string::npos) << m;
  }
  plan.available_bytes = plan.needed();
  EXPECT_NO_THROW(require_fits(plan, "/models/x-sam", torch::kFloat32, false));
  plan.available_bytes = -1;  // unknown (no /proc/meminfo): not refused
  EXPECT_NO_THROW(require_fits(plan, "/models/x-sam", torch::kFloat32, false));
}

TEST(MemoryPlan, AvailableMemoryIsReadOnLinux) {
  const int64_t available = available_memory_bytes();
  EXPECT_GT(available, 0) << "/proc/meminfo has no MemAvailable";
}

}  // namespace
}  // namespace xsam
