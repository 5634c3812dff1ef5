// Bad-input matrix, requests (docs/reliability.md §3): prompts (empty, invalid UTF-8, too long), visual
// refs (outside the image, degenerate, empty, wrong size), task/ref combinations that make no sense,
// out-of-range parameters, NULL pointers everywhere, and the limits. Each: a documented status and a
// message naming the argument; the context stays usable afterwards.
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "api_support.h"

using namespace api_test;

namespace {

constexpr int kW = 32, kH = 24;

class Request : public ::testing::Test {
 protected:
  void SetUp() override {
    pixels_ = test_pixels(kW, kH);
    image_ = image_of(pixels_, kW, kH);
    xsam_context_params cp = xsam_context_default_params();
    cp.max_context_tokens = 512;
    ASSERT_EQ(xsam_context_new(tiny_model(), &cp, &ctx_), XSAM_OK) << xsam_last_error();
    params_ = xsam_segment_default_params();
  }
  void TearDown() override { xsam_context_free(ctx_); }

  xsam_status run(const char* prompt, const std::vector<xsam_visual_ref>& refs = {}) {
    xsam_result* r = nullptr;
    xsam_status s = xsam_segment(ctx_, &image_, prompt, refs.empty() ? nullptr : refs.data(), refs.size(), &params_, &r);
    if (s != XSAM_OK) EXPECT_EQ(r, nullptr) << "a failed call must not hand out a result";
    xsam_result_free(r);
    return s;
  }

  static xsam_visual_ref ref(xsam_ref_kind kind, const std::vector<float>& xy) {
    xsam_visual_ref r{};
    r.kind = kind;
    r.xy = xy.data();
    r.n_xy = xy.size();
    return r;
  }
  static xsam_visual_ref mask_ref(const std::vector<uint8_t>& m, int w, int h) {
    xsam_visual_ref r{};
    r.kind = XSAM_REF_MASK;
    r.mask = m.data();
    r.mask_width = w;
    r.mask_height = h;
    return r;
  }

  std::vector<uint8_t> pixels_;
  xsam_image image_{};
  xsam_context* ctx_ = nullptr;
  xsam_segment_params params_{};
};

}  // namespace

// ---- prompts

TEST_F(Request, EmptyPromptForATaskThatNeedsOneIsInvalidArgument) {
  params_.task = XSAM_TASK_REFERRING;
  XSAM_EXPECT_FAIL(run(""), XSAM_ERR_INVALID_ARGUMENT, "prompt", "referring needs a non-empty expression");
  params_.task = XSAM_TASK_REASONING;
  XSAM_EXPECT_FAIL(run("   "), XSAM_ERR_INVALID_ARGUMENT, "prompt", "reasoning");
  params_.task = XSAM_TASK_CHAT;
  XSAM_EXPECT_FAIL(run(nullptr), XSAM_ERR_INVALID_ARGUMENT, "prompt", "chat needs a non-empty prompt");
}

TEST_F(Request, InvalidUtf8IsInvalidArgument) {
  params_.task = XSAM_TASK_REFERRING;
  XSAM_EXPECT_FAIL(run("the \xC3\x28 car"), XSAM_ERR_INVALID_ARGUMENT, "prompt", "UTF-8");  // bad continuation
  XSAM_EXPECT_FAIL(run("\xC0\xAF"), XSAM_ERR_INVALID_ARGUMENT, "prompt", "UTF-8");          // overlong '/'
  XSAM_EXPECT_FAIL(run("cut \xE2\x82"), XSAM_ERR_INVALID_ARGUMENT, "prompt", "UTF-8");      // truncated sequence
  XSAM_EXPECT_FAIL(run("\xED\xA0\x80"), XSAM_ERR_INVALID_ARGUMENT, "prompt", "UTF-8");      // UTF-16 surrogate
  XSAM_EXPECT_FAIL(run("\xF4\x90\x80\x80"), XSAM_ERR_INVALID_ARGUMENT, "prompt", "UTF-8");  // above U+10FFFF
  EXPECT_EQ(run("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\x88"), XSAM_OK) << xsam_last_error();  // valid: é € 🐈
}

