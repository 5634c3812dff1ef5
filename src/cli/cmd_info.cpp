// xsam info [--verify] [--json] [--dtype auto|mixed|fp32|bf16] MODEL_DIR: loads a model (strictly: config, every
// weight, the tokenizer) and prints what it holds. --verify also checks the weight files' sha256.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"

using namespace xsam_cli;

int cmd_info(int argc, char** argv) {
  Args a(argc, argv, 2);
  if (a.flag("--help")) {
    std::printf("usage: xsam info [--verify] [--json] [--dtype auto|mixed|fp32|bf16] MODEL_DIR\n");
    return 0;
  }
  bool verify = a.flag("--verify");
  bool as_json = a.flag("--json");
  std::string dtype = "auto";
  a.option("--dtype", &dtype);
  auto pos = a.positionals();
  if (pos.size() != 1) {
    std::fprintf(stderr, "usage: xsam info [--verify] [--json] [--dtype auto|mixed|fp32|bf16] MODEL_DIR\n");
    return 2;
  }
  xsam_model_params p = xsam_model_default_params();
  p.verify_checksums = verify;
  if (std::string e = dtype_option(dtype, &p.dtype); !e.empty()) {
    std::fprintf(stderr, "xsam info: %s\n", e.c_str());
    return 2;
  }
  xsam_model* model = nullptr;
  if (xsam_status s = xsam_model_load(pos[0].c_str(), &p, &model)) return report("info", s);
  char* text = nullptr;
  xsam_status s = xsam_model_info_json(model, &text);
  if (s) {
    xsam_model_free(model);
    return report("info", s);
  }
  if (as_json) {
    std::printf("%s\n", text);
  } else {
    auto j = nlohmann::json::parse(text);
    std::printf("model       %s\n", j["model_dir"].get<std::string>().c_str());
    std::printf("preset      %s   tokenizer %s (%lld tokens)\n", j["preset"].get<std::string>().c_str(),
                j["tokenizer"]["mode"].get<std::string>().c_str(), j["tokenizer"]["vocab_size"].get<long long>());
    std::printf("dtype       %s (%s weights, %s math) on %s, %d threads\n", j["dtype"].get<std::string>().c_str(),
                j["weight_dtype"].get<std::string>().c_str(), j["math_dtype"].get<std::string>().c_str(),
                j["device"].get<std::string>().c_str(), j["threads"].get<int>());
    std::printf("memory      %s\n", j["memory"].get<std::string>().c_str());
    std::string features;
    for (const auto& f : j["cpu"]["features"]) features += (features.empty() ? "" : " ") + f.get<std::string>();
    std::printf("cpu path    %s (this CPU supports up to %s; features: %s)\n", j["cpu"]["path"].get<std::string>().c_str(),
                j["cpu"]["supported_path"].get<std::string>().c_str(), features.empty() ? "-" : features.c_str());
    std::printf("parameters  %lld (weight files %.1f MB), loaded in %.2f s%s\n", j["parameters"].get<long long>(),
                j["weight_bytes"].get<double>() / 1e6, j["load_seconds"].get<double>(), verify ? ", checksums verified" : "");
    std::printf("image rows  %d per <image>\n", j["image_tokens"].get<int>());
    for (const auto& p : j["parts"])
      std::printf("  %-18s %14lld parameters\n", p["name"].get<std::string>().c_str(), p["parameters"].get<long long>());
    std::string tasks;
    for (const auto& t : j["tasks"]) tasks += (tasks.empty() ? "" : ", ") + t.get<std::string>();
    std::printf("tasks       %s\n", tasks.c_str());
  }
  xsam_free(text);
  xsam_model_free(model);
  return 0;
}
