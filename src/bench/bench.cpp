#include "bench/bench.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/cpu_path.h"
#include "core/error.h"
#include "image/decode.h"
#include "io/weights.h"
#include "bench/flops.h"
#include "bench/limits.h"
#include "pipeline/context.h"
#include "pipeline/segment.h"

namespace xsam {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// ---------------------------------------------------------------- this process and this machine

// A "VmHWM:" / "VmRSS:" line of /proc/self/status, in bytes (0 when unavailable).
int64_t proc_status_bytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, n, key) == 0) return std::atoll(line.c_str() + n) * 1024;
  return 0;
}

// Resets VmHWM to the current RSS (Linux ≥ 4.0: "5" > /proc/self/clear_refs), so that the peak is this
// run's even when an earlier run in the same process (another dtype) went higher.
bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

json load_average() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return json::array({a, b, c});
}

std::vector<std::string> weight_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) out.push_back(dir + "/" + n);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Reads every weight file once, so that the timed load is a warm-page-cache load (what the load target is
// about: the model directory already read once since boot).
double warm_page_cache(const std::string& dir) {
  auto t = Clock::now();
  std::vector<char> buf(size_t(16) << 20);
  for (const auto& f : weight_files(dir)) {
    std::FILE* fp = std::fopen(f.c_str(), "rb");
    if (!fp) continue;
    while (std::fread(buf.data(), 1, buf.size(), fp) == buf.size()) {
    }
    std::fclose(fp);
  }
  return since(t);
}

// A deterministic 640×480 test picture: smooth colour ramps, a few flat shapes and mild noise, so the
// resampling work is that of a photograph of the same size.
Image synthetic_image(int width, int height) {
  Image im;
  im.width = width;
  im.height = height;
  im.rgb.resize(size_t(width) * height * 3);
  uint32_t state = 12345;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      state = state * 1664525u + 1013904223u;
      const int noise = static_cast<int>(state >> 28) - 8;
      int r = 255 * x / width, g = 255 * y / height, b = 128 + 100 * ((x / 40 + y / 40) % 2 ? 1 : -1) / 2;
      if ((x - 200) * (x - 200) + (y - 240) * (y - 240) < 90 * 90) r = 230, g = 60, b = 40;  // a disc
      if (x > 380 && x < 560 && y > 120 && y < 360) r = 40, g = 90, b = 200;                 // a box
      uint8_t* p = &im.rgb[(size_t(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(std::clamp(r + noise, 0, 255));
      p[1] = static_cast<uint8_t>(std::clamp(g + noise, 0, 255));
      p[2] = static_cast<uint8_t>(std::clamp(b + noise, 0, 255));
    }
  return im;
}

// ---------------------------------------------------------------- what a call computed

// Rows the LLM ran for a prompt: the prefix (text before <image> + the image rows) and the rest.
struct PromptRows {
  int64_t prefix = 0, rest = 0;
};

PromptRows prompt_rows(const ModelConfig& c, const std::vector<int64_t>& ids) {
  PromptRows r;
  bool seen_image = false;
  for (int64_t id : ids) {
    if (id == c.tokens.image_sentinel) {
      r.prefix += c.image_tokens();
      seen_image = true;
    } else {
      (seen_image ? r.rest : r.prefix) += id == c.tokens.region_sentinel ? c.sampler.tokens_per_region() : 1;
    }
  }
  return r;
}

json stage(double seconds, double flops, double peak_gflops) {
  json j = {{"s", seconds}};
  if (flops > 0) {
    j["gflop"] = flops / 1e9;
    j["gflops"] = seconds > 0 ? flops / seconds / 1e9 : 0.0;
    j["fraction_of_peak"] = seconds > 0 && peak_gflops > 0 ? flops / seconds / 1e9 / peak_gflops : 0.0;
  }
  return j;
}

double timing(const SegmentResult& r, const char* key) {
  auto it = r.timings.find(key);
  return it == r.timings.end() ? 0.0 : it->second;
}

const char* dtype_name(torch::Dtype d) { return d == torch::kBFloat16 ? "bf16" : "fp32"; }

json limits_json(const bench::MachineLimits& l) {
  json gemms = json::array();
  for (const auto& g : l.gemms) gemms.push_back({{"shape", g.name}, {"gflops", g.gflops}});
  return {{"math_dtype", dtype_name(l.math_dtype)}, {"weight_dtype", dtype_name(l.weight_dtype)},
          {"matmul_gflops", l.matmul_gflops},       {"gemms", gemms},
          {"gemv_gbs", l.gemv_gbs},                 {"read_gbs", l.read_gbs},
          {"seconds", l.seconds}};
}

// Parameters the checkpoint holds per part, from the safetensors headers (nothing is loaded).
struct CheckpointSize {
  double llm_layer_params = 0;  // one decoder layer
  double other_params = 0;      // everything but the decoder layers
  double file_bytes = 0;
};

CheckpointSize checkpoint_size(const std::string& dir, int llm_layers) {
  CheckpointSize s;
  WeightStore store = WeightStore::open_dir(dir);
  double layers_total = 0;
  for (const auto& name : store.names()) {
    double n = 1;
    for (int64_t d : store.info(name).shape) n *= double(d);
    if (name.rfind("llm.model.layers.", 0) == 0) layers_total += n;
    else s.other_params += n;
  }
  s.llm_layer_params = llm_layers > 0 ? layers_total / llm_layers : 0;
  for (const auto& f : store.files()) {
    struct stat st {};
    if (::stat(f->path().c_str(), &st) == 0) s.file_bytes += double(st.st_size);
  }
  return s;
}

// LLM layers to build with `elem` bytes per weight so that the model fits in what the machine has
// available now with 3 GiB to spare for activations and the KV cache (all of them when they fit).
int layers_that_fit(const CheckpointSize& cs, int total_layers, double elem, double available) {
  const double spare = 3.0 * (1 << 30);
  const double fixed = cs.other_params * elem + spare;
  const double per_layer = cs.llm_layer_params * elem;
  if (fixed + total_layers * per_layer <= 0.8 * available) return total_layers;
  const int k = static_cast<int>((0.8 * available - fixed) / std::max(1.0, per_layer));
  return std::clamp(k, 1, total_layers);
}

// Best-of-n seconds of lm_head on one row (the part of a decoding step that does not scale with layers).
double lm_head_seconds(const Phi3ModelImpl& llm, int repeats) {
  torch::NoGradGuard no_grad;
  auto row = torch::randn({1, llm.config().hidden_size}).to(llm.dtype());
  llm.logits(row);
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    auto t = Clock::now();
    llm.logits(row);
    best = std::min(best, since(t));
  }
  return best;
}

}  // namespace

BenchOptions bench_options_from_json(const json& j) {
  BenchOptions o;
  if (j.is_null()) return o;
  if (!j.is_object()) fail(Status::InvalidArgument, "benchmark options: must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    auto need = [&](bool ok, const char* what) {
      if (!ok) fail(Status::InvalidArgument, "benchmark options: '" + k + "' must be " + what);
    };
    if (k == "dtype") {
      need(v.is_string() && (v == "auto" || v == "bf16" || v == "fp32" || v == "mixed"),
           "\"auto\", \"bf16\", \"fp32\" or \"mixed\"");
      o.dtype = v.get<std::string>();
    } else if (k == "threads") {
      need(v.is_number_integer(), "an integer");
      o.threads = v.get<int>();
    } else if (k == "image") {
      need(v.is_string(), "a path");
      o.image_path = v.get<std::string>();
    } else if (k == "decode_tokens") {
      need(v.is_number_integer() && v.get<int>() >= 2, "an integer >= 2");
      o.decode_tokens = v.get<int>();
    } else if (k == "llm_layers") {
      need(v.is_number_integer() && v.get<int>() >= -1, "an integer >= -1");
      o.llm_layers = v.get<int>();
    } else if (k == "limits") {
      need(v.is_boolean(), "true or false");
      o.measure_limits = v.get<bool>();
    } else if (k == "progress") {
      need(v.is_boolean(), "true or false");
      if (v.get<bool>())
        o.log = [](const std::string& line) {
          std::fprintf(stderr, "[bench] %s\n", line.c_str());
          std::fflush(stderr);
        };
    } else if (k == "warm_page_cache") {
      need(v.is_boolean(), "true or false");
      o.warm_page_cache = v.get<bool>();
    } else {
      fail(Status::InvalidArgument, "benchmark options: unknown key '" + k +
                                        "' (dtype, threads, image, decode_tokens, llm_layers, limits, warm_page_cache, progress)");
    }
  }
  return o;
}