TEST_F(Request, InvalidUtf8InAClassNameNamesTheClass) {
  params_.task = XSAM_TASK_SEMANTIC;
  const char* classes[] = {"sky", "gr\xFFss"};
  params_.classes = classes;
  params_.n_classes = 2;
  XSAM_EXPECT_FAIL(run(nullptr), XSAM_ERR_INVALID_ARGUMENT, "params.classes[1]", "UTF-8");
}

TEST_F(Request, PromptOverTheContextLengthIsLimit) {
  params_.task = XSAM_TASK_REFERRING;
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "word ";
  XSAM_EXPECT_FAIL(run(long_prompt.c_str()), XSAM_ERR_LIMIT, "exceed the context length 512", "max_context_tokens");
  EXPECT_EQ(run("the square"), XSAM_OK) << "the context must stay usable: " << xsam_last_error();
}

TEST_F(Request, GenerationBudgetOverTheContextLengthIsLimit) {
  params_.task = XSAM_TASK_CHAT;
  params_.max_new_tokens = 100000;
  XSAM_EXPECT_FAIL(run("describe"), XSAM_ERR_LIMIT, "max_new_tokens 100000", "context length 512");
}

TEST_F(Request, HugePromptIsLimitNotACrash) {
  // 1 MB of one class list: must be refused by the context limit, not overflow a regex's stack.
  std::string huge = "ins: " + std::string(1 << 20, 'a');
  XSAM_EXPECT_FAIL(run(huge.c_str()), XSAM_ERR_LIMIT, "context length");
  std::string huge2(1 << 20, 'b');
  params_.task = XSAM_TASK_REFERRING;
  XSAM_EXPECT_FAIL(run(huge2.c_str()), XSAM_ERR_LIMIT, "context length");
}

TEST_F(Request, ImageMarkerInThePromptIsInvalidArgument) {
  params_.task = XSAM_TASK_REFERRING;
  XSAM_EXPECT_FAIL(run("<image> the car"), XSAM_ERR_INVALID_ARGUMENT, "exactly one <image>");
}

TEST_F(Request, TemplateIndexOutOfRangeIsInvalidArgument) {
  params_.task = XSAM_TASK_REFERRING;
  params_.question_template = 99;
  XSAM_EXPECT_FAIL(run("the car"), XSAM_ERR_INVALID_ARGUMENT, "question_template", "99");
  params_.question_template = -1;
  XSAM_EXPECT_FAIL(run("the car"), XSAM_ERR_INVALID_ARGUMENT, "question_template", "-1");
  params_.question_template = 0;
  params_.answer_template = 42;
  XSAM_EXPECT_FAIL(run("the car"), XSAM_ERR_INVALID_ARGUMENT, "answer_template", "42");
}

// ---- visual refs

TEST_F(Request, PointOutsideTheImageIsInvalidArgument) {
  std::vector<float> xy = {static_cast<float>(kW), 3.0f};  // x == width: one past the last column
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_POINT, xy)}), XSAM_ERR_INVALID_ARGUMENT, "visual ref 0", "outside the image");
  std::vector<float> neg = {-0.5f, 3.0f};
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_POINT, neg)}), XSAM_ERR_INVALID_ARGUMENT, "outside the image");
}

TEST_F(Request, BoxOutsideTheImageIsInvalidArgument) {
  std::vector<float> box = {0, 0, kW + 5.0f, 10};
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_BOX, box)}), XSAM_ERR_INVALID_ARGUMENT, "visual ref 0 (box)", "outside [0, 32]");
}

TEST_F(Request, DegenerateBoxIsInvalidArgument) {
  std::vector<float> flat = {5, 7, 20, 7.2f};  // rounds to zero height
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_BOX, flat)}), XSAM_ERR_INVALID_ARGUMENT, "degenerate box", "zero area");
}

