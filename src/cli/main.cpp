// xsam — the command-line front door. Every subcommand uses the public C API only, but for the two tools
// over the static layers: bench (src/bench/) and layout (the checkpoint layout, models/checkpoint_layout.h).
#include <cstdio>
#include <cstring>
#include <string>

#include "xsam/xsam.h"

int cmd_info(int argc, char** argv);
int cmd_random_model(int argc, char** argv);
int cmd_convert_config(int argc, char** argv);
int cmd_segment(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_layout(int argc, char** argv);
void cap_openblas_by_reexec(char** argv);

static void usage(FILE* f) {
  std::fprintf(f,
               "xsam %s — X-SAM inference\n\n"
               "usage: xsam <command> [options]\n\n"
               "commands:\n"
               "  segment        segment images (batch, resumable): xsam segment --model DIR --out DIR IMAGES...\n"
               "  chat           interactive prompts on one image:  xsam chat --model DIR IMAGE\n"
               "  info           load a model and print what it holds: xsam info [--verify] [--json] DIR\n"
               "  random-model   write a model with random weights: xsam random-model --preset tiny|full DIR\n"
               "  convert-config upstream-style config.json → xsam config.json\n"
               "  layout         the checkpoint layout of a config:   xsam layout [--json] CONFIG|--preset NAME\n"
               "  bench          time every stage against this machine's limits\n"
               "  serve          HTTP API + web demo:               xsam serve --model DIR [--port 7861]\n\n"
               "`xsam <command> --help` describes each command.\n",
               xsam_version());
}

int main(int argc, char** argv) {
  cap_openblas_by_reexec(argv);
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    std::printf("xsam %s\n", xsam_version());
    return 0;
  }
  if (cmd == "info") return cmd_info(argc, argv);
  if (cmd == "random-model") return cmd_random_model(argc, argv);
  if (cmd == "convert-config") return cmd_convert_config(argc, argv);
  if (cmd == "segment") return cmd_segment(argc, argv);
  if (cmd == "chat") return cmd_chat(argc, argv);
  if (cmd == "serve") return cmd_serve(argc, argv);
  if (cmd == "bench") return cmd_bench(argc, argv);
  if (cmd == "layout") return cmd_layout(argc, argv);
  std::fprintf(stderr, "xsam: unknown command '%s'\n\n", cmd.c_str());
  usage(stderr);
  return 2;
}
