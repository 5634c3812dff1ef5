// xsam segment: a batch of images → per image a JSON result (docs/result-json.md), an overlay PNG and
// optionally per-mask and map PNGs. Resumable: every file is written to a temporary name and renamed,
// the JSON last; OUT/manifest.jsonl records which input (path, size, mtime, content hash) and which
// request (model, task, prompt, options) each output came from, and a rerun skips an image only when
// all of these match. Output names are unique per input. A bad image is recorded in
// OUT/failures.jsonl and the batch goes on; the exit status says whether any failed.
#include <glob.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/batch_outputs.h"
#include "cli/cli_common.h"
#include "cli/request_options.h"

using namespace xsam_cli;

namespace {

const char* kUsage =
    "usage: xsam segment --model DIR --out DIR [options] IMAGES... (or --list FILE)\n\n"
    "  --model DIR         exported model directory\n"
    "  --out DIR           output directory (created); per image NAME.json, NAME.overlay.png, where NAME\n"
    "                      is the file's stem, or STEM-HASH when another input already has that stem\n"
    "  --list FILE         image paths, one per line (in addition to IMAGES; taken as they are)\n"
    "  --glob PATTERN      image paths matching PATTERN (repeatable; IMAGES are never expanded again)\n"
    "  --masks             also write STEM.mask-K.png per mask\n"
    "  --maps              also write STEM.map.png (semantic: class+1, panoptic: segment id; 16-bit)\n"
    "  --no-overlay        skip the overlay PNG\n"
    "  --force             recompute images whose outputs exist, even when they came from another\n"
    "                      input or request (without it such a run is refused)\n"
    "  --threads N         intra-op threads (default: physical cores)\n"
    "  --dtype D           runtime dtype: auto (default: bf16 on avx512bf16, else mixed), mixed (bf16\n"
    "                      weights, fp32 math), fp32 (weights converted: 2x the memory) or bf16\n";

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

// Writes PATH.tmp.PID and renames it: a reader (or a rerun after a kill) sees the whole file or none,
// and two runs writing into one folder never rename each other's half-written temporary.
bool write_atomic(const std::string& path, const void* data, size_t n, std::string* err) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) {
    *err = tmp + ": cannot open for writing: " + std::strerror(errno);
    return false;
  }
  bool ok = std::fwrite(data, 1, n, f) == n;
  ok = ok && std::fflush(f) == 0;
  ok = ok && fsync(fileno(f)) == 0;
  const int saved = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    *err = path + ": write failed: " + std::strerror(ok ? errno : saved);
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

// --glob PATTERN: the only place where xsam expands a pattern (the shell has already expanded the
// positional arguments; a file named 'b[1].png' is that file).
std::string expand_glob(const std::string& pattern, std::vector<std::string>* out) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out->push_back(g.gl_pathv[i]);
  globfree(&g);
  if (rc == GLOB_NOMATCH) return "--glob " + pattern + ": matches no file";
  if (rc != 0) return "--glob " + pattern + ": cannot be expanded";
  return "";
}

// --list FILE: one path per line; '#' lines and empty lines are skipped, a CR before the LF (a file
// written on Windows) is not part of the path, and a NUL byte is refused (no path can hold one).
std::string read_list(const std::string& list, std::vector<std::string>* out) {
  std::ifstream in(list, std::ios::binary);
  if (!in) return "--list " + list + ": cannot open";
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find('\0') != std::string::npos)
      return "--list " + list + " line " + std::to_string(n) + ": contains a NUL byte";
    if (!line.empty() && line[0] != '#') out->push_back(line);
  }
  return "";
}