TEST_F(Request, WrongCoordinateCountsAreInvalidArgument) {
  std::vector<float> three = {1, 2, 3};
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_BOX, three)}), XSAM_ERR_INVALID_ARGUMENT, "expects 4 coordinates", "got 3");
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_SCRIBBLE, three)}), XSAM_ERR_INVALID_ARGUMENT, "(x, y) pairs", "got 3");
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_POINT, {})}), XSAM_ERR_INVALID_ARGUMENT, "refs[0].xy", "empty");
}

TEST_F(Request, NonFiniteCoordinatesAreInvalidArgument) {
  std::vector<float> nan_point = {std::numeric_limits<float>::quiet_NaN(), 1};
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_POINT, nan_point)}), XSAM_ERR_INVALID_ARGUMENT, "not a finite number");
  std::vector<float> inf_box = {0, 0, std::numeric_limits<float>::infinity(), 5};
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_BOX, inf_box)}), XSAM_ERR_INVALID_ARGUMENT, "not a finite number");
}

TEST_F(Request, EmptyMaskIsInvalidArgument) {
  std::vector<uint8_t> m(kW * kH, 0);
  XSAM_EXPECT_FAIL(run(nullptr, {mask_ref(m, kW, kH)}), XSAM_ERR_INVALID_ARGUMENT, "visual ref 0 (mask)", "selects no pixel");
}

TEST_F(Request, WrongSizeMaskIsInvalidArgument) {
  std::vector<uint8_t> m(10 * 10, 1);
  XSAM_EXPECT_FAIL(run(nullptr, {mask_ref(m, 10, 10)}), XSAM_ERR_INVALID_ARGUMENT, "mask is 10x10", "image is 32x24");
  XSAM_EXPECT_FAIL(run(nullptr, {mask_ref(m, 0, 10)}), XSAM_ERR_INVALID_ARGUMENT, "refs[0]", "invalid mask size 0x10");
  xsam_visual_ref null_mask = mask_ref(m, kW, kH);
  null_mask.mask = nullptr;
  XSAM_EXPECT_FAIL(run(nullptr, {null_mask}), XSAM_ERR_INVALID_ARGUMENT, "refs[0].mask is NULL");
}

TEST_F(Request, UnknownRefKindIsInvalidArgument) {
  std::vector<float> xy = {1, 1};
  xsam_visual_ref r = ref(static_cast<xsam_ref_kind>(9), xy);
  XSAM_EXPECT_FAIL(run(nullptr, {r}), XSAM_ERR_INVALID_ARGUMENT, "refs[0].kind", "9");
}

TEST_F(Request, ScribbleWithTooManyVerticesIsLimit) {
  std::vector<float> xy;
  for (int i = 0; i < 40000; ++i) xy.insert(xy.end(), {static_cast<float>(i % kW), static_cast<float>(i % kH)});
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_SCRIBBLE, xy)}), XSAM_ERR_LIMIT, "visual ref 0 (scribble)", "40000 vertices",
                   "32768");
}

TEST(LongScribble, ZigzagAcrossALargeImageStaysFast) {
  // 32768 vertices, each segment crossing a 1600 x 1200 image: ~50 M line pixels. Stamping a disk per line
  // pixel meant ~6e9 pixel writes; one disk per distinct line pixel keeps it to a moment.
  const int w = 1600, h = 1200;
  auto px = test_pixels(w, h);
  xsam_image img = image_of(px, w, h);
  std::vector<float> xy;
  for (int i = 0; i < 32768; ++i) xy.insert(xy.end(), {static_cast<float>(i % 2 ? w - 1 : 0), static_cast<float>((i * 37) % h)});
  xsam_visual_ref r{};
  r.kind = XSAM_REF_SCRIBBLE;
  r.xy = xy.data();
  r.n_xy = xy.size();
  xsam_context* ctx = nullptr;
  ASSERT_EQ(xsam_context_new(tiny_model(), nullptr, &ctx), XSAM_OK);
  xsam_segment_params p = xsam_segment_default_params();
  p.task = XSAM_TASK_INTERACTIVE;
  xsam_result* res = nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(xsam_segment(ctx, &img, nullptr, &r, 1, &p, &res), XSAM_OK) << xsam_last_error();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[scribble] 32768-vertex scribble on %dx%d: %.2f s\n", w, h, seconds);
  EXPECT_LT(seconds, 30.0);
  xsam_result_free(res);
  xsam_context_free(ctx);
}