namespace {

// What one run is about: the options, the runtime they resolve to on this CPU path, and the model's sizes.
struct BenchPlan {
  BenchOptions options;
  int threads = 0;
  LoadOptions load;
  CpuPath path = CpuPath::Generic;
  Runtime runtime;
  torch::Dtype math = torch::kFloat32, weights = torch::kFloat32;
  int64_t weight_elem = 4, kv_elem = 4;  // bytes per weight element and per cached key/value element
  ModelConfig cfg;                       // as the file has it (all LLM layers): every FLOP and byte count
  CheckpointSize size;
  int layers = 0;                        // LLM layers built
  bool partial = false;
  double llm_scale = 1;                  // all layers / layers built
};

// The three calls the report is about, on one image.
struct BenchCalls {
  SegmentResult first, cached, chat;
  SegmentDebug first_debug;
  double first_s = 0, cached_s = 0;
  double lm_head_s = 0;  // one row's lm_head, for extrapolating a partial model's decoding
};

BenchPlan plan_run(const std::string& dir, const BenchOptions& o) {
  BenchPlan p;
  p.options = o;
  p.threads = o.threads > 0 ? o.threads : default_thread_count();
  torch::set_num_threads(p.threads);
  // The runtime the load will take, resolved now so that the limits are those of its kernel path.
  p.load.threads = p.threads;
  p.load.dtype_auto = o.dtype == "auto";
  p.load.dtype = o.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  p.load.bf16_weights = o.dtype == "mixed";
  p.path = set_cpu_path(p.load.cpu, "XSAM_CPU");
  p.runtime = resolve_runtime(p.load);
  p.math = p.runtime.math;
  p.weights = p.runtime.bf16_weights ? torch::kBFloat16 : p.math;
  p.weight_elem = int64_t(c10::elementSize(p.weights));
  p.kv_elem = int64_t(c10::elementSize(p.math));
  p.cfg = load_model_config(dir + "/config.json");
  p.size = checkpoint_size(dir, p.cfg.llm.num_layers);
  p.layers = o.llm_layers > 0 ? std::min(o.llm_layers, p.cfg.llm.num_layers) : p.cfg.llm.num_layers;
  if (o.llm_layers < 0)
    p.layers = layers_that_fit(p.size, p.cfg.llm.num_layers, double(p.weight_elem), double(available_memory_bytes()));
  p.partial = p.layers < p.cfg.llm.num_layers;
  p.llm_scale = double(p.cfg.llm.num_layers) / p.layers;
  p.load.llm_layers = p.partial ? p.layers : 0;
  return p;
}

void describe_run(const std::string& dir, const BenchPlan& p, json& out) {
  out["model_dir"] = dir;
  out["dtype"] = p.runtime.name();
  out["cpu_path"] = cpu_path_name(p.path);
  out["weight_dtype"] = dtype_name(p.weights);
  out["math_dtype"] = dtype_name(p.math);
  out["threads"] = p.threads;
  out["physical_cores"] = default_thread_count();
  out["logical_cpus"] = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  out["load_average_start"] = load_average();
  out["mem_available_start_bytes"] = available_memory_bytes();
  out["libtorch"] = TORCH_VERSION;
}

bench::MachineLimits measure_path_limits(const BenchPlan& p, const std::function<void(const std::string&)>& log) {
  const int64_t typical_rows = p.cfg.image_tokens() + 40;
  log(std::string("measuring the limits of the ") + cpu_path_name(p.path) + " path: " + dtype_name(p.math) +
      " GEMMs at the model's shapes, the decoding GEMV over " + dtype_name(p.weights) + " weights, a plain read");
  return bench::measure_limits(p.cfg, typical_rows, p.math, p.weights);
}

BenchCalls run_calls(Context& ctx, const Image& image, const BenchPlan& p,
                     const std::function<void(const std::string&)>& log) {
  BenchCalls c;
  // First call: referring, teacher-forced (upstream's own peer measurement).
  SegmentRequest first;
  first.task = Task::Referring;
  first.prompt = "the red disc on the left";
  log("first call (referring, new image)");
  auto t1 = Clock::now();
  c.first = segment(ctx, image, first, &c.first_debug);
  c.first_s = since(t1);
  // A second prompt on the same image: the per-image cache and the prefix KV cache.
  SegmentRequest second = first;
  second.prompt = "the blue box on the right";
  log("cached call (referring, same image)");
  auto t2 = Clock::now();
  c.cached = segment(ctx, image, second);
  c.cached_s = since(t2);
  // Decoding: a generating chat request on the same image.
  SegmentRequest chat;
  chat.task = Task::Chat;
  chat.mode = Mode::Generate;
  chat.prompt = "Describe this image in detail.";
  chat.max_new_tokens = p.options.decode_tokens;
  log("decoding " + std::to_string(p.options.decode_tokens) + " tokens (chat, same image)");
  c.chat = segment(ctx, image, chat);
  return c;
}

// Every stage of the first and the cached call against its FLOP count and the matmul rate `peak`.
void report_stages(const BenchPlan& p, const BenchCalls& c, double peak, json& out) {
  const ModelConfig& cfg = p.cfg;
  const PromptRows p1 = prompt_rows(cfg, c.first.prompt_ids), p2 = prompt_rows(cfg, c.cached.prompt_ids),
                   p3 = prompt_rows(cfg, c.chat.prompt_ids);
  const auto& dbg = c.first_debug;
  const int64_t dec_rows = dbg.cond.defined() ? dbg.cond.size(0) : 1;
  const int64_t dec_classes = dbg.cond.defined() ? dbg.cond.size(1) : 2;
  const double f_prefill1 = bench::llm_prefill_flops(cfg.llm, 0, p1.prefix + p1.rest);
  const double f_prefill2 = bench::llm_prefill_flops(cfg.llm, p2.prefix, p2.rest);
  const double f_decoder1 = bench::llm_projector_flops(cfg, p1.rest) + bench::mask_decoder_flops(cfg, dec_rows, dec_classes);
  const double f_decoder2 = bench::llm_projector_flops(cfg, p2.rest) + bench::mask_decoder_flops(cfg, dec_rows, dec_classes);
  const double f_vision = bench::vision_flops(cfg);
  // LLM times of a partial model, scaled to all layers (lm_head does not scale).
  auto llm_time = [&](double s) { return p.partial ? s * p.llm_scale : s; };
  const double prefill1 = llm_time(timing(c.first, "prefill")), prefill2 = llm_time(timing(c.cached, "prefill"));
  const double first_total = c.first_s + (prefill1 - timing(c.first, "prefill"));
  const double cached_total = c.cached_s + (prefill2 - timing(c.cached, "prefill"));

  json stages = json::object();
  stages["preprocess"] = stage(timing(c.first, "preprocess"), 0, peak);
  const std::pair<const char*, double> parts[] = {
      {"vision.siglip", bench::siglip_flops(cfg)},          {"vision.visual_projector", bench::visual_projector_flops(cfg)},
      {"vision.sam", bench::sam_flops(cfg)},                {"vision.seg_projector", bench::seg_projector_flops(cfg)},
      {"vision.connector", bench::connector_flops(cfg)},    {"vision.pixel_decoder", bench::pixel_decoder_flops(cfg)}};
  for (const auto& [name, f] : parts) stages[name] = stage(timing(c.first, name), f, peak);
  stages["vision"] = stage(timing(c.first, "vision"), f_vision, peak);
  stages["prefill"] = stage(prefill1, f_prefill1, peak);
  stages["decoder"] = stage(timing(c.first, "decoder"), f_decoder1, peak);
  stages["postprocess"] = stage(timing(c.first, "postprocess"), 0, peak);
  out["stages"] = stages;

  json cached = json::object();
  cached["preprocess"] = stage(timing(c.cached, "preprocess"), 0, peak);
  cached["prefill"] = stage(prefill2, f_prefill2, peak);
  cached["decoder"] = stage(timing(c.cached, "decoder"), f_decoder2, peak);
  cached["postprocess"] = stage(timing(c.cached, "postprocess"), 0, peak);
  out["cached_stages"] = cached;
  out["cached_image_hit"] = c.cached.image_cache_hit;

  const double first_flops = f_vision + f_prefill1 + f_decoder1;
  const double floor_s = peak > 0 ? first_flops / (peak * 1e9) : 0;
  out["first_call_s"] = first_total;
  out["first_call_gflop"] = first_flops / 1e9;
  out["flop_floor_s"] = floor_s;
  out["first_call_over_floor"] = floor_s > 0 ? first_total / floor_s : 0;
  out["cached_call_s"] = cached_total;
  out["cached_over_first"] = first_total > 0 ? cached_total / first_total : 0;
  const double enc_prefill_s = timing(c.first, "vision") + prefill1;
  out["encoders_and_prefill_fraction_of_peak"] =
      enc_prefill_s > 0 && peak > 0 ? (f_vision + f_prefill1) / enc_prefill_s / 1e9 / peak : 0;
  out["prompt_rows"] = {{"first", {{"prefix", p1.prefix}, {"rest", p1.rest}}},
                        {"cached", {{"prefix", p2.prefix}, {"rest", p2.rest}}},
                        {"chat", {{"prefix", p3.prefix}, {"rest", p3.rest}}}};
  out["decoder_rows"] = dec_rows;
  out["chat_prefill_s"] = llm_time(timing(c.chat, "prefill"));
}

// Decoding: tokens/s against the bytes a step must read at the memory bandwidth.
void report_decoding(const BenchPlan& p, const BenchCalls& c, double bandwidth, json& out) {
  const PromptRows p3 = prompt_rows(p.cfg, c.chat.prompt_ids);
  const int64_t generated = static_cast<int64_t>(c.chat.generated_ids.size());
  const int64_t steps = std::max<int64_t>(0, generated - 1);  // the first token comes from the prefill's logits
  double per_token = steps > 0 ? timing(c.chat, "decode") / steps : 0;
  if (p.partial && per_token > 0) per_token = c.lm_head_s + std::max(0.0, per_token - c.lm_head_s) * p.llm_scale;
  double bytes_per_token = 0, flops_per_token = 0;
  for (int64_t j = 0; j < steps; ++j) {
    const int64_t pos = p3.prefix + p3.rest + j;
    bytes_per_token += bench::llm_decode_bytes(p.cfg.llm, pos, p.weight_elem, p.kv_elem) / double(steps);
    flops_per_token += bench::llm_decode_flops(p.cfg.llm, pos) / double(steps);
  }
  const double tok_s = per_token > 0 ? 1.0 / per_token : 0;
  const double bound_tok_s = bytes_per_token > 0 ? bandwidth * 1e9 / bytes_per_token : 0;
  out["decode_tokens"] = generated;
  out["decode_steps"] = steps;
  out["decode_s"] = per_token * steps;
  out["decode_tok_s"] = tok_s;
  out["decode_bytes_per_token"] = bytes_per_token;
  out["decode_gflop_per_token"] = flops_per_token / 1e9;
  out["decode_bound_tok_s"] = bound_tok_s;
  out["decode_fraction_of_bandwidth"] = bound_tok_s > 0 ? tok_s / bound_tok_s : 0;
}

void report_memory_and_load(const BenchPlan& p, const LoadedModel& model, Context& ctx, double load_s,
                            int64_t peak_rss, bool peak_reset, int64_t rss_start, json& out) {
  out["load_s"] = load_s;
  out["peak_rss_bytes"] = peak_rss;
  out["peak_rss_scope"] = peak_reset ? "this run" : "this process";
  out["rss_start_bytes"] = rss_start;
  out["weight_bytes"] = model.weight_bytes;
  out["weight_bytes_runtime"] =
      static_cast<int64_t>((p.size.other_params + p.size.llm_layer_params * p.cfg.llm.num_layers) * p.weight_elem);
  out["kv_cache_bytes"] = static_cast<int64_t>(ctx.kv_cache().bytes());
  out["memory_plan"] = model.memory.describe();
  out["llm_layers_run"] = p.layers;
  out["llm_layers_total"] = p.cfg.llm.num_layers;
  out["extrapolated"] = p.partial;
  if (p.partial)
    out["extrapolation"] = "LLM built with " + std::to_string(p.layers) + " of " + std::to_string(p.cfg.llm.num_layers) +
                           " decoder layers (the " + p.runtime.name() +
                           " weights do not fit in available memory): prefill times ×" + std::to_string(p.llm_scale) +
                           ", decode = lm_head + layers ×" + std::to_string(p.llm_scale) +
                           "; peak RSS is that of the partial model";
}

// The targets (docs/performance.md) as ratios of this run; looser where the math is fp32 (no native bf16
// dot products: the CPU classes without AVX-512-BF16).
void report_targets(const BenchPlan& p, const LoadedModel& model, json& out) {
  const double rss_over = double(out["peak_rss_bytes"].get<int64_t>()) - double(model.weight_bytes);
  const bool native_bf16 = p.math == torch::kBFloat16;
  out["targets"] = {
      {"encoders_and_prefill_fraction_of_peak", {{"value", out["encoders_and_prefill_fraction_of_peak"]}, {"target", ">= 0.70"}}},
      {"first_call_over_floor", {{"value", out["first_call_over_floor"]}, {"target", native_bf16 ? "<= 1.25" : "<= 1.30"}}},
      {"cached_over_first", {{"value", out["cached_over_first"]}, {"target", "<= 0.10"}}},
      {"decode_fraction_of_bandwidth", {{"value", out["decode_fraction_of_bandwidth"]}, {"target", native_bf16 ? ">= 0.90" : ">= 0.80"}}},
      {"peak_rss_minus_weight_bytes_gb", {{"value", rss_over / 1e9}, {"target", "<= 2.0"}}},
      {"load_s", {{"value", out["load_s"]}, {"target", "<= 3.0"}}}};
}

}  // namespace

