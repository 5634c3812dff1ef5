// What every fuzz target accepts as a "good" outcome: success, or an xsam::Failure with a documented status
// (never Internal) and a non-empty message. Anything else — another exception, a crash, a sanitizer
// report — is a finding: abort() so that libFuzzer (and the corpus replay under CTest) stops on it.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/error.h"

namespace xsam::fuzz {

template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const xsam::Failure& e) {
    if (e.status() == xsam::Status::Internal || e.status() == xsam::Status::Ok || e.what()[0] == '\0') {
      std::fprintf(stderr, "fuzz: unexpected status %d: %s\n", static_cast<int>(e.status()), e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: exception other than xsam::Failure escaped: %s\n", e.what());
    std::abort();
  }
}

[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "fuzz: %s\n", what);
  std::abort();
}

}  // namespace xsam::fuzz