TEST_F(Request, RefsNullWithACountIsInvalidArgument) {
  xsam_result* r = nullptr;
  XSAM_EXPECT_FAIL(xsam_segment(ctx_, &image_, nullptr, nullptr, 2, &params_, &r), XSAM_ERR_INVALID_ARGUMENT,
                   "refs is NULL", "n_refs = 2");
}

TEST_F(Request, TooManyRefsIsLimit) {
  std::vector<float> xy = {1, 1};
  std::vector<xsam_visual_ref> refs(65, ref(XSAM_REF_POINT, xy));
  XSAM_EXPECT_FAIL(run(nullptr, refs), XSAM_ERR_LIMIT, "n_refs", "64");
}

// ---- task / ref combinations

TEST_F(Request, RefsWithATaskThatTakesNoneIsInvalidArgument) {
  std::vector<float> xy = {3, 4};
  params_.task = XSAM_TASK_REFERRING;
  XSAM_EXPECT_FAIL(run("the car", {ref(XSAM_REF_POINT, xy)}), XSAM_ERR_INVALID_ARGUMENT, "task referring takes no visual refs");
  params_.task = XSAM_TASK_SEMANTIC;
  const char* classes[] = {"sky"};
  params_.classes = classes;
  params_.n_classes = 1;
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_POINT, xy)}), XSAM_ERR_INVALID_ARGUMENT, "task semantic takes no visual refs");
}

TEST_F(Request, InteractiveNeedsExactlyOneRef) {
  std::vector<float> a = {3, 4}, b = {10, 10};
  params_.task = XSAM_TASK_INTERACTIVE;
  XSAM_EXPECT_FAIL(run(nullptr), XSAM_ERR_INVALID_ARGUMENT, "interactive", "exactly one visual ref", "got 0");
  XSAM_EXPECT_FAIL(run(nullptr, {ref(XSAM_REF_POINT, a), ref(XSAM_REF_POINT, b)}), XSAM_ERR_INVALID_ARGUMENT,
                   "exactly one visual ref", "got 2");
}

TEST_F(Request, VgdNeedsARef) {
  params_.task = XSAM_TASK_VGD;
  XSAM_EXPECT_FAIL(run(nullptr), XSAM_ERR_INVALID_ARGUMENT, "VGD", "at least one visual ref");
}

TEST_F(Request, GenericTaskWithoutClassesIsInvalidArgument) {
  for (xsam_task t : {XSAM_TASK_SEMANTIC, XSAM_TASK_INSTANCE, XSAM_TASK_PANOPTIC, XSAM_TASK_OPEN_VOCAB}) {
    params_.task = t;
    XSAM_EXPECT_FAIL(run("segment everything"), XSAM_ERR_INVALID_ARGUMENT, "classes", "needs classes");
  }
}

TEST_F(Request, EmptyClassNameAndBadThingCountAreInvalidArgument) {
  params_.task = XSAM_TASK_SEMANTIC;
  const char* classes[] = {"sky", "  "};
  params_.classes = classes;
  params_.n_classes = 2;
  XSAM_EXPECT_FAIL(run(nullptr), XSAM_ERR_INVALID_ARGUMENT, "empty class name");
  classes[1] = "road";
  params_.n_thing_classes = 3;
  XSAM_EXPECT_FAIL(run(nullptr), XSAM_ERR_INVALID_ARGUMENT, "n_thing_classes > n_classes");
  params_.n_thing_classes = 0;
  params_.classes = nullptr;
  XSAM_EXPECT_FAIL(run(nullptr), XSAM_ERR_INVALID_ARGUMENT, "params.classes is NULL");
}