json run_benchmark(const std::string& dir, const BenchOptions& o) {
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  torch::NoGradGuard no_grad;
  const bool peak_reset = reset_peak_rss();
  const int64_t rss_start = proc_status_bytes("VmRSS:");
  BenchPlan plan = plan_run(dir, o);
  json out;
  describe_run(dir, plan, out);

  bench::MachineLimits lim;
  if (o.measure_limits) lim = measure_path_limits(plan, log);
  if (o.warm_page_cache) {
    log("reading the weight files once (warm page cache)");
    out["page_cache_warm_s"] = warm_page_cache(dir);
  }
  log(std::string("loading ") + dir + " (" + plan.runtime.name() + ": " + dtype_name(plan.weights) + " weights, " +
      dtype_name(plan.math) + " math" +
      (plan.partial ? ", " + std::to_string(plan.layers) + " of " + std::to_string(plan.cfg.llm.num_layers) + " LLM layers" : "") + ")");
  auto t_load = Clock::now();
  std::shared_ptr<LoadedModel> model = load_model(dir, plan.load);
  const double load_s = since(t_load);
  plan.cfg.llm.sliding_window_keys = model->config.llm.sliding_window_keys;  // as loaded
  ContextOptions co;
  co.image_cache_entries = 1;
  Context ctx(model, co);

  Image image = o.image_path.empty() ? synthetic_image(640, 480) : decode_image_file(o.image_path);
  out["image"] = {{"path", o.image_path.empty() ? "synthetic" : o.image_path}, {"width", image.width}, {"height", image.height}};
  BenchCalls calls = run_calls(ctx, image, plan, log);
  if (plan.partial) calls.lm_head_s = lm_head_seconds(model->net->llm(), 5);
  // The pipeline's peak, read before the second limit measurement allocates its own buffers.
  const int64_t peak_rss = proc_status_bytes("VmHWM:");
  if (o.measure_limits) {
    // The best of both measurements, so that a busy moment does not flatter the fractions.
    log("measuring the limits again");
    lim = bench::best_of(lim, bench::measure_limits(plan.cfg, plan.cfg.image_tokens() + 40, plan.math, plan.weights));
  }
  report_stages(plan, calls, lim.matmul_gflops, out);
  report_decoding(plan, calls, lim.bandwidth_gbs(), out);
  out["limits"] = limits_json(lim);
  out["matmul_gflops"] = lim.matmul_gflops;
  out["bandwidth_gbs"] = lim.bandwidth_gbs();
  report_memory_and_load(plan, *model, ctx, load_s, peak_rss, peak_reset, rss_start, out);
  out["load_average_end"] = load_average();
  report_targets(plan, *model, out);
  out["results"] = {{"first_masks", calls.first.masks.size()}, {"cached_masks", calls.cached.masks.size()},
                    {"chat_text", calls.chat.text}};
  return out;
}

}  // namespace xsam
