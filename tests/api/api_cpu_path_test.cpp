// The CPU kernel path through the C API: xsam_model_params.cpu caps it, an unknown or too-high path is
// refused naming the argument, the model info reports it, and AUTO's dtype follows it. Each test puts the
// process-wide path back to "auto" (the environment's XSAM_CPU, else the CPU's best) at the end.
#include <gtest/gtest.h>

#include <string>

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

xsam_status load_with(const char* cpu, xsam_dtype dtype, xsam_model** out) {
  xsam_model_params p = xsam_model_default_params();
  p.dtype = dtype;
  p.n_threads = 1;
  p.cpu = cpu;
  return xsam_model_load(api_test::tiny_model_dir().c_str(), &p, out);
}

struct BackToAuto {
  ~BackToAuto() {
    xsam_model* m = nullptr;
    if (load_with(nullptr, XSAM_DTYPE_FP32, &m) == XSAM_OK) xsam_model_free(m);
  }
};

TEST(CpuPathApi, GenericCapIsReportedAndAutoDtypeIsFp32There) {
  BackToAuto restore;
  xsam_model* m = nullptr;
  ASSERT_EQ(load_with("generic", XSAM_DTYPE_AUTO, &m), XSAM_OK) << xsam_last_error();
  const auto info = info_of(m);
  EXPECT_EQ(info["cpu"]["path"], "generic");
  EXPECT_EQ(info["dtype"], "fp32");  // below AVX-512 ATen's bf16 GEMMs are ~100x slower than fp32
  EXPECT_FALSE(info["cpu"]["supported_path"].get<std::string>().empty());
  xsam_model_free(m);
}

TEST(CpuPathApi, AutoDtypeIsBf16WhereThePathHasAvx512) {
  BackToAuto restore;
  xsam_model* m = nullptr;
  ASSERT_EQ(load_with(nullptr, XSAM_DTYPE_AUTO, &m), XSAM_OK) << xsam_last_error();
  const auto info = info_of(m);
  const std::string path = info["cpu"]["path"];
  const bool avx512 = path == "avx512" || path == "avx512bf16";
  EXPECT_EQ(info["dtype"], avx512 ? "bf16" : "fp32") << "path " << path;
  xsam_model_free(m);
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
