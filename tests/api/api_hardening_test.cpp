// Cases of the adversarial pass that broke the C API (docs/reliability.md §9): a token callback that
// calls back into its own context, a class-list key inside a sentence, non-finite weights, and
// checksums.json that does not list the weights or spells a digest in upper case.
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "api/api_support.h"

using namespace api_test;

namespace {

xsam_context* new_context() {
  xsam_context* ctx = nullptr;
  EXPECT_EQ(xsam_context_new(tiny_model(), nullptr, &ctx), XSAM_OK) << xsam_last_error();
  return ctx;
}

struct Reentry {
  xsam_context* ctx = nullptr;
  const xsam_image* image = nullptr;
  int calls = 0;
  xsam_status inner = XSAM_OK;
  std::string inner_message;
  xsam_result* inner_result = nullptr;
};

bool call_back_into_own_context(const char*, int32_t, void* user) {
  auto* r = static_cast<Reentry*>(user);
  if (r->calls++ == 0) {
    xsam_segment_params p = xsam_segment_default_params();
    p.task = XSAM_TASK_CHAT;
    p.max_new_tokens = 2;
    r->inner = xsam_segment(r->ctx, r->image, "what is this?", nullptr, 0, &p, &r->inner_result);
    r->inner_message = xsam_last_error();
  }
  return true;
}

}  // namespace

TEST(Reentrancy, CallbackCallingItsOwnContextIsRefusedAsBusyAndTheOuterAnswerIsUnchanged) {
  auto pixels = test_pixels(32, 24);
  xsam_image img = image_of(pixels, 32, 24);
  xsam_segment_params p = xsam_segment_default_params();
  p.task = XSAM_TASK_CHAT;
  p.max_new_tokens = 4;

  xsam_context* plain_ctx = new_context();
  xsam_result* plain = nullptr;
  ASSERT_EQ(xsam_segment(plain_ctx, &img, "describe the image", nullptr, 0, &p, &plain), XSAM_OK) << xsam_last_error();

  xsam_context* ctx = new_context();
  Reentry r;
  r.ctx = ctx;
  r.image = &img;
  p.on_token = call_back_into_own_context;
  p.user_data = &r;
  xsam_result* outer = nullptr;
  ASSERT_EQ(xsam_segment(ctx, &img, "describe the image", nullptr, 0, &p, &outer), XSAM_OK) << xsam_last_error();
  ASSERT_GE(r.calls, 1);
  EXPECT_EQ(r.inner, XSAM_ERR_INVALID_ARGUMENT);
  EXPECT_NE(r.inner_message.find("context is busy"), std::string::npos) << r.inner_message;
  EXPECT_EQ(r.inner_result, nullptr);
  // The refused inner call touched nothing: the outer answer is the one without a callback.
  EXPECT_STREQ(xsam_result_raw_text(outer), xsam_result_raw_text(plain));

  // And the context is free again afterwards.
  p.on_token = nullptr;
  xsam_result* again = nullptr;
  EXPECT_EQ(xsam_segment(ctx, &img, "describe the image", nullptr, 0, &p, &again), XSAM_OK) << xsam_last_error();
  xsam_result_free(again);
  xsam_result_free(outer);
  xsam_result_free(plain);
  xsam_context_free(ctx);
  xsam_context_free(plain_ctx);
}

TEST(AutoTask, ClassKeysCountOnlyAsPrefixesOfSemicolonSeparatedItems) {
  auto pixels = test_pixels(32, 24);
  xsam_image img = image_of(pixels, 32, 24);
  xsam_context* ctx = new_context();
  xsam_segment_params p = xsam_segment_default_params();
  p.max_new_tokens = 2;
  const std::pair<const char*, xsam_task> cases[] = {
      {"What is in the bins: left or right?", XSAM_TASK_CHAT},
      {"Which season: spring or autumn?", XSAM_TASK_CHAT},  // "sem:" inside no word, "son:" is not a key
      {"the cabins: which one is red", XSAM_TASK_CHAT},
      {"ins: person, car", XSAM_TASK_INSTANCE},
      {"  sem: sky, road", XSAM_TASK_SEMANTIC},
      {"find them; ins: cat", XSAM_TASK_INSTANCE},
      {"ins: person, car; sem: sky, road", XSAM_TASK_PANOPTIC},
      {"the bins: a; sem: sky", XSAM_TASK_SEMANTIC},
  };
  for (const auto& [prompt, task] : cases) {
    xsam_result* res = nullptr;
    ASSERT_EQ(xsam_segment(ctx, &img, prompt, nullptr, 0, &p, &res), XSAM_OK) << prompt << ": " << xsam_last_error();
    EXPECT_EQ(xsam_result_task(res), task) << prompt;
    xsam_result_free(res);
  }
  xsam_context_free(ctx);
}

namespace {

// Overwrites element `index` of the first F32 tensor of the model's weights with `value`.
std::string poison_first_f32_weight(const std::string& dir, float value, size_t index) {
  Safetensors st = read_safetensors(dir + "/model.safetensors");
  auto header = nlohmann::json::parse(st.header);
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__" || (*it)["dtype"] != "F32") continue;
    const size_t begin = (*it)["data_offsets"][0].get<size_t>();
    std::memcpy(&st.data[begin + 4 * index], &value, 4);
    write_safetensors(dir + "/model.safetensors", st.header, st.data);
    return it.key();
  }
  ADD_FAILURE() << "no F32 tensor";
  return "";
}

}  // namespace

TEST(Weights, NanOrInfiniteWeightIsRefusedAtLoadNamingTheTensor) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::string dir = copy_model("nan-weights");
    const std::string tensor = poison_first_f32_weight(dir, bad, 1);
    remove_file(dir + "/checksums.json");
    xsam_model* m = nullptr;
    XSAM_EXPECT_FAIL(load(dir, &m), XSAM_ERR_FORMAT, tensor, "non-finite weight", "element 1");
    EXPECT_EQ(m, nullptr);
  }
}

