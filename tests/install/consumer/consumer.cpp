// A C++ program built outside the xsam tree against an installed xsam, with find_package(xsam) → xsam::xsam.
//   consumer_cpp MODEL_DIR IMAGE
// Runs the same interactive request as consumer.c through xsam.hpp, checks that a failure arrives as
// xsam::Error naming the path, and prints "cpp: version V masks N size WxH label L".
#include <cstdio>
#include <iostream>
#include <string>

#include <xsam/xsam.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer_cpp MODEL_DIR IMAGE\n";
    return 2;
  }
  try {
    xsam::Model missing("/nonexistent/xsam-model");
    std::cerr << "consumer_cpp: loading a missing model did not throw\n";
    return 1;
  } catch (const xsam::Error& e) {
    if (e.status() != XSAM_ERR_IO || std::string(e.what()).find("/nonexistent/xsam-model") == std::string::npos) {
      std::cerr << "consumer_cpp: unexpected error " << e.status_name() << ": " << e.what() << "\n";
      return 1;
    }
  }
  try {
    xsam::Model model(argv[1], xsam::ModelParams().dtype(XSAM_DTYPE_FP32).threads(1));
    xsam::Context ctx(model);
    xsam::ImageBuffer image = xsam::load_image(argv[2]);
    auto box = xsam::VisualRef::box(10.0f, 10.0f, image.width() / 2.0f, image.height() / 2.0f);
    xsam::Result r = ctx.segment(image.view(), xsam::SegmentParams().task(XSAM_TASK_INTERACTIVE).score_threshold(0.0f),
                                 {box});
    if (r.width() != image.width() || r.height() != image.height()) {
      std::cerr << "consumer_cpp: result is " << r.width() << "x" << r.height() << ", image " << image.width()
                << "x" << image.height() << "\n";
      return 1;
    }
    std::cout << "cpp: version " << xsam::version() << " masks " << r.n_masks() << " size " << r.width() << "x"
              << r.height() << " label " << (r.n_masks() ? r.label(0) : "-") << "\n";
  } catch (const xsam::Error& e) {
    std::cerr << "consumer_cpp: " << e.status_name() << ": " << e.what() << "\n";
    return 1;
  }
  return 0;
}
