// The C++ wrapper (include/xsam/xsam.hpp): errors become xsam::Error with the library's status and
// message, handles free themselves and move, params builders fill the C structs, and the token callback
// can stop generation by returning false or by throwing (the exception comes out of segment()).
// Self-contained: only the public headers (no test support library), as a C++ user would write it.
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "xsam/xsam.hpp"

namespace {

// A fresh directory under $TMPDIR (left for the OS to clean; the tiny model is ~20 MB).
std::string temp_dir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/xsam-hpp-" + tag + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + templ);
  return buf.data();
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

// Smooth gradients: every stage sees real, deterministic data.
std::vector<uint8_t> test_pixels(int w, int h) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* q = &p[(static_cast<size_t>(y) * w + x) * 3];
      q[0] = static_cast<uint8_t>(x * 6);
      q[1] = static_cast<uint8_t>(y * 8);
      q[2] = static_cast<uint8_t>((x + y) * 3);
    }
  return p;
}

struct HppTest : ::testing::Test {
  static const std::string& model_dir() {
    static const std::string dir = [] {
      std::string d = temp_dir("model") + "/tiny";
      xsam::random_model(d, "tiny", XSAM_DTYPE_FP32, 7);
      return d;
    }();
    return dir;
  }
  static xsam::Model& model() {
    static xsam::Model m(model_dir(), xsam::ModelParams().dtype(XSAM_DTYPE_FP32).threads(1));
    return m;
  }
  std::vector<uint8_t> pixels = test_pixels(40, 30);
  xsam_image image = xsam::image_view(pixels.data(), 40, 30);
};

TEST_F(HppTest, LoadErrorCarriesStatusAndMessage) {
  const std::string missing = temp_dir("missing") + "/no-model";
  try {
    xsam::Model m(missing);
    FAIL() << "loading a missing directory succeeded";
  } catch (const xsam::Error& e) {
    EXPECT_EQ(e.status(), XSAM_ERR_IO);
    EXPECT_STREQ(e.status_name(), "io");
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
}

TEST_F(HppTest, ParamsBuildersFillTheCStructs) {
  xsam::SegmentParams sp;
  sp.task(XSAM_TASK_PANOPTIC).classes({"cat", "dog", "sky"}, 2).question("q?").max_new_tokens(7).sampling(0.5f, 3, 0.9f)
      .seed(11).templates(1, 2).score_threshold(0.25f);
  std::vector<const char*> ptrs;
  xsam_segment_params c = sp.c(ptrs);
  EXPECT_EQ(c.task, XSAM_TASK_PANOPTIC);
  ASSERT_EQ(c.n_classes, 3u);
  EXPECT_STREQ(c.classes[2], "sky");
  EXPECT_EQ(c.n_thing_classes, 2u);
  EXPECT_STREQ(c.question, "q?");
  EXPECT_EQ(c.answer, nullptr);
  EXPECT_EQ(c.max_new_tokens, 7);
  EXPECT_FLOAT_EQ(c.temperature, 0.5f);
  EXPECT_EQ(c.top_k, 3);
  EXPECT_EQ(c.seed, 11u);
  EXPECT_EQ(c.question_template, 1);
  EXPECT_EQ(c.answer_template, 2);
  EXPECT_FLOAT_EQ(c.score_threshold, 0.25f);
  EXPECT_FLOAT_EQ(c.overlap_threshold, 0.8f);  // untouched defaults stay the library's

  xsam::ModelParams mp;
  mp.preset("aaai26").sliding_window_keys(2047);
  xsam_model_params m = mp.c();
  EXPECT_STREQ(m.preset, "aaai26");
  EXPECT_EQ(m.tokenizer_plugin, nullptr);
  EXPECT_EQ(m.sliding_window_keys, 2047);
}

TEST_F(HppTest, SegmentResultAccessorsAndMoves) {
  xsam::Context ctx(model());
  xsam::Result r = ctx.segment(image, xsam::SegmentParams().task(XSAM_TASK_REFERRING).classes({"the cat", "the dog"}));
  ASSERT_EQ(r.n_masks(), 2u);
  EXPECT_EQ(r.label(1), "the dog");
  EXPECT_EQ(r.width(), 40);
  EXPECT_EQ(r.height(), 30);
  EXPECT_STREQ(xsam::task_name(r.task()), "referring");
  EXPECT_NE(r.json().find("\"the dog\""), std::string::npos);
  EXPECT_EQ(r.mask_rle(0).empty(), false);
  std::vector<uint8_t> png = r.overlay_png(image);
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png[1], 'P');
  xsam::Result moved = std::move(r);
  EXPECT_EQ(r.get(), nullptr);
  EXPECT_EQ(moved.n_masks(), 2u);
  try {
    moved.map_png();  // referring has no map
    FAIL() << "map_png without a map succeeded";
  } catch (const xsam::Error& e) {
    EXPECT_EQ(e.status(), XSAM_ERR_INVALID_ARGUMENT);
  }
  xsam::Context other = std::move(ctx);
  EXPECT_EQ(ctx.get(), nullptr);
  EXPECT_NE(other.get(), nullptr);
}