// Creates --out and proves it writable before any image is computed: a folder that is a file,
// read-only or full fails here, with the reason, not after the whole batch.
std::string prepare_out_dir(const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (!std::filesystem::is_directory(out_dir))
    return "--out " + out_dir + ": cannot create the directory" + (ec ? ": " + ec.message() : ": a file is in the way");
  const std::string probe = out_dir + "/.xsam-write-probe." + std::to_string(::getpid());
  std::string err;
  const char byte = 0;
  if (!write_atomic(probe, &byte, 1, &err)) return "--out " + out_dir + ": not writable: " + err;
  std::remove(probe.c_str());
  return "";
}

// Removes NAME.tmp.PID files that a killed run left behind (its PID is gone); a live run's are kept.
void remove_stale_temporaries(const std::string& out_dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(out_dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos) continue;
    long long pid = 0;
    if (!parse_int(name.substr(at + 5), &pid) || pid <= 0 || pid > INT32_MAX) continue;
    if (::kill(pid_t(pid), 0) != 0 && errno == ESRCH) std::filesystem::remove(e.path(), ec);
  }
}

// What the model directory holds, cheaply: every regular file's name, size and mtime, and config.json's
// content. A model regenerated or re-exported in place is another model.
std::string model_fingerprint(const std::string& dir) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    lines.push_back(e.path().filename().string() + " " + std::to_string(st.st_size) + " " +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  }
  std::sort(lines.begin(), lines.end());
  std::ifstream config(dir + "/config.json", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(config)), {});
  for (const auto& l : lines) text += "\n" + l;
  return sha256_hex(text);
}

// Everything that decides an image's outputs besides the image: the manifest compares it, so that a
// reused --out is never taken for done when its results came from another model, task, prompt or
// option.
nlohmann::json request_description(const std::string& model_dir, const std::string& dtype, const RequestOptions& req,
                                   bool masks, bool maps, bool overlay) {
  const xsam_segment_params& p = req.params;
  nlohmann::json refs = nlohmann::json::array();
  for (const auto& r : req.refs)
    refs.push_back({{"kind", int(r.kind)},
                    {"xy", r.xy},
                    {"mask", sha256_hex(std::string(r.mask.begin(), r.mask.end()))},
                    {"mask_size", {r.mask_width, r.mask_height}}});
  nlohmann::json j = {{"model", absolute_path(model_dir)},
                      {"model_files", model_fingerprint(model_dir)},
                      {"dtype", dtype},
                      {"task", int(p.task)},
                      {"mode", int(p.mode)},
                      {"prompt", utf8_lossy(req.prompt)},
                      {"prompt_hex", hex_bytes(req.prompt)},
                      {"classes", nlohmann::json::array()},
                      {"things", p.n_thing_classes},
                      {"refs", refs},
                      {"add_bos", p.add_bos},
                      {"max_new_tokens", p.max_new_tokens},
                      {"temperature", p.temperature},
                      {"top_k", p.top_k},
                      {"top_p", p.top_p},
                      {"seed", p.seed},
                      {"score_threshold", p.score_threshold},
                      {"outputs", {{"masks", masks}, {"maps", maps}, {"overlay", overlay}}}};
  for (const auto& c : req.classes) j["classes"].push_back(hex_bytes(c));
  return j;
}

// One input of the batch, and what this run does with it.
struct Planned {
  InputFile input;
  std::string output;  // the name its outputs share
  enum { Compute, Skip, Conflict, Unreadable } action = Compute;
  std::string reason;  // Conflict / Unreadable
};

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

