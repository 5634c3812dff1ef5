// Concurrency (docs/reliability.md §4): one model shared by 4 contexts on 4 threads gives results
// identical to serial runs — on the tiny random model and on the golden model, for several tasks,
// each thread in a different order and (tiny model) twice, so that the per-image and prefix caches of
// every context are exercised too.
#include <atomic>
#include <cstring>
#include <thread>

#include "api_support.h"

using namespace api_test;

namespace {

struct Ask {
  std::string name;
  xsam_task task;
  xsam_mode mode = XSAM_MODE_DEFAULT;
  std::string prompt;
  std::vector<std::string> classes;
  size_t n_things = 0;
  std::vector<std::pair<xsam_ref_kind, std::vector<float>>> refs;
  int max_new_tokens = 0;
  int image = 0;  // index into the images
};

struct Outcome {
  xsam_status status = XSAM_ERR_INTERNAL;
  std::string text, json;
  std::vector<std::vector<uint8_t>> masks;
  std::vector<float> scores;
  std::vector<int32_t> semantic, panoptic;
  bool operator==(const Outcome& o) const {
    return status == o.status && text == o.text && masks == o.masks && scores == o.scores && semantic == o.semantic &&
           panoptic == o.panoptic;
  }
};

struct Picture {
  std::vector<uint8_t> rgb;
  int width = 0, height = 0;
  // Made on demand: a stored xsam_image would point into the buffer of whichever copy built it.
  xsam_image image() const { return image_of(rgb, width, height); }
};

Picture load_picture(const std::string& path) {
  Picture p;
  xsam_image img{};
  EXPECT_EQ(xsam_image_load(path.c_str(), &img), XSAM_OK) << xsam_last_error();
  p.rgb.assign(img.pixels, img.pixels + static_cast<size_t>(img.width) * img.height * 3);
  p.width = img.width;
  p.height = img.height;
  xsam_free(const_cast<uint8_t*>(img.pixels));
  return p;
}

Outcome run(xsam_context* ctx, const Picture& pic, const Ask& a) {
  xsam_segment_params p = xsam_segment_default_params();
  p.task = a.task;
  p.mode = a.mode;
  p.max_new_tokens = a.max_new_tokens;
  std::vector<const char*> classes;
  for (const auto& c : a.classes) classes.push_back(c.c_str());
  p.classes = classes.empty() ? nullptr : classes.data();
  p.n_classes = classes.size();
  p.n_thing_classes = a.n_things;
  std::vector<xsam_visual_ref> refs;
  for (const auto& [kind, xy] : a.refs) {
    xsam_visual_ref r{};
    r.kind = kind;
    r.xy = xy.data();
    r.n_xy = xy.size();
    refs.push_back(r);
  }
  xsam_result* res = nullptr;
  Outcome o;
  const xsam_image image = pic.image();
  o.status = xsam_segment(ctx, &image, a.prompt.c_str(), refs.empty() ? nullptr : refs.data(), refs.size(), &p, &res);
  if (o.status != XSAM_OK) {
    o.text = xsam_last_error();
    return o;
  }
  o.text = xsam_result_raw_text(res);
  const size_t px = static_cast<size_t>(pic.width) * pic.height;
  for (size_t i = 0; i < xsam_result_n_masks(res); ++i) {
    o.masks.emplace_back(xsam_result_mask(res, i), xsam_result_mask(res, i) + px);
    o.scores.push_back(xsam_result_score(res, i));
  }
  if (const int32_t* m = xsam_result_semantic_map(res)) o.semantic.assign(m, m + px);
  if (const int32_t* m = xsam_result_panoptic_map(res)) o.panoptic.assign(m, m + px);
  xsam_result_free(res);
  return o;
}

std::vector<Ask> asks() {
  return {
      {"semantic", XSAM_TASK_SEMANTIC, XSAM_MODE_DEFAULT, "", {"wall", "sky", "table"}, 0, {}, 0, 0},
      {"panoptic", XSAM_TASK_AUTO, XSAM_MODE_DEFAULT, "ins: person, car; sem: sky, road", {}, 0, {}, 0, 0},
      {"instance", XSAM_TASK_INSTANCE, XSAM_MODE_DEFAULT, "", {"person", "dog"}, 2, {}, 0, 1},
      {"referring", XSAM_TASK_REFERRING, XSAM_MODE_DEFAULT, "the person on the left", {}, 0, {}, 0, 0},
      {"reasoning", XSAM_TASK_REASONING, XSAM_MODE_DEFAULT, "what could I sit on?", {}, 0, {}, 0, 1},
      {"interactive", XSAM_TASK_INTERACTIVE, XSAM_MODE_DEFAULT, "", {}, 0, {{XSAM_REF_BOX, {20, 30, 150, 200}}}, 0, 0},
      {"vgd", XSAM_TASK_VGD, XSAM_MODE_DEFAULT, "", {}, 0,
       {{XSAM_REF_POINT, {40, 50}}, {XSAM_REF_SCRIBBLE, {10, 10, 60, 80, 100, 20}}}, 0, 0},
      {"gcg", XSAM_TASK_GCG, XSAM_MODE_GENERATE, "", {}, 0, {}, 6, 1},
      {"chat", XSAM_TASK_CHAT, XSAM_MODE_GENERATE, "What is in the picture?", {}, 0, {}, 6, 0},
  };
}

// Serial references on one context, then 4 threads with a context each, every thread running every
// request `passes` times starting at a different request. Everything must equal the serial outcome.
void check_concurrent_equals_serial(xsam_model* model, const std::vector<Picture>& pics, int passes) {
  const std::vector<Ask> all = asks();
  std::vector<Outcome> serial;
  {
    xsam_context* ctx = nullptr;
    ASSERT_EQ(xsam_context_new(model, nullptr, &ctx), XSAM_OK) << xsam_last_error();
    for (const auto& a : all) {
      serial.push_back(run(ctx, pics[a.image], a));
      EXPECT_EQ(serial.back().status, XSAM_OK) << a.name << ": " << serial.back().text;
    }
    xsam_context_free(ctx);
  }
  size_t with_masks = 0;
  for (const auto& o : serial) with_masks += !o.masks.empty();
  EXPECT_GE(with_masks, all.size() - 2) << "the requests should mostly produce masks";

  constexpr int kThreads = 4;
  std::atomic<int> mismatches{0}, runs{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      xsam_context* ctx = nullptr;
      if (xsam_context_new(model, nullptr, &ctx) != XSAM_OK) {
        errors[t] = xsam_last_error();
        ++mismatches;
        return;
      }
      for (int pass = 0; pass < passes; ++pass)
        for (size_t k = 0; k < all.size(); ++k) {
          const size_t i = (k + 2 * t) % all.size();
          Outcome o = run(ctx, pics[all[i].image], all[i]);
          ++runs;
          if (!(o == serial[i])) {
            ++mismatches;
            errors[t] += all[i].name + " (pass " + std::to_string(pass) + ") differs: " + o.text + "\n";
          }
        }
      xsam_context_free(ctx);
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(runs.load(), kThreads * passes * static_cast<int>(all.size()));
  EXPECT_EQ(mismatches.load(), 0);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  std::printf("[concurrency] %d requests on %d threads (%zu tasks x %d passes), %d differ from serial\n", runs.load(),
              kThreads, all.size(), passes, mismatches.load());
}

std::vector<Picture> golden_pictures() {
  return {load_picture(golden_dir() + "/images/photo.png"), load_picture(golden_dir() + "/images/portrait.png")};
}

}  // namespace

TEST(Concurrency, TinyModelFourContextsOnFourThreadsEqualSerial) {
  check_concurrent_equals_serial(tiny_model(), golden_pictures(), /*passes=*/2);
}

TEST(Concurrency, GoldenModelFourContextsOnFourThreadsEqualSerial) {
  xsam_model* m = nullptr;
  ASSERT_EQ(load(golden_dir(), &m), XSAM_OK) << xsam_last_error();
  check_concurrent_equals_serial(m, golden_pictures(), /*passes=*/1);
  xsam_model_free(m);
}

TEST(Concurrency, ModelInfoFromManyThreadsAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        char* json = nullptr;
        if (xsam_model_info_json(tiny_model(), &json) == XSAM_OK && json && std::strstr(json, "\"parameters\"")) ++ok;
        xsam_free(json);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 160);
}
