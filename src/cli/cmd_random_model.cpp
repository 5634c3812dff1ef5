// xsam random-model --preset tiny|full [--dtype bf16|fp32] [--seed N] [--tokenizer DIR] OUT_DIR
#include <cstdio>
#include <string>

#include "cli/cli_common.h"

using namespace xsam_cli;

int cmd_random_model(int argc, char** argv) {
  const char* use = "usage: xsam random-model --preset tiny|full [--dtype bf16|fp32] [--seed N] [--tokenizer DIR] OUT_DIR\n";
  Args a(argc, argv, 2);
  if (a.flag("--help")) {
    std::printf("%s", use);
    return 0;
  }
  std::string preset = "tiny", dtype, seed_text = "0", tokenizer;
  a.option("--preset", &preset);
  bool has_dtype = a.option("--dtype", &dtype);
  a.option("--seed", &seed_text);
  a.option("--tokenizer", &tokenizer);
  auto pos = a.positionals();
  long long seed = 0;
  if (std::string e = int_option("--seed", seed_text, 0, INT64_MAX, &seed); !e.empty()) {
    std::fprintf(stderr, "xsam random-model: %s\n", e.c_str());
    return 2;
  }
  if (pos.size() != 1) {
    std::fprintf(stderr, "%s", use);
    return 2;
  }
  // tiny defaults to fp32 (exact tests), full to bf16 (the released dtype, half the disk).
  if (!has_dtype) dtype = preset == "full" ? "bf16" : "fp32";
  xsam_dtype d;
  if (dtype == "fp32") d = XSAM_DTYPE_FP32;
  else if (dtype == "bf16") d = XSAM_DTYPE_BF16;
  else {
    std::fprintf(stderr, "xsam random-model: --dtype must be bf16 or fp32\n");
    return 2;
  }
  // Regenerating a model in place is common (tests, the quickstart) and meant; it is said, not refused.
  if (FILE* f = std::fopen((pos[0] + "/config.json").c_str(), "rb")) {
    std::fclose(f);
    std::fprintf(stderr, "xsam random-model: replacing the model in %s\n", pos[0].c_str());
  }
  if (xsam_status s = xsam_random_model(pos[0].c_str(), preset.c_str(), d, static_cast<uint64_t>(seed),
                                        tokenizer.empty() ? nullptr : tokenizer.c_str()))
    return report("random-model", s);
  std::printf("wrote %s (%s preset, %s, seed %lld)\n", pos[0].c_str(), preset.c_str(), dtype.c_str(), seed);
  return 0;
}
