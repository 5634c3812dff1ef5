// The CPU kernel path (core/cpu_path.h): names, the cap, its errors, and that a cap below the CPU's best
// turns off what the lower path lacks. The process-wide path is restored at the end of each test.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <ATen/Context.h>

#include "core/cpu_path.h"
#include "core/error.h"

namespace xsam {
namespace {

struct RestorePath {
  ~RestorePath() { set_cpu_path("", "test"); }
};

std::string error_of(const std::string& request, Status* status) {
  try {
    set_cpu_path(request, "params.cpu");
  } catch (const Failure& e) {
    *status = e.status();
    return e.what();
  }
  return "";
}

TEST(CpuPath, NamesRoundTrip) {
  for (CpuPath p : {CpuPath::Generic, CpuPath::Avx2, CpuPath::Avx512, CpuPath::Avx512Bf16}) {
    CpuPath back;
    ASSERT_TRUE(cpu_path_from_name(cpu_path_name(p), &back)) << cpu_path_name(p);
    EXPECT_EQ(back, p);
  }
  CpuPath unused;
  EXPECT_FALSE(cpu_path_from_name("auto", &unused));
  EXPECT_FALSE(cpu_path_from_name("AVX2", &unused));
}

TEST(CpuPath, AutoIsTheBestThisCpuHasUnlessTheEnvironmentCapsIt) {
  RestorePath restore;
  const CpuPath path = set_cpu_path("auto", "params.cpu");
  const std::string capped_by = std::getenv("XSAM_CPU") ? std::getenv("XSAM_CPU") : "";
  if (!capped_by.empty() && capped_by != "auto") {
    CpuPath env;
    ASSERT_TRUE(cpu_path_from_name(capped_by, &env));
    EXPECT_EQ(path, env);
  } else {
    EXPECT_EQ(path, cpu_path_supported());
  }
  EXPECT_EQ(cpu_path_active(), path);
  std::printf("[cpu] supported %s, active %s\n", cpu_path_name(cpu_path_supported()), cpu_path_name(path));
}

TEST(CpuPath, ACapBelowTheCpuIsTakenAndUndone) {
  RestorePath restore;
  EXPECT_EQ(set_cpu_path("generic", "params.cpu"), CpuPath::Generic);
  EXPECT_EQ(cpu_path_active(), CpuPath::Generic);
  // Below AVX-512 ATen's oneDNN use is off when (and only when) the cap is below the CPU's own path.
  if (cpu_path_supported() >= CpuPath::Avx512) EXPECT_FALSE(at::globalContext().userEnabledMkldnn());
  // The CPU's own path undoes our cap (nothing in this process switches oneDNN off otherwise).
  set_cpu_path(cpu_path_name(cpu_path_supported()), "params.cpu");
  EXPECT_TRUE(at::globalContext().userEnabledMkldnn());
}

TEST(CpuPath, BadRequestsNameTheArgumentAndThePaths) {
  RestorePath restore;
  Status status = Status::Ok;
  std::string message = error_of("avx3", &status);
  EXPECT_EQ(status, Status::InvalidArgument);
  EXPECT_NE(message.find("params.cpu"), std::string::npos) << message;
  EXPECT_NE(message.find("avx512bf16"), std::string::npos) << message;  // lists the valid names
  if (cpu_path_supported() == CpuPath::Avx512Bf16) {
    std::printf("[skip] above-the-CPU request: this CPU has the highest path\n");
    return;
  }
  message = error_of("avx512bf16", &status);
  EXPECT_EQ(status, Status::Unsupported);
  EXPECT_NE(message.find(cpu_path_name(cpu_path_supported())), std::string::npos) << message;
}

}  // namespace
}  // namespace xsam