TEST_F(Request, TeacherForcedChatWithoutAnswerIsInvalidArgument) {
  params_.task = XSAM_TASK_CHAT;
  params_.mode = XSAM_MODE_TEACHER_FORCED;
  XSAM_EXPECT_FAIL(run("hello"), XSAM_ERR_INVALID_ARGUMENT, "teacher-forced chat needs an explicit answer");
}

// ---- parameters

TEST_F(Request, UnknownEnumsAreInvalidArgument) {
  params_.task = static_cast<xsam_task>(42);
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.task", "42");
  params_.task = XSAM_TASK_REFERRING;
  params_.mode = static_cast<xsam_mode>(-3);
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.mode", "-3");
}

TEST_F(Request, OutOfRangeThresholdsAreInvalidArgument) {
  params_.task = XSAM_TASK_REFERRING;
  params_.mask_threshold = 1.5f;
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.mask_threshold", "[0, 1]");
  params_.mask_threshold = 0.5f;
  params_.score_threshold = std::numeric_limits<float>::quiet_NaN();
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.score_threshold");
  params_.score_threshold = 0.5f;
  params_.overlap_threshold = -0.1f;
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.overlap_threshold");
}

TEST_F(Request, BadSamplingParametersAreInvalidArgument) {
  params_.task = XSAM_TASK_CHAT;
  params_.temperature = -1.0f;
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.temperature");
  params_.temperature = std::numeric_limits<float>::infinity();
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.temperature");
  params_.temperature = 0.7f;
  params_.top_p = 0.0f;
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.top_p", "(0, 1]");
  params_.top_p = 1.0f;
  params_.top_k = -1;
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.top_k");
  params_.top_k = 0;
  params_.max_new_tokens = -4;
  XSAM_EXPECT_FAIL(run("x"), XSAM_ERR_INVALID_ARGUMENT, "params.max_new_tokens");
}

TEST_F(Request, CancelledGenerationIsCancelledAndTheContextStaysUsable) {
  params_.task = XSAM_TASK_CHAT;
  params_.mode = XSAM_MODE_GENERATE;
  params_.max_new_tokens = 6;
  xsam_result* before = nullptr;
  ASSERT_EQ(xsam_segment(ctx_, &image_, "describe", nullptr, 0, &params_, &before), XSAM_OK) << xsam_last_error();
  int calls = 0;
  params_.on_token = [](const char*, int32_t, void* user) { return ++*static_cast<int*>(user) < 2; };
  params_.user_data = &calls;
  XSAM_EXPECT_FAIL(run("describe"), XSAM_ERR_CANCELLED, "cancelled");
  EXPECT_EQ(calls, 2);
  params_.on_token = nullptr;
  xsam_result* after = nullptr;
  ASSERT_EQ(xsam_segment(ctx_, &image_, "describe", nullptr, 0, &params_, &after), XSAM_OK) << xsam_last_error();
  EXPECT_STREQ(xsam_result_raw_text(before), xsam_result_raw_text(after));
  xsam_result_free(before);
  xsam_result_free(after);
}

