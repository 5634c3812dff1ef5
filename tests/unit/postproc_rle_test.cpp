// COCO RLE and upstream's instance RLE against hand-computed examples and an independent decoder
// written here from the format's definition (pycocotools is not available:
// docs/design/decisions.md#coco-rle).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/error.h"
#include "postprocess/rle.h"

using namespace xsam;

namespace {

Bitmap from_rows(const std::vector<std::string>& rows) {
  Bitmap b(int(rows.size()), int(rows[0].size()));
  for (int y = 0; y < b.height; ++y)
    for (int x = 0; x < b.width; ++x) b.pixels[size_t(y) * b.width + x] = rows[y][x] == '1';
  return b;
}

Bitmap from_column_major(int h, int w, const std::vector<int>& flat) {
  Bitmap b(h, w);
  for (int i = 0; i < h * w; ++i) b.pixels[size_t(i % h) * w + i / h] = uint8_t(flat[i]);
  return b;
}

// Independent decoder of the compressed counts: each number is read as base-32 digits (low digit
// first); a character >= '0' + 32 announces another digit; the last digit's bit 16 is the sign.
// Counts from the fourth on are differences to the count two places before.
std::vector<long long> independent_counts(const std::string& s) {
  std::vector<long long> out;
  size_t p = 0;
  while (p < s.size()) {
    std::vector<int> digits;
    for (;;) {
      int c = s[p++] - '0';
      digits.push_back(c % 32);
      if (c < 32) break;
    }
    long long value = 0, scale = 1;
    for (int d : digits) {
      value += d * scale;
      scale *= 32;
    }
    if (digits.back() >= 16) value -= scale;  // two's complement over 5·k bits
    if (out.size() >= 3) value += out[out.size() - 2];
    out.push_back(value);
  }
  return out;
}

// Independent expansion: write the runs column-major into a flat vector, then read it back by rows.
Bitmap independent_decode(int h, int w, const std::vector<long long>& counts) {
  std::vector<int> flat;
  int value = 0;
  for (long long c : counts) {
    flat.insert(flat.end(), size_t(c), value);
    value = 1 - value;
  }
  EXPECT_EQ(flat.size(), size_t(h) * w);
  flat.resize(size_t(h) * w);
  return from_column_major(h, w, flat);
}

struct Example {
  Bitmap mask;
  std::vector<uint32_t> counts;
  std::string text;
};

std::vector<Example> hand_examples() {
  std::vector<Example> e;
  // Column-major: (0,0)=0 | (1,0)=1 (0,1)=1 (1,1)=1.
  e.push_back({from_rows({"01", "11"}), {1, 3}, "13"});
  // Set first pixel: the zero run is empty.
  e.push_back({from_rows({"11", "11", "11"}), {0, 6}, "06"});
  e.push_back({from_rows({"000", "000"}), {6}, "6"});
  // 100 = 4 + 3·32 → 'T' (4|0x20) '3'; 16 needs a second group because bit 16 is the sign → '`' '0'.
  {
    std::vector<int> flat(116, 0);
    for (int i = 100; i < 116; ++i) flat[i] = 1;
    e.push_back({from_column_major(4, 29, flat), {100, 16}, "T3`0"});
  }
  // Fourth count stored as a negative difference: 3 − 5 = −2 → low group 30 with the sign bit → 'N'.
  e.push_back({from_rows({"11101", "11011"}), {0, 5, 2, 3}, "052N"});
  // 40 → 'X' '1'; 2 − 40 = −38 → groups 26 (continued, 'j') and 30 ('N').
  {
    std::vector<int> flat(52, 0);
    for (int i = 3; i < 43; ++i) flat[i] = 1;
    for (int i = 50; i < 52; ++i) flat[i] = 1;
    e.push_back({from_column_major(4, 13, flat), {3, 40, 7, 2}, "3X17jN"});
  }
  return e;
}

}  // namespace

TEST(PostprocCocoRle, HandComputedExamples) {
  for (const Example& ex : hand_examples()) {
    CocoRle rle = coco_rle_encode(ex.mask);
    EXPECT_EQ(rle.counts, ex.counts) << ex.text;
    EXPECT_EQ(coco_rle_counts_to_string(rle.counts), ex.text);
    EXPECT_EQ(coco_rle_counts_from_string(ex.text), ex.counts) << ex.text;
    EXPECT_EQ(coco_rle_decode(rle).pixels, ex.mask.pixels) << ex.text;
    // The independent decoder agrees with the hand-computed string.
    EXPECT_EQ(independent_decode(ex.mask.height, ex.mask.width, independent_counts(ex.text)).pixels,
              ex.mask.pixels)
        << ex.text;
  }
}

