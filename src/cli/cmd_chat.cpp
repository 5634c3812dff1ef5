// xsam chat --model DIR IMAGE: prompts typed line by line about one image. The context keeps the
// image's encoder outputs and prefix KV cache, so every prompt after the first runs only its own tokens
// and the decoder. Lines starting with ':' are commands (:help).
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/cli_common.h"
#include "cli/request_options.h"

using namespace xsam_cli;

namespace {

const char* kHelp =
    "commands:\n"
    "  :task NAME          set the task (auto, chat, semantic, instance, panoptic, referring, reasoning,\n"
    "                      gcg, interactive, vgd, open_vocab)\n"
    "  :point X,Y  :box X0,Y0,X1,Y1  :scribble X,Y;X,Y;...  :mask FILE.png   add a visual ref\n"
    "  :clear              drop the visual refs\n"
    "  :quit               leave\n"
    "anything else is a prompt (e.g. \"the red car\", \"ins: person, dog; sem: sky\", a question).\n";

bool on_token(const char* piece, int32_t, void*) {
  std::fputs(piece, stdout);
  std::fflush(stdout);
  return true;
}

}  // namespace

int cmd_chat(int argc, char** argv) {
  Args a(argc, argv, 2);
  if (a.flag("--help")) {
    std::printf("usage: xsam chat --model DIR [--out DIR] [--dtype auto|mixed|fp32|bf16] [--threads N] [request options] IMAGE\n%s\n%s",
                RequestOptions::help(), kHelp);
    return 0;
  }
  std::string model_dir, out_dir, dtype = "auto", threads = "0";
  a.option("--model", &model_dir);
  a.option("--out", &out_dir);
  a.option("--dtype", &dtype);
  a.option("--threads", &threads);
  RequestOptions req;
  std::string err = req.parse(a);
  auto pos = a.positionals();
  long long nthreads = 0;
  if (err.empty()) err = int_option("--threads", threads, 0, 1024, &nthreads);
  xsam_dtype runtime_dtype = XSAM_DTYPE_AUTO;
  if (err.empty()) err = dtype_option(dtype, &runtime_dtype);
  if (!err.empty() || model_dir.empty() || pos.size() != 1) {
    std::fprintf(stderr, "%s", err.empty() ? "usage: xsam chat --model DIR [--out DIR] IMAGE\n" : (err + "\n").c_str());
    return 2;
  }
  xsam_model_params mp = xsam_model_default_params();
  mp.dtype = runtime_dtype;
  mp.n_threads = int(nthreads);
  xsam_model* model = nullptr;
  if (xsam_status s = xsam_model_load(model_dir.c_str(), &mp, &model)) return report("chat", s);
  xsam_context* ctx = nullptr;
  xsam_image image{};
  if (xsam_status s = xsam_context_new(model, nullptr, &ctx)) return report("chat", s);
  if (xsam_status s = xsam_image_load(pos[0].c_str(), &image)) return report("chat", s);
  const bool tty = isatty(fileno(stdin));
  std::printf("xsam chat: %s (%dx%d). :help for commands.\n", pos[0].c_str(), image.width, image.height);
  int turn = 0;
  std::string line;
  while (true) {
    if (tty) std::printf("> "), std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    if (line[0] == ':') {
      std::string cmd = line.substr(1, line.find(' ') == std::string::npos ? std::string::npos : line.find(' ') - 1);
      std::string arg = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
      RefSpec r{};
      if (cmd == "quit" || cmd == "q") break;
      if (cmd == "help") std::printf("%s", kHelp);
      else if (cmd == "task") {
        if (!parse_task(arg, &req.params.task)) std::printf("unknown task '%s'\n", arg.c_str());
      } else if (cmd == "clear") req.refs.clear();
      else if (cmd == "point" || cmd == "box" || cmd == "scribble") {
        r.kind = cmd == "point" ? XSAM_REF_POINT : cmd == "box" ? XSAM_REF_BOX : XSAM_REF_SCRIBBLE;
        if (!parse_floats(arg, ';', &r.xy)) std::printf("bad coordinates '%s'\n", arg.c_str());
        else req.refs.push_back(r);
      } else if (cmd == "mask") {
        std::string e = load_mask_ref(arg, &r);
        if (!e.empty()) std::printf("%s\n", e.c_str());
        else req.refs.push_back(r);
      } else std::printf("unknown command ':%s' (:help)\n", cmd.c_str());
      continue;
    }
    if (line.find('\0') != std::string::npos) {  // the C string would end there: refuse, do not truncate
      std::printf("error: the line contains a NUL byte\n");
      continue;
    }
    req.prompt = line;
    req.bind();
    req.params.on_token = on_token;
    xsam_result* result = nullptr;
    xsam_status s = xsam_segment(ctx, &image, req.prompt.c_str(), req.c_refs.data(), req.c_refs.size(), &req.params, &result);
    if (s != XSAM_OK) {
      std::printf("\nerror: %s: %s\n", xsam_status_name(s), xsam_last_error());
      continue;
    }
    std::printf("\n%s\n", xsam_result_text(result));
    size_t n = xsam_result_n_masks(result);
    for (size_t k = 0; k < n; ++k) {
      float box[4];
      xsam_result_box(result, k, box);
      std::printf("  mask %zu: %-24s score %.3f  box [%.0f %.0f %.0f %.0f]\n", k, xsam_result_label(result, k),
                  xsam_result_score(result, k), box[0], box[1], box[2], box[3]);
    }
    std::printf("  (%.2f s%s)\n", xsam_result_timing(result, "total"), xsam_result_timing(result, "vision") == 0 ? ", image cached" : "");
    if (!out_dir.empty() && n > 0) {
      uint8_t* png = nullptr;
      size_t size = 0;
      std::string path = out_dir + "/chat-" + std::to_string(turn) + ".overlay.png";
      if (xsam_result_overlay_png(result, &image, &png, &size) == XSAM_OK) {
        if (FILE* f = std::fopen(path.c_str(), "wb")) {
          std::fwrite(png, 1, size, f);
          std::fclose(f);
          std::printf("  wrote %s\n", path.c_str());
        }
      }
      xsam_free(png);
    }
    ++turn;
    xsam_result_free(result);
  }
  xsam_free(const_cast<uint8_t*>(image.pixels));
  xsam_context_free(ctx);
  xsam_model_free(model);
  return 0;
}
