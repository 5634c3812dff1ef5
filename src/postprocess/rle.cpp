#include "postprocess/rle.h"

#include <map>

#include "core/error.h"

namespace xsam {

CocoRle coco_rle_encode(const Bitmap& mask) {
  CocoRle rle;
  rle.height = mask.height;
  rle.width = mask.width;
  uint8_t previous = 0;  // the first run counts zeros
  uint32_t run = 0;
  for (int x = 0; x < mask.width; ++x)
    for (int y = 0; y < mask.height; ++y) {
      const uint8_t v = mask.at(y, x) != 0;
      if (v != previous) {
        rle.counts.push_back(run);
        run = 0;
        previous = v;
      }
      ++run;
    }
  rle.counts.push_back(run);
  return rle;
}

Bitmap coco_rle_decode(const CocoRle& rle) {
  if (rle.height < 0 || rle.width < 0) fail(Status::Format, "COCO RLE: negative size");
  const uint64_t total = uint64_t(rle.height) * uint64_t(rle.width);
  uint64_t sum = 0;
  for (uint32_t c : rle.counts) sum += c;
  if (sum != total)
    fail(Status::Format, "COCO RLE: counts add up to " + std::to_string(sum) + ", the mask has " +
                             std::to_string(rle.height) + "x" + std::to_string(rle.width) + " = " +
                             std::to_string(total) + " pixels");
  Bitmap mask(rle.height, rle.width);
  uint64_t index = 0;  // column-major
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    const bool set = i % 2 == 1;
    for (uint32_t k = 0; k < rle.counts[i]; ++k, ++index)
      if (set) mask.pixels[size_t(index % uint64_t(rle.height)) * size_t(rle.width) + size_t(index / uint64_t(rle.height))] = 1;
  }
  return mask;
}

std::string coco_rle_counts_to_string(const std::vector<uint32_t>& counts) {
  std::string out;
  for (size_t i = 0; i < counts.size(); ++i) {
    int64_t x = int64_t(counts[i]);
    if (i > 2) x -= int64_t(counts[i - 2]);
    bool more = true;
    while (more) {
      int c = int(x & 0x1f);
      x >>= 5;  // arithmetic shift: negative deltas end at −1
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      out.push_back(char(c + 48));
    }
  }
  return out;
}

std::vector<uint32_t> coco_rle_counts_from_string(const std::string& text) {
  std::vector<uint32_t> counts;
  size_t p = 0;
  while (p < text.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= text.size())
        fail(Status::Format, "COCO RLE string: number truncated at the end (character " + std::to_string(p) + ")");
      const int c = int(static_cast<unsigned char>(text[p])) - 48;
      if (c < 0 || c > 0x3f)
        fail(Status::Format, "COCO RLE string: character " + std::to_string(p) + " is outside '0'..'o'");
      // A count and its difference fit in 33 bits + sign (7 groups); 12 groups keep the shifts defined.
      if (k >= 12) fail(Status::Format, "COCO RLE string: number too long at character " + std::to_string(p));
      x |= int64_t(c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= -(int64_t(1) << (5 * k));  // sign-extend
    }
    if (counts.size() > 2) x += int64_t(counts[counts.size() - 2]);
    if (x < 0 || x > int64_t(UINT32_MAX))
      fail(Status::Format, "COCO RLE string: count " + std::to_string(counts.size()) + " = " + std::to_string(x) +
                               " is outside 0..2^32-1");
    counts.push_back(uint32_t(x));
  }
  return counts;
}

std::vector<ValueRuns> label_map_runs(const LabelMap& map) {
  std::map<int32_t, std::vector<int64_t>> by_value;  // ascending values
  const size_t n = map.values.size();
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && map.values[j] == map.values[i]) ++j;
    auto& runs = by_value[map.values[i]];
    runs.push_back(int64_t(i) + 1);
    runs.push_back(int64_t(j - i));
    i = j;
  }
  std::vector<ValueRuns> out;
  for (auto& [value, runs] : by_value) out.push_back(ValueRuns{value, std::move(runs)});
  return out;
}

LabelMap label_map_from_runs(const std::vector<ValueRuns>& runs, int height, int width) {
  const int64_t n = int64_t(height) * int64_t(width);
  LabelMap map(height, width, 0);
  std::vector<uint8_t> covered(size_t(n), 0);
  for (const ValueRuns& v : runs) {
    if (v.runs.size() % 2)
      fail(Status::Format, "instance RLE: value " + std::to_string(v.value) + " has an odd number of entries");
    for (size_t k = 0; k < v.runs.size(); k += 2) {
      const int64_t start = v.runs[k] - 1, length = v.runs[k + 1];
      if (start < 0 || length < 0 || start + length > n)
        fail(Status::Format, "instance RLE: value " + std::to_string(v.value) + " run " + std::to_string(k / 2) +
                                 " leaves the " + std::to_string(height) + "x" + std::to_string(width) + " map");
      for (int64_t i = start; i < start + length; ++i) {
        if (covered[size_t(i)])
          fail(Status::Format, "instance RLE: pixel " + std::to_string(i) + " is covered twice");
        covered[size_t(i)] = 1;
        map.values[size_t(i)] = v.value;
      }
    }
  }
  for (int64_t i = 0; i < n; ++i)
    if (!covered[size_t(i)]) fail(Status::Format, "instance RLE: pixel " + std::to_string(i) + " is not covered");
  return map;
}

}  // namespace xsam
