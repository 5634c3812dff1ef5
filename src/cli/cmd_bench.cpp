// xsam bench --model DIR | --preset full [--dtype bf16|fp32|both] [--threads N] [--json FILE] [--image PATH]
//            [--decode-tokens N] [--llm-layers N] [--no-limits]
//
// Times every stage of X-SAM on this machine against its limits (src/bench/, docs/performance.md)
// and prints a table; --json writes the whole report.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "cli/cli_common.h"

using namespace xsam_cli;
using nlohmann::json;

namespace {

const char* kUsage =
    "usage: xsam bench --model DIR | --preset full [--dtype auto|mixed|bf16|fp32|both] [--threads N] [--json FILE]\n"
    "                  [--image PATH] [--decode-tokens N] [--llm-layers N] [--no-limits]\n\n"
    "  --model DIR       a model directory (weights in the page cache make the load a warm one)\n"
    "  --preset full     benchmark random full-size weights; they are written once to --model DIR or,\n"
    "                    without it, to $TMPDIR/xsam-bench-full (about 9.3 GB, bf16)\n"
    "  --dtype           runtime dtype(s); default auto (bf16 on the avx512bf16 path, else mixed: bf16\n"
    "                    weights, fp32 math); both = bf16 then fp32. A runtime whose weights do not fit\n"
    "                    builds only the LLM layers that fit in memory and extrapolates (reported)\n"
    "  --threads N       intra-op threads (default: physical cores)\n"
    "  --image PATH      the picture to segment (default: a synthetic 640x480 one)\n"
    "  --decode-tokens N tokens to generate for the decoding rate (default 32)\n"
    "  --llm-layers N    build only N LLM layers and extrapolate (0 = all, default: all that fit)\n"
    "  --no-limits       skip the matmul / bandwidth measurements (fractions become 0)\n"
    "  --json FILE       write the report as JSON\n";

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

double num(const json& j, const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0; }

void print_stage(const std::string& name, const json& s) {
  const double secs = num(s, "s");
  if (s.contains("gflop"))
    std::printf("  %-26s %9.3f %10.1f %9.1f %7.0f%%\n", name.c_str(), secs, num(s, "gflop"), num(s, "gflops"),
                100 * num(s, "fraction_of_peak"));
  else
    std::printf("  %-26s %9.3f\n", name.c_str(), secs);
}

void print_report(const json& r) {
  const double gb = 1e9;
  auto la = [](const json& a) {
    char b[64];
    std::snprintf(b, sizeof b, "%.2f", a.is_array() && !a.empty() ? a[0].get<double>() : 0.0);
    return std::string(b);
  };
  std::printf("\nxsam bench: %s, %s (cpu path %s, %s weights, %s math), %d threads (%d physical cores), libtorch %s; "
              "load average %s -> %s\n",
              r.value("model_dir", "").c_str(), r.value("dtype", "").c_str(), r.value("cpu_path", "").c_str(),
              r.value("weight_dtype", "").c_str(), r.value("math_dtype", "").c_str(), r.value("threads", 0),
              r.value("physical_cores", 0), r.value("libtorch", "").c_str(), la(r["load_average_start"]).c_str(),
              la(r["load_average_end"]).c_str());
  if (r.value("extrapolated", false)) std::printf("NOTE: %s\n", r.value("extrapolation", "").c_str());
  const json& l = r["limits"];
  std::printf("limits: matmul %s %.0f GFLOP/s; bandwidth %.1f GB/s (GEMV over %s weights %.1f; read %.1f)\n",
              l.value("math_dtype", "").c_str(), num(l, "matmul_gflops"), num(r, "bandwidth_gbs"),
              l.value("weight_dtype", "").c_str(), num(l, "gemv_gbs"), num(l, "read_gbs"));
  if (r.contains("memory_plan")) std::printf("memory: %s\n", r.value("memory_plan", "").c_str());
  std::printf("\n  %-26s %9s %10s %9s %8s\n", "first call, stage", "s", "GFLOP", "GFLOP/s", "of peak");
  for (auto it = r["stages"].begin(); it != r["stages"].end(); ++it) print_stage(it.key(), it.value());
  std::printf("\n  %-26s %9s %10s %9s %8s\n", "cached call, stage", "s", "GFLOP", "GFLOP/s", "of peak");
  for (auto it = r["cached_stages"].begin(); it != r["cached_stages"].end(); ++it) print_stage(it.key(), it.value());
  std::printf("\n  first call        %8.2f s   FLOP floor %.2f s (%.0f GFLOP at %.0f GFLOP/s): x%.2f\n", num(r, "first_call_s"),
              num(r, "flop_floor_s"), num(r, "first_call_gflop"), num(r, "matmul_gflops"), num(r, "first_call_over_floor"));
  std::printf("  encoders + prefill at %.0f%% of the matmul rate\n", 100 * num(r, "encoders_and_prefill_fraction_of_peak"));
  std::printf("  cached call       %8.2f s   %.3f of the first\n", num(r, "cached_call_s"), num(r, "cached_over_first"));
  std::printf("  decode            %8.2f tok/s  bound %.2f tok/s (%.2f GB/token at %.1f GB/s): %.0f%%\n", num(r, "decode_tok_s"),
              num(r, "decode_bound_tok_s"), num(r, "decode_bytes_per_token") / gb, num(r, "bandwidth_gbs"),
              100 * num(r, "decode_fraction_of_bandwidth"));
  std::printf("  load              %8.2f s   (warm page cache)\n", num(r, "load_s"));
  std::printf("  peak RSS          %8.2f GB  weights %.2f GB: %+.2f GB (%s)\n", num(r, "peak_rss_bytes") / gb,
              num(r, "weight_bytes") / gb, (num(r, "peak_rss_bytes") - num(r, "weight_bytes")) / gb,
              r.value("peak_rss_scope", "").c_str());
  std::printf("\n  targets (docs/performance.md):\n");
  for (auto it = r["targets"].begin(); it != r["targets"].end(); ++it)
    std::printf("    %-40s %8.3f  (target %s)\n", it.key().c_str(), num(it.value(), "value"),
                it.value().value("target", "").c_str());
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  Args a(argc, argv, 2);
  if (a.flag("--help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  std::string model, preset, dtype = "auto", threads, json_path, image, decode_tokens, llm_layers;
  const bool has_model = a.option("--model", &model);
  const bool has_preset = a.option("--preset", &preset);
  a.option("--dtype", &dtype);
  a.option("--threads", &threads);
  a.option("--json", &json_path);
  a.option("--image", &image);
  a.option("--decode-tokens", &decode_tokens);
  a.option("--llm-layers", &llm_layers);
  const bool no_limits = a.flag("--no-limits");
  if (!a.positionals().empty() || (!has_model && !has_preset) || (has_preset && preset != "full") ||
      (dtype != "auto" && dtype != "mixed" && dtype != "bf16" && dtype != "fp32" && dtype != "both")) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  json opts = {{"progress", true}, {"limits", !no_limits}};
  long long v = 0;
  if (!threads.empty()) {
    if (!parse_int(threads, &v) || v < 0) return std::fprintf(stderr, "xsam bench: --threads must be >= 0\n"), 2;
    opts["threads"] = v;
  }
  if (!decode_tokens.empty()) {
    if (!parse_int(decode_tokens, &v) || v < 2) return std::fprintf(stderr, "xsam bench: --decode-tokens must be >= 2\n"), 2;
    opts["decode_tokens"] = v;
  }
  if (!llm_layers.empty()) {
    if (!parse_int(llm_layers, &v) || v < 0) return std::fprintf(stderr, "xsam bench: --llm-layers must be >= 0\n"), 2;
    opts["llm_layers"] = v;
  }
  if (!image.empty()) opts["image"] = image;

  if (has_preset) {
    if (!has_model) {
      const char* tmp = std::getenv("TMPDIR");
      model = std::string(tmp && *tmp ? tmp : "/tmp") + "/xsam-bench-full";
    }
    if (exists(model + "/config.json")) {
      std::fprintf(stderr, "[bench] using the random full-size model in %s\n", model.c_str());
    } else {
      std::fprintf(stderr, "[bench] writing a random full-size model (bf16) to %s\n", model.c_str());
      if (xsam_status s = xsam_random_model(model.c_str(), "full", XSAM_DTYPE_BF16, 0, nullptr))
        return report("bench", s);
    }
  }

  std::vector<std::string> dtypes = dtype == "both" ? std::vector<std::string>{"bf16", "fp32"} : std::vector<std::string>{dtype};
  json combined;
  for (const auto& d : dtypes) {
    opts["dtype"] = d;
    json r;
    try {
      r = xsam::run_benchmark(model, xsam::bench_options_from_json(opts));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "xsam bench: %s\n", e.what());
      return 1;
    }
    print_report(r);
    // The first dtype's keys at the top level; every dtype's report under "runs".
    if (combined.is_null()) combined = r;
    combined["runs"][d] = r;
  }
  if (!json_path.empty()) {
    std::ofstream f(json_path);
    f << combined.dump(2) << "\n";
    if (!f) {
      std::fprintf(stderr, "xsam bench: cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::printf("\nwrote %s\n", json_path.c_str());
  }
  return 0;
}
