// segment.cpp — the C++ wrapper (xsam.hpp): load a model, run one request, print the masks, write the
// result as JSON and an overlay PNG. Errors are exceptions carrying the library's message.
//
//   segment_cpp MODEL_DIR IMAGE [OUT_PREFIX] [--classes a,b,c] [--stuff d,e] [--point x,y] [--prompt TEXT]
//                                           [--chat QUESTION]
//
// --classes / --stuff: generic segmentation (things and stuff → panoptic, things only → instance);
// --point: interactive segmentation of the region around one click; --prompt: referring expression;
// --chat: a question whose answer is streamed through a lambda.
// Writes OUT_PREFIX.json and OUT_PREFIX.png (default prefix "segment-cpp-out").
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "xsam/xsam.hpp"

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

void write_file(const std::string& path, const void* data, size_t size) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!f) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional, things, stuff;
  std::string prompt, chat;
  std::vector<xsam::VisualRef> refs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--classes" && has_value) things = split(argv[++i], ',');
    else if (a == "--stuff" && has_value) stuff = split(argv[++i], ',');
    else if (a == "--prompt" && has_value) prompt = argv[++i];
    else if (a == "--chat" && has_value) chat = argv[++i];
    else if (a == "--point" && has_value) {
      float x = 0, y = 0;
      if (std::sscanf(argv[++i], "%f,%f", &x, &y) != 2) { std::cerr << "--point wants x,y\n"; return 2; }
      refs.push_back(xsam::VisualRef::point(x, y));
    } else positional.push_back(a);
  }
  if (positional.size() < 2) {
    std::cerr << "usage: " << argv[0]
              << " MODEL_DIR IMAGE [OUT_PREFIX] [--classes a,b] [--stuff c,d] [--point x,y] [--prompt TEXT]\n";
    return 2;
  }
  const std::string out_prefix = positional.size() > 2 ? positional[2] : "segment-cpp-out";

  try {
    xsam::Model model(positional[0], xsam::ModelParams().dtype(XSAM_DTYPE_FP32));
    xsam::Context ctx(model);
    xsam::ImageBuffer image = xsam::load_image(positional[1]);

    xsam::SegmentParams params;
    if (!chat.empty()) {
      prompt = chat;
      params.task(XSAM_TASK_CHAT).max_new_tokens(48).on_token([](const std::string& piece, int32_t) {
        std::cout << piece << std::flush;
        return true;  // false cancels; an exception thrown here cancels and comes out of segment()
      });
    } else if (!refs.empty()) {
      params.task(XSAM_TASK_INTERACTIVE);
    } else if (!things.empty() || !stuff.empty()) {
      std::vector<std::string> classes = things;
      classes.insert(classes.end(), stuff.begin(), stuff.end());
      // Things first, then stuff. (Only stuff: say so with the task, the class split cannot.)
      params.classes(classes, things.size()).task(things.empty() ? XSAM_TASK_SEMANTIC : XSAM_TASK_AUTO);
    } else {
      params.task(XSAM_TASK_REFERRING);
      if (prompt.empty()) prompt = "the main object";
    }
    xsam::Result r = ctx.segment(image.view(), prompt, params, refs);

    std::cout << (chat.empty() ? "" : "\n") << "task " << xsam::task_name(r.task()) << ", text: " << r.text() << "\n";
    for (size_t i = 0; i < r.n_masks(); ++i) {
      auto b = r.box(i);
      std::cout << "mask " << i << ": " << r.label(i) << " (score " << r.score(i) << ") box [" << b[0] << ", " << b[1]
                << ", " << b[2] << ", " << b[3] << "]\n";
    }
    const std::string json = r.json();
    write_file(out_prefix + ".json", json.data(), json.size());
    const std::vector<uint8_t> png = r.overlay_png(image.view());
    write_file(out_prefix + ".png", png.data(), png.size());
    std::cout << "wrote " << out_prefix << ".json and " << out_prefix << ".png\n";
  } catch (const xsam::Error& e) {
    std::cerr << "xsam error (" << e.status_name() << "): " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