// Reads the manifest and decides, input by input, the output name and whether to compute, skip (the
// outputs exist and the manifest says they came from this very input, content and request) or refuse
// (outputs exist under that name from something else: without --force nothing is overwritten).
std::vector<Planned> plan_batch(const std::vector<std::string>& images, const std::string& out_dir,
                                const Manifest& manifest, const std::string& request_id, bool force) {
  std::vector<Planned> plan;
  std::set<std::string> seen_inputs;
  std::set<std::string> taken;  // names given in this run
  for (const auto& path : images) {
    Planned p;
    if (std::string err = fingerprint_input(path, &p.input); !err.empty()) {
      p.action = Planned::Unreadable;
      p.reason = err;
      plan.push_back(p);
      continue;
    }
    const std::string input_id = sha256_hex(p.input.absolute);
    if (!seen_inputs.insert(input_id).second) {
      std::fprintf(stderr, "xsam segment: %s: listed more than once, computed once\n", path.c_str());
      continue;
    }
    // The name the manifest gave this input before, else a new one that no other input holds.
    const ManifestEntry* old = manifest.by_input(input_id);
    if (old && !taken.count(old->output)) {
      p.output = old->output;
    } else {
      std::set<std::string> unavailable = taken;
      const std::string plain = output_name(p.input, {});
      const ManifestEntry* holder = manifest.by_output(plain);
      if (holder && holder->input_id != input_id) unavailable.insert(plain);
      p.output = output_name(p.input, unavailable);
    }
    taken.insert(p.output);
    const ManifestEntry* e = manifest.by_output(p.output);
    const bool outputs_exist = exists(out_dir + "/" + p.output + ".json");
    const bool same = e && e->input_id == input_id && e->size == p.input.size && e->mtime_ns == p.input.mtime_ns &&
                      e->sha256 == p.input.sha256 && e->request_id == request_id;
    if (force || !outputs_exist) p.action = Planned::Compute;
    else if (same) p.action = Planned::Skip;
    else {
      p.action = Planned::Conflict;
      p.reason = !e ? "no manifest entry says where they came from"
                 : e->input_id != input_id ? "they came from another input"
                 : e->request_id != request_id ? "they came from another model, task, prompt or option"
                 : "the input file changed since";
    }
    plan.push_back(p);
  }
  return plan;
}

