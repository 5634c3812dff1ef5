// The ABI rules of docs/c-api.md: generated version macros, versioned params structs (older accepted,
// newer and uninitialised refused), the names of tasks / modes / dtypes, image decoding with a pixel limit
// and xsam_image_free, and what out-of-range indices return.
#include <cstddef>
#include <cstring>
#include <string>

#include "api_support.h"

using namespace api_test;

namespace {

// xsam_model_params as the first versioned header (0.1.0, before `cpu` was appended) declared it: what a
// program built against that header passes.
struct ModelParamsV1 {
  size_t struct_size;
  xsam_dtype dtype;
  xsam_device device;
  int device_index;
  int n_threads;
  bool verify_checksums;
  const char* tokenizer_plugin;
  const char* preset;
  int sliding_window_keys;
};

}  // namespace

TEST(Abi, VersionMacrosMatchTheLibrary) {
  const std::string header = std::to_string(XSAM_VERSION_MAJOR) + "." + std::to_string(XSAM_VERSION_MINOR) + "." +
                             std::to_string(XSAM_VERSION_PATCH);
  EXPECT_EQ(header, XSAM_VERSION_STRING);
  EXPECT_EQ(std::string(xsam_version()), header);
  EXPECT_EQ(XSAM_API_VERSION, 0);
}

TEST(Abi, DefaultParamsCarryTheirSize) {
  EXPECT_EQ(xsam_model_default_params().struct_size, sizeof(xsam_model_params));
  EXPECT_EQ(xsam_context_default_params().struct_size, sizeof(xsam_context_params));
  EXPECT_EQ(xsam_segment_default_params().struct_size, sizeof(xsam_segment_params));
}

TEST(Abi, AnOlderModelParamsStructLoadsWithTheNewFieldsDefaulted) {
  static_assert(sizeof(ModelParamsV1) <= sizeof(xsam_model_params), "the older struct is a prefix");
  static_assert(offsetof(ModelParamsV1, sliding_window_keys) == offsetof(xsam_model_params, sliding_window_keys),
                "the older struct's fields sit where they sit today");
  // Followed by bytes that are not zero: the library must read only struct_size bytes of it.
  struct {
    ModelParamsV1 p;
    unsigned char after[64];
  } old;
  std::memset(&old, 0xA5, sizeof old);
  const xsam_model_params d = xsam_model_default_params();
  std::memcpy(&old.p, &d, sizeof old.p);
  old.p.struct_size = sizeof(ModelParamsV1);
  old.p.dtype = XSAM_DTYPE_FP32;
  old.p.n_threads = 1;
  xsam_model* m = nullptr;
  ASSERT_EQ(xsam_model_load(tiny_model_dir().c_str(), reinterpret_cast<const xsam_model_params*>(&old.p), &m), XSAM_OK)
      << xsam_last_error();
  char* info = nullptr;
  ASSERT_EQ(xsam_model_info_json(m, &info), XSAM_OK);
  EXPECT_NE(std::string(info).find("\"dtype\": \"fp32\""), std::string::npos) << info;
  xsam_free(info);
  xsam_model_free(m);
}

TEST(Abi, ANewerStructIsUnsupportedAndAnUninitialisedOneInvalid) {
  xsam_model* m = nullptr;
  xsam_model_params mp = xsam_model_default_params();
  mp.struct_size = sizeof(xsam_model_params) + 8;
  XSAM_EXPECT_FAIL(xsam_model_load(tiny_model_dir().c_str(), &mp, &m), XSAM_ERR_UNSUPPORTED, "params.struct_size",
                   std::to_string(sizeof(xsam_model_params) + 8), "newer xsam header", XSAM_VERSION_STRING);
  EXPECT_EQ(m, nullptr);
  mp.struct_size = 0;
  XSAM_EXPECT_FAIL(xsam_model_load(tiny_model_dir().c_str(), &mp, &m), XSAM_ERR_INVALID_ARGUMENT,
                   "params.struct_size is 0", "xsam_model_default_params()");
  mp.struct_size = 12;
  XSAM_EXPECT_FAIL(xsam_model_load(tiny_model_dir().c_str(), &mp, &m), XSAM_ERR_INVALID_ARGUMENT,
                   "params.struct_size is 12", "no xsam header had that size");

  xsam_context* c = nullptr;
  xsam_context_params cp = xsam_context_default_params();
  cp.struct_size = sizeof cp + 16;
  XSAM_EXPECT_FAIL(xsam_context_new(tiny_model(), &cp, &c), XSAM_ERR_UNSUPPORTED, "params.struct_size");
  cp.struct_size = 0;
  XSAM_EXPECT_FAIL(xsam_context_new(tiny_model(), &cp, &c), XSAM_ERR_INVALID_ARGUMENT,
                   "xsam_context_default_params()");

  ASSERT_EQ(xsam_context_new(tiny_model(), nullptr, &c), XSAM_OK) << xsam_last_error();
  std::vector<uint8_t> px = test_pixels(32, 24);
  xsam_image img = image_of(px, 32, 24);
  xsam_segment_params sp = xsam_segment_default_params();
  sp.struct_size = sizeof sp + 8;
  xsam_result* r = nullptr;
  XSAM_EXPECT_FAIL(xsam_segment(c, &img, "hi", nullptr, 0, &sp, &r), XSAM_ERR_UNSUPPORTED, "params.struct_size");
  sp.struct_size = 0;
  XSAM_EXPECT_FAIL(xsam_segment(c, &img, "hi", nullptr, 0, &sp, &r), XSAM_ERR_INVALID_ARGUMENT,
                   "xsam_segment_default_params()");
  EXPECT_EQ(r, nullptr);
  xsam_context_free(c);
}