TEST(ContextParams, BadContextParametersAreRefused) {
  xsam_context* c = nullptr;
  xsam_context_params p = xsam_context_default_params();
  p.max_context_tokens = -1;
  XSAM_EXPECT_FAIL(xsam_context_new(tiny_model(), &p, &c), XSAM_ERR_INVALID_ARGUMENT, "params.max_context_tokens");
  p = xsam_context_default_params();
  p.max_context_tokens = 1 << 30;
  XSAM_EXPECT_FAIL(xsam_context_new(tiny_model(), &p, &c), XSAM_ERR_LIMIT, "params.max_context_tokens");
  p = xsam_context_default_params();
  p.image_cache_entries = -1;
  XSAM_EXPECT_FAIL(xsam_context_new(tiny_model(), &p, &c), XSAM_ERR_INVALID_ARGUMENT, "params.image_cache_entries");
  p = xsam_context_default_params();
  p.max_image_pixels = -1;
  XSAM_EXPECT_FAIL(xsam_context_new(tiny_model(), &p, &c), XSAM_ERR_INVALID_ARGUMENT, "params.max_image_pixels");
  EXPECT_EQ(c, nullptr);
}

TEST(Limits, DefaultsAreSaneAndDocumented) {
  xsam_context_params p = xsam_context_default_params();
  EXPECT_EQ(p.max_image_pixels, 178956970);  // PIL's decompression-bomb limit
  EXPECT_EQ(p.max_context_tokens, 0);        // = the model's max_position_embeddings
  xsam_segment_params s = xsam_segment_default_params();
  EXPECT_EQ(s.max_new_tokens, 0);  // = the preset's (512 aaai26)
}

// ---- NULL pointers and frees

TEST(NullPointers, EveryEntryPointRefusesNullWithoutCrashing) {
  xsam_model* m = nullptr;
  xsam_context* c = nullptr;
  xsam_result* r = nullptr;
  char* json = nullptr;
  XSAM_EXPECT_FAIL(xsam_model_load(nullptr, nullptr, &m), XSAM_ERR_INVALID_ARGUMENT, "model_dir");
  XSAM_EXPECT_FAIL(xsam_model_load(tiny_model_dir().c_str(), nullptr, nullptr), XSAM_ERR_INVALID_ARGUMENT, "out");
  XSAM_EXPECT_FAIL(xsam_model_info_json(nullptr, &json), XSAM_ERR_INVALID_ARGUMENT, "model");
  XSAM_EXPECT_FAIL(xsam_model_info_json(tiny_model(), nullptr), XSAM_ERR_INVALID_ARGUMENT, "out_json");
  XSAM_EXPECT_FAIL(xsam_context_new(nullptr, nullptr, &c), XSAM_ERR_INVALID_ARGUMENT, "model");
  XSAM_EXPECT_FAIL(xsam_context_new(tiny_model(), nullptr, nullptr), XSAM_ERR_INVALID_ARGUMENT, "out");
  auto px = test_pixels(8, 8);
  xsam_image img = image_of(px, 8, 8);
  ASSERT_EQ(xsam_context_new(tiny_model(), nullptr, &c), XSAM_OK) << xsam_last_error();
  XSAM_EXPECT_FAIL(xsam_segment(nullptr, &img, "x", nullptr, 0, nullptr, &r), XSAM_ERR_INVALID_ARGUMENT, "ctx");
  XSAM_EXPECT_FAIL(xsam_segment(c, nullptr, "x", nullptr, 0, nullptr, &r), XSAM_ERR_INVALID_ARGUMENT, "image");
  XSAM_EXPECT_FAIL(xsam_segment(c, &img, "x", nullptr, 0, nullptr, nullptr), XSAM_ERR_INVALID_ARGUMENT, "out");
  XSAM_EXPECT_FAIL(xsam_result_json(nullptr, &json), XSAM_ERR_INVALID_ARGUMENT, "result");
  XSAM_EXPECT_FAIL(xsam_result_mask_rle(nullptr, 0, &json), XSAM_ERR_INVALID_ARGUMENT, "result");
  uint8_t* png = nullptr;
  size_t size = 0;
  XSAM_EXPECT_FAIL(xsam_result_mask_png(nullptr, 0, &png, &size), XSAM_ERR_INVALID_ARGUMENT, "result");
  XSAM_EXPECT_FAIL(xsam_result_overlay_png(nullptr, &img, &png, &size), XSAM_ERR_INVALID_ARGUMENT, "result");
  XSAM_EXPECT_FAIL(xsam_random_model(nullptr, "tiny", XSAM_DTYPE_FP32, 0, nullptr), XSAM_ERR_INVALID_ARGUMENT, "out_dir");
  XSAM_EXPECT_FAIL(xsam_convert_config(nullptr, "x"), XSAM_ERR_INVALID_ARGUMENT, "upstream_config");
  // Accessors on NULL: neutral values.
  EXPECT_EQ(xsam_result_n_masks(nullptr), 0u);
  EXPECT_EQ(xsam_result_mask(nullptr, 0), nullptr);
  EXPECT_EQ(xsam_result_text(nullptr), nullptr);
  EXPECT_EQ(xsam_result_label(nullptr, 0), nullptr);
  EXPECT_EQ(xsam_result_label_id(nullptr, 0), -1);
  EXPECT_EQ(xsam_result_width(nullptr), 0);
  EXPECT_EQ(xsam_result_semantic_map(nullptr), nullptr);
  EXPECT_EQ(xsam_result_panoptic_map(nullptr), nullptr);
  EXPECT_EQ(xsam_result_timing(nullptr, "total"), -1);
  xsam_result_box(nullptr, 0, nullptr);
  float box[4] = {1, 2, 3, 4};
  xsam_result_box(nullptr, 0, box);
  EXPECT_EQ(box[0], 0.0f);
  EXPECT_STREQ(xsam_status_name(static_cast<xsam_status>(99)), "unknown");
  // Every free accepts NULL.
  xsam_free(nullptr);
  xsam_result_free(nullptr);
  xsam_context_free(nullptr);
  xsam_model_free(nullptr);
  xsam_context_free(c);
}

