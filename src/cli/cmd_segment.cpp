// xsam segment: a batch of images → per image a JSON result (docs/result-json.md), an overlay PNG and
// optionally per-mask and map PNGs. Resumable: every file is written to a temporary name and renamed,
// the JSON last, so an image whose JSON exists is complete and is skipped on the next run. A bad image
// is recorded in OUT/failures.jsonl and the batch goes on; the exit status says whether any failed.
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/request_options.h"

using namespace xsam_cli;

namespace {

const char* kUsage =
    "usage: xsam segment --model DIR --out DIR [options] IMAGES... (or --list FILE)\n\n"
    "  --model DIR         exported model directory\n"
    "  --out DIR           output directory (created); per image STEM.json, STEM.overlay.png\n"
    "  --list FILE         image paths, one per line (in addition to IMAGES; globs are expanded)\n"
    "  --masks             also write STEM.mask-K.png per mask\n"
    "  --maps              also write STEM.map.png (semantic: class+1, panoptic: segment id; 16-bit)\n"
    "  --no-overlay        skip the overlay PNG\n"
    "  --force             recompute images whose outputs exist\n"
    "  --threads N         intra-op threads (default: physical cores)\n"
    "  --dtype fp32|bf16   runtime dtype (default bf16)\n";

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

bool write_atomic(const std::string& path, const void* data, size_t n, std::string* err) {
  std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    *err = tmp + ": cannot open for writing";
    return false;
  }
  bool ok = std::fwrite(data, 1, n, f) == n;
  ok &= std::fflush(f) == 0;
  ok &= fsync(fileno(f)) == 0;
  ok &= std::fclose(f) == 0;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    *err = path + ": write failed";
    return false;
  }
  return true;
}

std::string stem_of(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') + 1);
  auto dot = base.find_last_of('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

std::vector<std::string> expand(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& it : items) {
    if (it.find_first_of("*?[") == std::string::npos) {
      out.push_back(it);
      continue;
    }
    glob_t g{};
    if (::glob(it.c_str(), 0, nullptr, &g) == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) out.push_back(g.gl_pathv[i]);
    else
      out.push_back(it);  // reported as a failure (missing file) below
    globfree(&g);
  }
  return out;
}

class Progress {
 public:
  explicit Progress(size_t total) : total_(total), tty_(isatty(fileno(stderr))), start_(std::chrono::steady_clock::now()) {}
  void update(size_t done, size_t computed, const std::string& what) {
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double rate = computed > 0 && el > 0 ? computed / el : 0;
    double eta = rate > 0 ? (total_ - done) / rate : 0;
    if (tty_) {
      int width = 30, filled = total_ ? int(width * done / total_) : width;
      std::fprintf(stderr, "\r[%s%s] %zu/%zu  %.2f img/s  ETA %.0fs  %-30.30s", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), done, total_, rate, eta, what.c_str());
      if (done == total_) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "[%zu/%zu] %s (%.2f img/s, ETA %.0fs)\n", done, total_, what.c_str(), rate, eta);
    }
  }

 private:
  size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