TEST(Abi, TaskModeAndDtypeNamesRoundTrip) {
  const char* const tasks[] = {"auto", "chat", "semantic", "instance", "panoptic", "referring",
                               "reasoning", "gcg", "interactive", "vgd", "open_vocab"};
  int n = 0;
  for (; xsam_task_name(static_cast<xsam_task>(n)); ++n) {
    ASSERT_LT(n, 11);
    EXPECT_STREQ(xsam_task_name(static_cast<xsam_task>(n)), tasks[n]);
    xsam_task t = XSAM_TASK_AUTO;
    ASSERT_EQ(xsam_task_from_name(tasks[n], &t), XSAM_OK);
    EXPECT_EQ(t, n);
  }
  EXPECT_EQ(n, 11);
  EXPECT_EQ(xsam_task_name(static_cast<xsam_task>(-1)), nullptr);
  xsam_task t = XSAM_TASK_AUTO;
  ASSERT_EQ(xsam_task_from_name("open-vocab", &t), XSAM_OK);
  EXPECT_EQ(t, XSAM_TASK_OPEN_VOCAB);
  XSAM_EXPECT_FAIL(xsam_task_from_name("Referring", &t), XSAM_ERR_INVALID_ARGUMENT, "unknown task 'Referring'",
                   "(one of auto, chat, semantic, instance, panoptic, referring, reasoning, gcg, interactive, vgd "
                   "or open_vocab)");
  XSAM_EXPECT_FAIL(xsam_task_from_name(nullptr, &t), XSAM_ERR_INVALID_ARGUMENT, "name is NULL");

  xsam_mode m = XSAM_MODE_DEFAULT;
  ASSERT_EQ(xsam_mode_from_name("teacher-forced", &m), XSAM_OK);
  EXPECT_EQ(m, XSAM_MODE_TEACHER_FORCED);
  EXPECT_STREQ(xsam_mode_name(XSAM_MODE_GENERATE), "generate");
  EXPECT_EQ(xsam_mode_name(static_cast<xsam_mode>(3)), nullptr);
  XSAM_EXPECT_FAIL(xsam_mode_from_name("fast", &m), XSAM_ERR_INVALID_ARGUMENT,
                   "unknown mode 'fast' (one of default, teacher_forced or generate)");

  xsam_dtype d = XSAM_DTYPE_AUTO;
  ASSERT_EQ(xsam_dtype_from_name("bf16", &d), XSAM_OK);
  EXPECT_EQ(d, XSAM_DTYPE_BF16);
  EXPECT_STREQ(xsam_dtype_name(XSAM_DTYPE_FP32), "fp32");
  EXPECT_STREQ(xsam_dtype_name(XSAM_DTYPE_MIXED), "mixed");
  XSAM_EXPECT_FAIL(xsam_dtype_from_name("fp16", &d), XSAM_ERR_INVALID_ARGUMENT, "(one of auto, fp32, bf16 or mixed)");
}