TEST(Weights, VerifyRequiresEveryWeightFileListed) {
  std::string dir = copy_model("checksums-unlisted");
  write_file(dir + "/checksums.json", "{\"config.json\": \"" + std::string(64, '0') + "\"}");
  xsam_model* m = nullptr;
  XSAM_EXPECT_FAIL(load(dir, &m, true), XSAM_ERR_FORMAT, "checksums.json", "does not list", "model.safetensors");
  EXPECT_EQ(m, nullptr);
}

TEST(Weights, VerifyComparesDigestsCaseInsensitively) {
  std::string dir = copy_model("checksums-upper");
  auto j = nlohmann::json::parse(read_file(dir + "/checksums.json"));
  std::string digest = j["model.safetensors"].get<std::string>();
  for (char& c : digest) c = char(std::toupper(static_cast<unsigned char>(c)));
  j["model.safetensors"] = digest;
  write_file(dir + "/checksums.json", j.dump());
  xsam_model* m = nullptr;
  ASSERT_EQ(load(dir, &m, true), XSAM_OK) << xsam_last_error();
  xsam_model_free(m);
  // A real mismatch in upper case is still one.
  digest[0] = digest[0] == 'A' ? 'B' : 'A';
  j["model.safetensors"] = digest;
  write_file(dir + "/checksums.json", j.dump());
  XSAM_EXPECT_FAIL(load(dir, &m, true), XSAM_ERR_FORMAT, "sha256 mismatch");
}

TEST(Threads, ThreadCountsAboveTheCapAreRefusedNegativeOnesToo) {
  for (int n : {-1, 4097, 1 << 30}) {
    xsam_model_params mp = xsam_model_default_params();
    mp.dtype = XSAM_DTYPE_FP32;
    mp.n_threads = n;
    xsam_model* m = nullptr;
    XSAM_EXPECT_FAIL(xsam_model_load(tiny_model_dir().c_str(), &mp, &m), XSAM_ERR_INVALID_ARGUMENT, "n_threads");
    EXPECT_EQ(m, nullptr);
  }
}

namespace {

// Every added token of the Phi-3 + X-SAM tokenizer, and the pipeline's <region>.
const char* const kSpecialTokens[] = {"<unk>", "<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|placeholder1|>",
                                      "<|placeholder6|>", "<|system|>", "<|end|>", "<|user|>", "<SEG>", "<p>", "</p>",
                                      "<region>"};

}  // namespace

// A special token typed by a user is text: it changes no mask count, no phrase and no answer structure.
// Referring / reasoning answer with one <SEG> (one mask); teacher-forced chat with an answer without <SEG>
// has none; a generated chat answer's masks come from generated <SEG> tokens only.
TEST(UserText, SpecialTokenStringsInPromptsAndClassesAreOrdinaryText) {
  auto pixels = test_pixels(32, 24);
  xsam_image img = image_of(pixels, 32, 24);
  xsam_context* ctx = new_context();
  for (const char* token : kSpecialTokens) {
    const std::string text = std::string("the ") + token + " cat " + token;
    SCOPED_TRACE(token);
    for (xsam_task task : {XSAM_TASK_REFERRING, XSAM_TASK_REASONING}) {
      xsam_segment_params p = xsam_segment_default_params();
      p.task = task;
      xsam_result* res = nullptr;
      ASSERT_EQ(xsam_segment(ctx, &img, text.c_str(), nullptr, 0, &p, &res), XSAM_OK) << xsam_last_error();
      EXPECT_EQ(xsam_result_n_masks(res), 1u);
      xsam_result_free(res);
    }
    {
      xsam_segment_params p = xsam_segment_default_params();
      p.task = XSAM_TASK_CHAT;
      p.mode = XSAM_MODE_TEACHER_FORCED;
      p.answer = "It is a cat.";
      xsam_result* res = nullptr;
      ASSERT_EQ(xsam_segment(ctx, &img, text.c_str(), nullptr, 0, &p, &res), XSAM_OK) << xsam_last_error();
      EXPECT_EQ(xsam_result_n_masks(res), 0u);
      xsam_result_free(res);
    }
    {
      xsam_segment_params p = xsam_segment_default_params();
      p.task = XSAM_TASK_CHAT;
      p.max_new_tokens = 3;
      xsam_result* res = nullptr;
      ASSERT_EQ(xsam_segment(ctx, &img, text.c_str(), nullptr, 0, &p, &res), XSAM_OK) << xsam_last_error();
      const std::string raw = xsam_result_raw_text(res);
      size_t generated_segs = 0;
      for (size_t at = raw.find("<SEG>"); at != std::string::npos; at = raw.find("<SEG>", at + 1)) ++generated_segs;
      EXPECT_EQ(xsam_result_n_masks(res), generated_segs) << raw;
      xsam_result_free(res);
    }
    {
      const char* classes[] = {token, "cat"};
      xsam_segment_params p = xsam_segment_default_params();
      p.task = XSAM_TASK_INSTANCE;
      p.classes = classes;
      p.n_classes = 2;
      p.score_threshold = 0;
      xsam_result* res = nullptr;
      ASSERT_EQ(xsam_segment(ctx, &img, nullptr, nullptr, 0, &p, &res), XSAM_OK) << xsam_last_error();
      for (size_t i = 0; i < xsam_result_n_masks(res); ++i) {
        const std::string label = xsam_result_label(res, i);
        EXPECT_TRUE(label == token || label == "cat") << label;
      }
      xsam_result_free(res);
    }
  }
  xsam_context_free(ctx);
}