// failures.jsonl holds the failures of the latest run: an image that failed before and now succeeds
// leaves no stale line behind (the file is removed when the log is made).
class FailureLog {
 public:
  explicit FailureLog(std::string path) : path_(std::move(path)) { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  size_t count() const { return count_; }

  void record(const std::string& image, const std::string& output, const std::string& error) {
    ++count_;
    nlohmann::json line = {{"error", utf8_lossy(error)}};
    put_path(line, "image", image);
    if (!output.empty()) line["output"] = output;
    const std::string text = line.dump() + "\n";
    FILE* f = std::fopen(path_.c_str(), "ab");
    const bool ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size() && std::fflush(f) == 0;
    if (f) std::fclose(f);
    std::fprintf(stderr, "%sxsam segment: %s: %s\n", isatty(fileno(stderr)) ? "\n" : "", image.c_str(), error.c_str());
    if (!ok) std::fprintf(stderr, "xsam segment: %s: cannot record the failure: %s\n", path_.c_str(), std::strerror(errno));
  }

 private:
  std::string path_;
  size_t count_ = 0;
};

// Which files each image gets besides its JSON.
struct OutputFiles {
  bool overlay = true;
  bool masks = false;
  bool maps = false;
};

struct ImageOutcome {
  std::string error;      // empty: every file written
  bool io_error = false;  // the output directory cannot be written: the next image would fail the same way
};

// One image: segment it, then write its files (overlay, masks, map), its manifest line and its JSON, last.
// On failure nothing of it stays behind.
ImageOutcome segment_one_image(xsam_context* ctx, RequestOptions* req, const Planned& item, const std::string& out_dir,
                               const OutputFiles& outputs, Manifest* manifest, const std::string& request_id) {
  const std::string& path = item.input.path;
  const std::string base = out_dir + "/" + item.output;
  xsam_image image{};
  xsam_result* result = nullptr;
  std::string error;
  bool io_error = false;
  xsam_status s = xsam_image_load(path.c_str(), &image);
  if (s == XSAM_OK) {
    req->bind();
    s = xsam_segment(ctx, &image, req->prompt.empty() ? nullptr : req->prompt.c_str(), req->c_refs.data(),
                     req->c_refs.size(), &req->params, &result);
  }
  if (s != XSAM_OK) error = std::string(xsam_status_name(s)) + ": " + xsam_last_error();
  std::vector<std::string> written;
  auto put = [&](const std::string& file, const void* data, size_t size) {
    std::string e;
    if (!error.empty()) return;
    if (!write_atomic(file, data, size, &e)) error = "io: " + e, io_error = true;
    else written.push_back(file);
  };
  if (error.empty() && outputs.overlay) {
    uint8_t* png = nullptr;
    size_t size = 0;
    if (xsam_result_overlay_png(result, &image, &png, &size) == XSAM_OK) put(base + ".overlay.png", png, size);
    else error = std::string("overlay: ") + xsam_last_error();
    xsam_free(png);
  }
  if (error.empty() && outputs.masks)
    for (size_t k = 0; k < xsam_result_n_masks(result) && error.empty(); ++k) {
      uint8_t* png = nullptr;
      size_t size = 0;
      if (xsam_result_mask_png(result, k, &png, &size) == XSAM_OK) put(base + ".mask-" + std::to_string(k) + ".png", png, size);
      xsam_free(png);
    }
  if (error.empty() && outputs.maps && (xsam_result_semantic_map(result) || xsam_result_panoptic_map(result))) {
    uint8_t* png = nullptr;
    size_t size = 0;
    if (xsam_result_map_png(result, &png, &size) == XSAM_OK) put(base + ".map.png", png, size);
    xsam_free(png);
  }
  if (error.empty()) {
    // The manifest line before the JSON: a run killed between the two leaves an entry without its
    // JSON (recomputed next time), never a JSON that no entry vouches for.
    ManifestEntry entry{item.output,        sha256_hex(item.input.absolute), item.input.size, item.input.mtime_ns,
                        item.input.sha256, request_id};
    nlohmann::json display;
    put_path(display, "input", path);
    if (std::string e = manifest->append(entry, display); !e.empty()) error = "io: " + e, io_error = true;
  }
  if (error.empty()) {  // the JSON last: its presence marks the image complete
    char* json = nullptr;
    if (xsam_result_json(result, &json) == XSAM_OK) {
      auto j = nlohmann::json::parse(json);
      put_path(j, "image", path);
      std::string text = j.dump(2) + "\n";
      put(base + ".json", text.data(), text.size());
    } else {
      error = std::string("json: ") + xsam_last_error();
    }
    xsam_free(json);
  }
  if (!error.empty())
    for (const auto& f : written) std::remove(f.c_str());  // nothing half-done stays behind
  xsam_result_free(result);
  xsam_free(const_cast<uint8_t*>(image.pixels));
  return {error, io_error};
}

int cmd_segment(int argc, char** argv) {
  Args a(argc, argv, 2);
  if (a.flag("--help")) {
    std::printf("%s%s", kUsage, RequestOptions::help());
    return 0;
  }
  std::string model_dir, out_dir, list, threads = "0", dtype = "auto";
  a.option("--model", &model_dir);
  a.option("--out", &out_dir);
  bool has_list = a.option("--list", &list);
  std::vector<std::string> globs = a.all("--glob");
  OutputFiles outputs;
  outputs.masks = a.flag("--masks");
  outputs.maps = a.flag("--maps");
  outputs.overlay = !a.flag("--no-overlay");
  bool force = a.flag("--force");
  a.option("--threads", &threads);
  a.option("--dtype", &dtype);
  RequestOptions req;
  std::string err = req.parse(a);
  long long nthreads = 0;
  if (err.empty()) err = int_option("--threads", threads, 0, 1024, &nthreads);
  std::vector<std::string> images = a.positionals();
  xsam_dtype runtime_dtype = XSAM_DTYPE_AUTO;
  if (err.empty()) err = dtype_option(dtype, &runtime_dtype);
  for (size_t i = 0; i < globs.size() && err.empty(); ++i) err = expand_glob(globs[i], &images);
  if (err.empty() && has_list) err = read_list(list, &images);
  if (!err.empty()) {
    std::fprintf(stderr, "xsam segment: %s\n", err.c_str());
    return 2;
  }
  if (model_dir.empty() || out_dir.empty() || images.empty()) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  if (std::string e = prepare_out_dir(out_dir); !e.empty()) {
    std::fprintf(stderr, "xsam segment: %s\n", e.c_str());
    return 2;
  }
  remove_stale_temporaries(out_dir);
  Manifest manifest;
  if (std::string e = manifest.load(out_dir); !e.empty()) {
    std::fprintf(stderr, "xsam segment: %s\n", e.c_str());
    return 2;
  }
  const nlohmann::json request = request_description(model_dir, dtype, req, outputs.masks, outputs.maps, outputs.overlay);
  const std::string request_id = sha256_hex(request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::vector<Planned> plan = plan_batch(images, out_dir, manifest, request_id, force);

  size_t conflicts = 0;
  for (const auto& p : plan)
    if (p.action == Planned::Conflict && ++conflicts <= 10)
      std::fprintf(stderr, "xsam segment: %s: %s/%s.json exists but %s\n", p.input.path.c_str(), out_dir.c_str(),
                   p.output.c_str(), p.reason.c_str());
  if (conflicts) {
    std::fprintf(stderr, "xsam segment: %zu image(s) would overwrite outputs that came from something else; nothing "
                         "was written (use another --out, or --force to recompute and overwrite)\n", conflicts);
    return 2;
  }

  FailureLog failures(out_dir + "/failures.jsonl");
  size_t done = 0, skipped = 0;

  std::vector<size_t> todo;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].action == Planned::Unreadable) failures.record(plan[i].input.path, "", plan[i].reason);
    else if (plan[i].action == Planned::Skip) ++skipped;
    else todo.push_back(i);
  }
  if (skipped) std::fprintf(stderr, "xsam segment: %zu image(s) already done, skipped\n", skipped);
  if (todo.empty()) {
    std::fprintf(stderr, "xsam segment: 0 done, %zu skipped, %zu failed\n", skipped, failures.count());
    return failures.count() ? 1 : 0;
  }

  xsam_model_params mp = xsam_model_default_params();
  mp.dtype = runtime_dtype;
  mp.n_threads = int(nthreads);
  xsam_model* model = nullptr;
  if (xsam_status s = xsam_model_load(model_dir.c_str(), &mp, &model)) return report("segment", s);
  xsam_context* ctx = nullptr;
  if (xsam_status s = xsam_context_new(model, nullptr, &ctx)) {
    xsam_model_free(model);
    return report("segment", s);
  }

  Progress progress(plan.size());
  size_t finished = skipped + failures.count(), not_attempted = 0;
  for (size_t n = 0; n < todo.size(); ++n) {
    const Planned& item = plan[todo[n]];
    const ImageOutcome outcome = segment_one_image(ctx, &req, item, out_dir, outputs, &manifest, request_id);
    if (!outcome.error.empty()) failures.record(item.input.path, item.output, outcome.error);
    else ++done;
    progress.update(++finished, n + 1, item.output);
    if (outcome.io_error) {  // the next image would fail the same way: stop, and say why
      not_attempted = todo.size() - n - 1;
      std::fprintf(stderr, "xsam segment: stopping: the output directory cannot be written (%s)\n",
                   outcome.error.c_str());
      break;
    }
  }
  xsam_context_free(ctx);
  xsam_model_free(model);
  std::fprintf(stderr, "xsam segment: %zu done, %zu skipped, %zu failed%s%s\n", done, skipped, failures.count(),
               not_attempted ? (", " + std::to_string(not_attempted) + " not attempted").c_str() : "",
               failures.count() ? (" (see " + failures.path() + ")").c_str() : "");
  return failures.count() || not_attempted ? 1 : 0;
}