TEST(Abi, DecodeWithAPixelLimitRefusesFromTheHeader) {
  const std::vector<uint8_t> samples(4 * 3 * 3, 200);
  const std::string png = make_png(4, 3, 2, 8, samples);
  xsam_image img{};
  ASSERT_EQ(xsam_image_decode_limit(reinterpret_cast<const uint8_t*>(png.data()), png.size(), 12, &img), XSAM_OK)
      << xsam_last_error();
  EXPECT_EQ(img.width, 4);
  EXPECT_EQ(img.height, 3);
  EXPECT_EQ(img.pixels[0], 200);
  xsam_image_free(&img);
  EXPECT_EQ(img.pixels, nullptr);
  EXPECT_EQ(img.width, 0);
  xsam_image_free(&img);  // a second call is harmless
  xsam_image_free(nullptr);

  XSAM_EXPECT_FAIL(xsam_image_decode_limit(reinterpret_cast<const uint8_t*>(png.data()), png.size(), 11, &img),
                   XSAM_ERR_LIMIT, "4x3 = 12 pixels exceeds the limit of 11 pixels");
  // A header claiming 100000 × 100000 with the 4 × 3 data behind it: refused before anything is decoded.
  const std::string bomb = png_with_size(png, 100000, 100000);
  XSAM_EXPECT_FAIL(xsam_image_decode_limit(reinterpret_cast<const uint8_t*>(bomb.data()), bomb.size(), 1000000, &img),
                   XSAM_ERR_LIMIT, "100000x100000");
  EXPECT_EQ(img.pixels, nullptr);
  // A format the library does not decode is still measured first: the limit answers before the format.
  const std::string gif("GIF89a\xff\x7f\xff\x7f garbage", 17);
  XSAM_EXPECT_FAIL(xsam_image_decode_limit(reinterpret_cast<const uint8_t*>(gif.data()), gif.size(), 1000000, &img),
                   XSAM_ERR_LIMIT, "32767x32767");
  XSAM_EXPECT_FAIL(xsam_image_decode_limit(reinterpret_cast<const uint8_t*>(gif.data()), gif.size(), 0, &img),
                   XSAM_ERR_FORMAT, "GIF images are not supported");
}

TEST(Abi, OutOfRangeIndicesReturnTheDocumentedValues) {
  xsam_context* c = nullptr;
  ASSERT_EQ(xsam_context_new(tiny_model(), nullptr, &c), XSAM_OK) << xsam_last_error();
  std::vector<uint8_t> px = test_pixels(32, 24);
  xsam_image img = image_of(px, 32, 24);
  const float box[4] = {2, 2, 20, 16};
  xsam_visual_ref ref{};
  ref.kind = XSAM_REF_BOX;
  ref.xy = box;
  ref.n_xy = 4;
  xsam_segment_params sp = xsam_segment_default_params();
  sp.task = XSAM_TASK_INTERACTIVE;
  sp.score_threshold = 0.0f;
  xsam_result* r = nullptr;
  ASSERT_EQ(xsam_segment(c, &img, nullptr, &ref, 1, &sp, &r), XSAM_OK) << xsam_last_error();
  const size_t n = xsam_result_n_masks(r);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(xsam_result_mask(r, n), nullptr);
  EXPECT_EQ(xsam_result_label(r, n), nullptr);
  EXPECT_EQ(xsam_result_label_id(r, n), -1);
  EXPECT_EQ(xsam_result_score(r, n), 0.0f);
  float b[4] = {7, 7, 7, 7};
  xsam_result_box(r, n, b);
  EXPECT_EQ(b[0] + b[1] + b[2] + b[3], 0.0f);
  char* rle = nullptr;
  XSAM_EXPECT_FAIL(xsam_result_mask_rle(r, n, &rle), XSAM_ERR_INVALID_ARGUMENT, "index 1 out of range");
  EXPECT_STREQ(xsam_task_name(xsam_result_task(r)), "interactive");
  xsam_result_free(r);
  xsam_context_free(c);
}

// The library's UTF-8 rule, public so that front doors check text the way the library will.
TEST(Abi, Utf8ValidPrefixFollowsRfc3629) {
  auto prefix = [](const std::string& s) { return xsam_utf8_valid_prefix(s.data(), s.size()); };
  EXPECT_EQ(prefix(""), 0u);
  EXPECT_EQ(xsam_utf8_valid_prefix(nullptr, 0), 0u);
  EXPECT_EQ(prefix("plain"), 5u);
  EXPECT_EQ(prefix("caf\xC3\xA9"), 5u);                  // é: whole
  EXPECT_EQ(prefix("caf\xC3"), 3u);                      // é cut in half: up to the cut
  EXPECT_EQ(prefix("a\xC0\xAF"), 1u);                    // overlong '/'
  EXPECT_EQ(prefix("ab\xED\xA0\x80"), 2u);               // a UTF-16 surrogate
  EXPECT_EQ(prefix("\xF4\x90\x80\x80"), 0u);             // above U+10FFFF
  EXPECT_EQ(prefix("\xF0\x9F\x98\x80!"), 5u);            // an emoji, then ASCII
  EXPECT_EQ(prefix(std::string("a\0b", 3)), 3u);         // NUL is a character (callers refuse it apart)
  EXPECT_EQ(prefix("x\x80y"), 1u);                       // a stray continuation byte
}