TEST(PostprocCocoRle, RandomMasksAgreeWithIndependentDecoder) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int h = 1 + int(rng() % 40), w = 1 + int(rng() % 40);
    Bitmap m(h, w);
    // Blobs and long runs, so counts span several 5-bit groups and deltas of both signs.
    const int density = int(rng() % 100);
    uint8_t v = 0;
    for (auto& p : m.pixels) {
      if (int(rng() % 100) < (density % 20) + 1) v = 1 - v;
      p = v;
    }
    CocoRle rle = coco_rle_encode(m);
    uint64_t sum = 0;
    for (uint32_t c : rle.counts) sum += c;
    ASSERT_EQ(sum, uint64_t(h) * w);
    const std::string text = coco_rle_counts_to_string(rle.counts);
    for (char c : text) ASSERT_TRUE(c >= '0' && c <= 'o') << text;
    EXPECT_EQ(independent_decode(h, w, independent_counts(text)).pixels, m.pixels) << text;
    EXPECT_EQ(coco_rle_decode({h, w, coco_rle_counts_from_string(text)}).pixels, m.pixels) << text;
  }
}

TEST(PostprocCocoRle, LargeCountsRoundTrip) {
  const std::vector<uint32_t> counts{0, 1u << 20, 3, 4000000000u, 1, 7, 123456789u};
  const std::string text = coco_rle_counts_to_string(counts);
  EXPECT_EQ(coco_rle_counts_from_string(text), counts);
  std::vector<long long> ind = independent_counts(text);
  ASSERT_EQ(ind.size(), counts.size());
  for (size_t i = 0; i < counts.size(); ++i) EXPECT_EQ(ind[i], (long long)counts[i]);
}

TEST(PostprocCocoRle, RejectsMalformedInput) {
  auto expect_format = [](auto fn, const std::string& needle) {
    try {
      fn();
      FAIL() << "no error (" << needle << ")";
    } catch (const Failure& e) {
      EXPECT_EQ(e.status(), Status::Format);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_format([] { coco_rle_counts_from_string("1p"); }, "outside '0'..'o'");
  expect_format([] { coco_rle_counts_from_string("1/"); }, "outside '0'..'o'");
  expect_format([] { coco_rle_counts_from_string("T"); }, "truncated");
  expect_format([] { coco_rle_counts_from_string("N"); }, "outside 0..2^32-1");  // −2 as a first count
  expect_format([] { coco_rle_counts_from_string("oooooooooooooo0"); }, "too long");
  expect_format([] { coco_rle_decode({2, 3, {1, 2}}); }, "add up to 3");
}

TEST(PostprocInstanceRle, HandComputedExample) {
  // Row-major 2×4 map, values −1, 0, 1: runs with 1-based starts, one list per value ascending.
  LabelMap m(2, 4, -1);
  m.values = {-1, 0, 0, 1, 1, 1, -1, -1};
  std::vector<ValueRuns> runs = label_map_runs(m);
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].value, -1);
  EXPECT_EQ(runs[0].runs, (std::vector<int64_t>{1, 1, 7, 2}));
  EXPECT_EQ(runs[1].value, 0);
  EXPECT_EQ(runs[1].runs, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(runs[2].value, 1);
  EXPECT_EQ(runs[2].runs, (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(label_map_from_runs(runs, 2, 4).values, m.values);
  // A value painted over completely has no list.
  LabelMap n(1, 3, 5);
  EXPECT_EQ(label_map_runs(n).size(), 1u);
  EXPECT_THROW(label_map_from_runs({{0, {1, 2}}}, 1, 3), Failure);        // pixel 3 not covered
  EXPECT_THROW(label_map_from_runs({{0, {1, 2}}, {1, {2, 2}}}, 1, 3), Failure);  // overlap
  EXPECT_THROW(label_map_from_runs({{0, {0, 3}}}, 1, 3), Failure);        // 0 is not a 1-based start
}

TEST(PostprocBox, ExclusiveMaxCorner) {
  Bitmap m = from_rows({"0000", "0110", "0100"});
  Box b = tight_box(m);
  EXPECT_EQ(b.x0, 1);
  EXPECT_EQ(b.y0, 1);
  EXPECT_EQ(b.x1, 3);
  EXPECT_EQ(b.y1, 3);
  Box e = tight_box(Bitmap(3, 4));
  EXPECT_EQ(e.x0 + e.y0 + e.x1 + e.y1, 0);
  Bitmap full = from_rows({"11", "11"});
  EXPECT_EQ(tight_box(full).x1, 2);
  EXPECT_EQ(full.area(), 4);
}