TEST_F(Request, ResultAccessorsOutOfRangeAreNeutralOrInvalidArgument) {
  params_.task = XSAM_TASK_REFERRING;
  xsam_result* r = nullptr;
  ASSERT_EQ(xsam_segment(ctx_, &image_, "the square", nullptr, 0, &params_, &r), XSAM_OK) << xsam_last_error();
  const size_t n = xsam_result_n_masks(r);
  EXPECT_EQ(xsam_result_mask(r, n), nullptr);
  EXPECT_EQ(xsam_result_label(r, n + 100), nullptr);
  EXPECT_EQ(xsam_result_score(r, n), 0.0f);
  EXPECT_EQ(xsam_result_timing(r, "no such stage"), -1);
  EXPECT_EQ(xsam_result_timing(r, nullptr), -1);
  char* rle = nullptr;
  XSAM_EXPECT_FAIL(xsam_result_mask_rle(r, n, &rle), XSAM_ERR_INVALID_ARGUMENT, "out of range");
  uint8_t* png = nullptr;
  size_t size = 0;
  XSAM_EXPECT_FAIL(xsam_result_mask_png(r, n, &png, &size), XSAM_ERR_INVALID_ARGUMENT, "out of range");
  auto other = test_pixels(10, 10);
  xsam_image wrong = image_of(other, 10, 10);
  XSAM_EXPECT_FAIL(xsam_result_overlay_png(r, &wrong, &png, &size), XSAM_ERR_INVALID_ARGUMENT, "10x10", "32x24");
  xsam_result_free(r);
}

TEST(LastError, IsPerThreadAndClearedBySuccess) {
  xsam_model* m = nullptr;
  ASSERT_NE(xsam_model_load("/nonexistent", nullptr, &m), XSAM_OK);
  std::string here = xsam_last_error();
  EXPECT_NE(here.find("/nonexistent"), std::string::npos);
  std::string there = "unset";
  std::thread([&] { there = xsam_last_error(); }).join();
  EXPECT_EQ(there, "") << "another thread must not see this thread's error";
  char* json = nullptr;
  ASSERT_EQ(xsam_model_info_json(tiny_model(), &json), XSAM_OK);
  xsam_free(json);
  EXPECT_STREQ(xsam_last_error(), "");
}