TEST_F(HppTest, VisualRefsOwnTheirData) {
  xsam::Context ctx(model());
  std::vector<uint8_t> mask(40 * 30, 0);
  for (int y = 5; y < 20; ++y)
    for (int x = 10; x < 30; ++x) mask[y * 40 + x] = 1;
  std::vector<xsam::VisualRef> refs = {xsam::VisualRef::mask(mask, 40, 30), xsam::VisualRef::box(1, 1, 20, 20),
                                       xsam::VisualRef::point(30, 25), xsam::VisualRef::scribble({1, 1, 35, 28})};
  mask.assign(mask.size(), 0);  // the ref holds its own copy
  xsam::Result r = ctx.segment(image, xsam::SegmentParams().task(XSAM_TASK_VGD).score_threshold(0.0f), refs);
  EXPECT_GE(r.n_masks(), 1u);
  for (size_t i = 0; i < r.n_masks(); ++i) EXPECT_EQ(r.label(i), "region " + std::to_string(r.label_id(i)));
  try {
    ctx.segment(image, xsam::SegmentParams().task(XSAM_TASK_INTERACTIVE), {xsam::VisualRef::point(100, 1)});
    FAIL() << "a point outside the image was accepted";
  } catch (const xsam::Error& e) {
    EXPECT_EQ(e.status(), XSAM_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("outside the image"), std::string::npos) << e.what();
  }
}

TEST_F(HppTest, StreamingCancelAndThrow) {
  xsam::Context ctx(model());
  std::string streamed;
  xsam::Result r = ctx.segment(image, "Describe it.",
                               xsam::SegmentParams().task(XSAM_TASK_CHAT).max_new_tokens(6).on_token(
                                   [&](const std::string& piece, int32_t) {
                                     streamed += piece;
                                     return true;
                                   }));
  EXPECT_EQ(streamed, r.raw_text());

  int calls = 0;
  try {
    ctx.segment(image, "Describe it.", xsam::SegmentParams().task(XSAM_TASK_CHAT).max_new_tokens(20).on_token(
                                           [&](const std::string&, int32_t) { return ++calls < 2; }));
    FAIL() << "returning false did not cancel";
  } catch (const xsam::Error& e) {
    EXPECT_EQ(e.status(), XSAM_ERR_CANCELLED);
  }
  EXPECT_EQ(calls, 2);

  calls = 0;
  EXPECT_THROW(ctx.segment(image, "Describe it.",
                           xsam::SegmentParams().task(XSAM_TASK_CHAT).max_new_tokens(20).on_token(
                               [&](const std::string&, int32_t) -> bool {
                                 if (++calls == 3) throw std::logic_error("from the callback");
                                 return true;
                               })),
               std::logic_error);
  EXPECT_EQ(calls, 3);
  // The context still works afterwards.
  EXPECT_EQ(ctx.segment(image, "the cat", xsam::SegmentParams().task(XSAM_TASK_REFERRING)).n_masks(), 1u);
}

TEST_F(HppTest, ImagesAndMasksFromFiles) {
  xsam::Context ctx(model());
  xsam::Result r = ctx.segment(image, "the cat", xsam::SegmentParams().task(XSAM_TASK_REFERRING));
  ASSERT_EQ(r.n_masks(), 1u);
  const std::string dir = temp_dir("files");
  write_file(dir + "/mask.png", r.mask_png(0));  // 0 / 255 grey
  xsam::MaskBuffer m = xsam::load_mask(dir + "/mask.png");
  ASSERT_EQ(m.width, 40);
  ASSERT_EQ(m.height, 30);
  EXPECT_EQ(m.data, std::vector<uint8_t>(r.mask(0), r.mask(0) + 40 * 30));
  xsam::ImageBuffer img = xsam::load_image(dir + "/mask.png");  // grey expanded to RGB
  ASSERT_EQ(img.width(), 40);
  for (int i = 0; i < 40 * 30; ++i) ASSERT_EQ(img.pixels()[3 * i + 1], r.mask(0)[i] ? 255 : 0) << i;
  // A mask ref read from that file selects the same region as the bitmap it came from.
  xsam::Result a = ctx.segment(image, xsam::SegmentParams().task(XSAM_TASK_INTERACTIVE).score_threshold(0.0f),
                               {xsam::VisualRef::mask(m)});
  xsam::Result b = ctx.segment(image, xsam::SegmentParams().task(XSAM_TASK_INTERACTIVE).score_threshold(0.0f),
                               {xsam::VisualRef::mask(std::vector<uint8_t>(r.mask(0), r.mask(0) + 40 * 30), 40, 30)});
  ASSERT_EQ(a.n_masks(), b.n_masks());
  EXPECT_EQ(a.score(0), b.score(0));
  try {
    xsam::decode_image({1, 2, 3});
    FAIL() << "garbage decoded";
  } catch (const xsam::Error& e) {
    EXPECT_EQ(e.status(), XSAM_ERR_FORMAT);
  }
}

}  // namespace