int cmd_segment(int argc, char** argv) {
  Args a(argc, argv, 2);
  if (a.flag("--help")) {
    std::printf("%s%s", kUsage, RequestOptions::help());
    return 0;
  }
  std::string model_dir, out_dir, list, threads = "0", dtype = "bf16";
  a.option("--model", &model_dir);
  a.option("--out", &out_dir);
  bool has_list = a.option("--list", &list);
  bool write_masks = a.flag("--masks");
  bool write_maps = a.flag("--maps");
  bool no_overlay = a.flag("--no-overlay");
  bool force = a.flag("--force");
  a.option("--threads", &threads);
  a.option("--dtype", &dtype);
  RequestOptions req;
  std::string err = req.parse(a);
  if (!err.empty()) {
    std::fprintf(stderr, "xsam segment: %s\n", err.c_str());
    return 2;
  }
  std::vector<std::string> images = expand(a.positionals());
  if (has_list) {
    std::ifstream in(list);
    if (!in) {
      std::fprintf(stderr, "xsam segment: --list %s: cannot open\n", list.c_str());
      return 2;
    }
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && line[0] != '#') images.push_back(line);
  }
  long long nthreads = 0;
  if (model_dir.empty() || out_dir.empty() || images.empty() || !parse_int(threads, &nthreads) ||
      (dtype != "fp32" && dtype != "bf16")) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  if (!exists(out_dir) && std::system(("mkdir -p '" + out_dir + "'").c_str()) != 0) {
    std::fprintf(stderr, "xsam segment: --out %s: cannot create\n", out_dir.c_str());
    return 2;
  }

  // Output names: the file stem, made unique within the batch.
  std::vector<std::string> stems;
  std::map<std::string, int> seen;
  for (const auto& img : images) {
    std::string s = stem_of(img);
    int k = seen[s]++;
    stems.push_back(k == 0 ? s : s + "-" + std::to_string(k));
  }
  std::vector<size_t> todo;
  for (size_t i = 0; i < images.size(); ++i)
    if (force || !exists(out_dir + "/" + stems[i] + ".json")) todo.push_back(i);
  size_t skipped = images.size() - todo.size();
  if (skipped) std::fprintf(stderr, "xsam segment: %zu image(s) already done, skipped\n", skipped);
  if (todo.empty()) return 0;

  xsam_model_params mp = xsam_model_default_params();
  mp.dtype = dtype == "fp32" ? XSAM_DTYPE_FP32 : XSAM_DTYPE_BF16;
  mp.n_threads = int(nthreads);
  xsam_model* model = nullptr;
  if (xsam_status s = xsam_model_load(model_dir.c_str(), &mp, &model)) return report("segment", s);
  xsam_context* ctx = nullptr;
  if (xsam_status s = xsam_context_new(model, nullptr, &ctx)) {
    xsam_model_free(model);
    return report("segment", s);
  }

  size_t failures = 0, done = skipped;
  Progress progress(images.size());
  std::string failures_path = out_dir + "/failures.jsonl";
  for (size_t n = 0; n < todo.size(); ++n) {
    size_t i = todo[n];
    const std::string& path = images[i];
    const std::string base = out_dir + "/" + stems[i];
    xsam_image image{};
    xsam_result* result = nullptr;
    std::string error;
    xsam_status s = xsam_image_load(path.c_str(), &image);
    if (s == XSAM_OK) {
      req.bind();
      s = xsam_segment(ctx, &image, req.prompt.empty() ? nullptr : req.prompt.c_str(), req.c_refs.data(),
                       req.c_refs.size(), &req.params, &result);
    }
    if (s != XSAM_OK) error = std::string(xsam_status_name(s)) + ": " + xsam_last_error();
    std::vector<std::string> written;
    auto put = [&](const std::string& file, const void* data, size_t size) {
      std::string e;
      if (!error.empty()) return;
      if (!write_atomic(file, data, size, &e)) error = "io: " + e;
      else written.push_back(file);
    };
    if (error.empty() && !no_overlay) {
      uint8_t* png = nullptr;
      size_t size = 0;
      if (xsam_result_overlay_png(result, &image, &png, &size) == XSAM_OK) put(base + ".overlay.png", png, size);
      else error = std::string("overlay: ") + xsam_last_error();
      xsam_free(png);
    }
    if (error.empty() && write_masks)
      for (size_t k = 0; k < xsam_result_n_masks(result) && error.empty(); ++k) {
        uint8_t* png = nullptr;
        size_t size = 0;
        if (xsam_result_mask_png(result, k, &png, &size) == XSAM_OK) put(base + ".mask-" + std::to_string(k) + ".png", png, size);
        xsam_free(png);
      }
    if (error.empty() && write_maps && (xsam_result_semantic_map(result) || xsam_result_panoptic_map(result))) {
      uint8_t* png = nullptr;
      size_t size = 0;
      if (xsam_result_map_png(result, &png, &size) == XSAM_OK) put(base + ".map.png", png, size);
      xsam_free(png);
    }
    if (error.empty()) {  // the JSON last: its presence marks the image complete
      char* json = nullptr;
      if (xsam_result_json(result, &json) == XSAM_OK) {
        auto j = nlohmann::json::parse(json);
        j["image"] = path;
        std::string text = j.dump(2) + "\n";
        put(base + ".json", text.data(), text.size());
      } else {
        error = std::string("json: ") + xsam_last_error();
      }
      xsam_free(json);
    }
    if (!error.empty()) {
      for (const auto& f : written) std::remove(f.c_str());  // nothing half-done stays behind
      ++failures;
      nlohmann::json line = {{"image", path}, {"error", error}};
      std::ofstream out(failures_path, std::ios::app);
      out << line.dump() << "\n";
      std::fprintf(stderr, "%sxsam segment: %s: %s\n", isatty(fileno(stderr)) ? "\n" : "", path.c_str(), error.c_str());
    }
    xsam_result_free(result);
    xsam_free(const_cast<uint8_t*>(image.pixels));
    progress.update(++done, n + 1, stems[i]);
  }
  xsam_context_free(ctx);
  xsam_model_free(model);
  std::fprintf(stderr, "xsam segment: %zu done, %zu skipped, %zu failed%s\n", todo.size() - failures, skipped, failures,
               failures ? (" (see " + failures_path + ")").c_str() : "");
  return failures ? 1 : 0;
}
