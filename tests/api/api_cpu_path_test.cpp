// The CPU kernel path through the C API: xsam_model_params.cpu caps it, an unknown or too-high path is
// refused naming the argument, the model info reports it, and AUTO's dtype follows it. Each test puts the
// process-wide path back to "auto" (the environment's XSAM_CPU, else the CPU's best) at the end.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "api_support.h"

namespace {

nlohmann::json info_of(xsam_model* m) {
  char* text = nullptr;
  EXPECT_EQ(xsam_model_info_json(m, &text), XSAM_OK);
  auto j = nlohmann::json::parse(text);
  xsam_free(text);
  return j;
}

// A tiny model whose file stores bf16, as the released weights do (the shared tiny model stores fp32).
const std::string& bf16_model_dir() {
  static const std::string dir = [] {
    std::string d = api_test::temp_dir("tiny_model_bf16");
    if (xsam_random_model(d.c_str(), "tiny", XSAM_DTYPE_BF16, 7, nullptr) != XSAM_OK)
      ADD_FAILURE() << "xsam_random_model: " << xsam_last_error();
    return d;
  }();
  return dir;
}

xsam_status load_with(const char* cpu, xsam_dtype dtype, xsam_model** out) {
  xsam_model_params p = xsam_model_default_params();
  p.dtype = dtype;
  p.n_threads = 1;
  p.cpu = cpu;
  return xsam_model_load(bf16_model_dir().c_str(), &p, out);
}

struct BackToAuto {
  ~BackToAuto() {
    xsam_model* m = nullptr;
    if (load_with(nullptr, XSAM_DTYPE_FP32, &m) == XSAM_OK) xsam_model_free(m);
  }
};

TEST(CpuPathApi, GenericCapIsReportedAndAutoIsTheMixedRuntimeThere) {
  BackToAuto restore;
  xsam_model* m = nullptr;
  ASSERT_EQ(load_with("generic", XSAM_DTYPE_AUTO, &m), XSAM_OK) << xsam_last_error();
  const auto info = info_of(m);
  EXPECT_EQ(info["cpu"]["path"], "generic");
  // Without native bf16 dot products: fp32 math (ATen's bf16 GEMMs are ~100x slower there) over the
  // file's bf16 weights, kept as they are stored.
  EXPECT_EQ(info["dtype"], "mixed");
  EXPECT_EQ(info["math_dtype"], "fp32");
  EXPECT_EQ(info["weight_dtype"], "bf16");
  EXPECT_FALSE(info["cpu"]["supported_path"].get<std::string>().empty());
  xsam_model_free(m);
}

TEST(CpuPathApi, AutoIsBf16OnlyWhereThePathHasNativeBf16DotProducts) {
  BackToAuto restore;
  xsam_model* m = nullptr;
  ASSERT_EQ(load_with(nullptr, XSAM_DTYPE_AUTO, &m), XSAM_OK) << xsam_last_error();
  const auto info = info_of(m);
  const std::string path = info["cpu"]["path"];
  EXPECT_EQ(info["dtype"], path == "avx512bf16" ? "bf16" : "mixed") << "path " << path;
  EXPECT_EQ(info["weight_dtype"], "bf16") << "path " << path;
  xsam_model_free(m);
}

TEST(CpuPathApi, ExplicitDtypesAreTakenAsTheyAreOnEveryPath) {
  BackToAuto restore;
  for (auto [dtype, name, weights, math] :
       {std::tuple<xsam_dtype, const char*, const char*, const char*>{XSAM_DTYPE_FP32, "fp32", "fp32", "fp32"},
        {XSAM_DTYPE_MIXED, "mixed", "bf16", "fp32"},
        {XSAM_DTYPE_BF16, "bf16", "bf16", "bf16"}}) {
    xsam_model* m = nullptr;
    ASSERT_EQ(load_with("generic", dtype, &m), XSAM_OK) << xsam_last_error();
    const auto info = info_of(m);
    EXPECT_EQ(info["dtype"], name);
    EXPECT_EQ(info["weight_dtype"], weights) << name;
    EXPECT_EQ(info["math_dtype"], math) << name;
    xsam_model_free(m);
  }
}

TEST(CpuPathApi, UnknownPathIsRefusedNamingTheArgument) {
  BackToAuto restore;
  xsam_model* m = nullptr;
  EXPECT_EQ(load_with("avx3", XSAM_DTYPE_FP32, &m), XSAM_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(m, nullptr);
  const std::string message = xsam_last_error();
  EXPECT_NE(message.find("params.cpu"), std::string::npos) << message;
  EXPECT_NE(message.find("avx3"), std::string::npos) << message;
}

TEST(CpuPathApi, APathAboveTheCpuIsUnsupportedNamingBoth) {
  BackToAuto restore;
  xsam_model* probe = nullptr;
  ASSERT_EQ(load_with(nullptr, XSAM_DTYPE_FP32, &probe), XSAM_OK) << xsam_last_error();
  const std::string best = info_of(probe)["cpu"]["supported_path"];
  xsam_model_free(probe);
  if (best == "avx512bf16") GTEST_SKIP() << "this CPU has the highest path: nothing is above it";
  xsam_model* m = nullptr;
  EXPECT_EQ(load_with("avx512bf16", XSAM_DTYPE_FP32, &m), XSAM_ERR_UNSUPPORTED);
  const std::string message = xsam_last_error();
  EXPECT_NE(message.find("avx512bf16"), std::string::npos) << message;
  EXPECT_NE(message.find(best), std::string::npos) << message;
}

}  // namespace
