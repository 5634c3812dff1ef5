#include "cli/request_options.h"

#include <cfloat>
#include <climits>
#include <cstdlib>
#include <sstream>

#include "xsam/xsam.hpp"

namespace xsam_cli {

bool parse_task(const std::string& s, xsam_task* out) { return xsam_task_from_name(s.c_str(), out) == XSAM_OK; }

bool parse_floats(const std::string& s, char sep_pairs, std::vector<float>* out) {
  out->clear();
  std::string cleaned = s;
  for (char& c : cleaned)
    if (c == sep_pairs) c = ',';
  std::stringstream ss(cleaned);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    float v = std::strtof(item.c_str(), &end);
    if (item.empty() || !end || *end != '\0') return false;
    out->push_back(v);
  }
  return !out->empty();
}

std::string load_mask_ref(const std::string& path, RefSpec* ref) {
  uint8_t* data = nullptr;
  int w = 0, h = 0;
  if (xsam_status s = xsam_mask_load(path.c_str(), &data, &w, &h))
    return std::string(xsam_status_name(s)) + ": " + xsam_last_error();
  ref->kind = XSAM_REF_MASK;
  ref->mask.assign(data, data + size_t(w) * size_t(h));
  ref->mask_width = w;
  ref->mask_height = h;
  ref->source = "--mask " + path;
  xsam_free(data);
  return "";
}

const char* RequestOptions::help() {
  return "  --task T            auto (default), chat, semantic, instance, panoptic, referring, reasoning, gcg,\n"
         "                      interactive, vgd, open_vocab\n"
         "  --prompt TEXT       the question, referring expression, or \"ins: a, b; sem: c\" class lists\n"
         "  --classes A,B,...   class names (generic / open-vocab); --things N: the first N are things\n"
         "  --point X,Y[,1]     a point ref (repeatable); --box X0,Y0,X1,Y1; --scribble X,Y;X,Y;...;\n"
         "  --mask FILE.png     a mask ref (grey > 128 = inside); refs are in image pixels\n"
         "  --mode M            default, teacher-forced, generate\n"
         "  --max-new-tokens N  generation limit (default: the preset's, 512)\n"
         "  --seed N            vision sampler / sampling seed (default 0)\n"
         "  --temperature T     sample instead of greedy decoding (with --top-k, --top-p)\n"
         "  --threshold P       score threshold for instance/panoptic/VGD/interactive (default 0.5)\n"
         "  --bos               prepend BOS (the paper's evaluation prompts)\n";
}

std::string RequestOptions::parse(Args& a) {
  std::string v;
  if (a.option("--task", &v) && !parse_task(v, &params.task)) return std::string("--task: ") + xsam_last_error();
  a.option("--prompt", &prompt);
  for (const auto& list : a.all("--classes")) {
    std::stringstream ss(list);
    std::string item;
    while (std::getline(ss, item, ',')) {
      size_t b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
      if (b != std::string::npos) classes.push_back(item.substr(b, e - b + 1));
    }
  }
  long long n = 0;
  std::string err;  // of the strict number options below
  if (a.option("--things", &v)) {
    if (!parse_int(v, &n) || n < 0 || size_t(n) > classes.size()) return "--things must be in [0, number of classes]";
    params.n_thing_classes = size_t(n);
  }
  for (const auto& p : a.all("--point")) {
    RefSpec r{XSAM_REF_POINT, {}, {}, 0, 0, "--point " + p};
    if (!parse_floats(p, ';', &r.xy) || (r.xy.size() != 2 && r.xy.size() != 3))
      return "--point expects X,Y or X,Y,LABEL, got '" + p + "'";
    if (r.xy.size() == 3) {
      if (r.xy[2] != 1) return "--point " + p + ": X-SAM has no negative points (label must be 1)";
      r.xy.pop_back();
    }
    refs.push_back(r);
  }
  for (const auto& b : a.all("--box")) {
    RefSpec r{XSAM_REF_BOX, {}, {}, 0, 0, "--box " + b};
    if (!parse_floats(b, ';', &r.xy) || r.xy.size() != 4) return "--box expects X0,Y0,X1,Y1, got '" + b + "'";
    refs.push_back(r);
  }
  for (const auto& s : a.all("--scribble")) {
    RefSpec r{XSAM_REF_SCRIBBLE, {}, {}, 0, 0, "--scribble " + s};
    if (!parse_floats(s, ';', &r.xy) || r.xy.size() % 2 != 0) return "--scribble expects X,Y;X,Y;..., got '" + s + "'";
    refs.push_back(r);
  }
  for (const auto& m : a.all("--mask")) {
    RefSpec r{};
    std::string err = load_mask_ref(m, &r);
    if (!err.empty()) return "--mask " + m + ": " + err;
    refs.push_back(r);
  }
  if (a.option("--mode", &v) && xsam_mode_from_name(v.c_str(), &params.mode) != XSAM_OK)
    return std::string("--mode: ") + xsam_last_error();
  if (a.option("--max-new-tokens", &v)) {
    if (!(err = int_option("--max-new-tokens", v, 1, INT_MAX, &n)).empty()) return err;
    params.max_new_tokens = int(n);
  }
  if (a.option("--seed", &v) && !(err = u64_option("--seed", v, &params.seed)).empty()) return err;
  if (a.option("--temperature", &v) && !(err = float_option("--temperature", v, 0, FLT_MAX, false, &params.temperature)).empty())
    return err;
  if (a.option("--top-k", &v)) {
    if (!(err = int_option("--top-k", v, 0, INT_MAX, &n)).empty()) return err;
    params.top_k = int(n);
  }
  if (a.option("--top-p", &v) && !(err = float_option("--top-p", v, 0, 1, true, &params.top_p)).empty()) return err;
  if (a.option("--threshold", &v) && !(err = float_option("--threshold", v, 0, 1, false, &params.score_threshold)).empty())
    return err;
  if (a.flag("--bos")) params.add_bos = 1;
  bind();
  return "";
}

void RequestOptions::bind() {
  xsam::set_classes(params, classes, class_ptrs);
  c_refs.clear();
  for (const auto& r : refs) c_refs.push_back(xsam::ref_view(r.kind, r.xy, r.mask, r.mask_width, r.mask_height));
}

}  // namespace xsam_cli
