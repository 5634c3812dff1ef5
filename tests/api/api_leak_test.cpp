// Leak check (docs/reliability.md §5): a load → context → segment → free loop must not grow. In the
// sanitizer build LeakSanitizer checks at exit (tools/test.sh --sanitize); in a normal build the resident
// set size after 30 rounds must stay within a few MB of the size after 5 (warm-up: allocator pools,
// libtorch's lazily created state).
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "api_support.h"

using namespace api_test;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

double rss_mb() {
  std::ifstream in("/proc/self/statm");
  long pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

void one_round(const std::vector<uint8_t>& px, int w, int h) {
  xsam_model* m = nullptr;
  ASSERT_EQ(load(tiny_model_dir(), &m), XSAM_OK) << xsam_last_error();
  xsam_context* ctx = nullptr;
  ASSERT_EQ(xsam_context_new(m, nullptr, &ctx), XSAM_OK) << xsam_last_error();
  xsam_image img = image_of(px, w, h);
  xsam_segment_params p = xsam_segment_default_params();
  p.task = XSAM_TASK_GCG;
  p.mode = XSAM_MODE_GENERATE;
  p.max_new_tokens = 4;
  xsam_result* r = nullptr;
  ASSERT_EQ(xsam_segment(ctx, &img, nullptr, nullptr, 0, &p, &r), XSAM_OK) << xsam_last_error();
  p.task = XSAM_TASK_SEMANTIC;
  p.mode = XSAM_MODE_DEFAULT;
  const char* classes[] = {"a", "b"};
  p.classes = classes;
  p.n_classes = 2;
  xsam_result* r2 = nullptr;
  ASSERT_EQ(xsam_segment(ctx, &img, nullptr, nullptr, 0, &p, &r2), XSAM_OK) << xsam_last_error();
  char* json = nullptr;
  ASSERT_EQ(xsam_result_json(r2, &json), XSAM_OK);
  xsam_free(json);
  // A failing call in the loop as well: error paths must not leak either.
  xsam_result* bad = nullptr;
  p.mask_threshold = 2;
  EXPECT_NE(xsam_segment(ctx, &img, nullptr, nullptr, 0, &p, &bad), XSAM_OK);
  xsam_result_free(r);
  xsam_result_free(r2);
  xsam_context_free(ctx);
  xsam_model_free(m);
}

}  // namespace

TEST(Leaks, LoadSegmentFreeLoopKeepsMemoryFlat) {
  const int w = 64, h = 48;
  auto px = test_pixels(w, h);
  const int warmup = 5, rounds = kAsan ? 8 : 30;
  for (int i = 0; i < warmup; ++i) one_round(px, w, h);
  malloc_trim(0);
  const double before = rss_mb();
  for (int i = 0; i < rounds - warmup; ++i) one_round(px, w, h);
  malloc_trim(0);
  const double after = rss_mb();
  std::printf("[leak] RSS after %d rounds: %.1f MB, after %d rounds: %.1f MB (growth %.1f MB)\n", warmup, before, rounds,
              after, after - before);
  // One leaked model would be ~17 MB per round (~400 MB over 25 rounds). Under ASan the RSS includes the
  // quarantine, so there LeakSanitizer (at exit) is the check instead.
  if (!kAsan) EXPECT_LT(after - before, 24.0);
}
