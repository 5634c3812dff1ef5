// Run-length encodings of masks.
//
// 1. COCO RLE (pycocotools maskApi.c): the mask is read COLUMN-major (index = x·H + y) and described by
//    alternating run lengths, the first run counting zeros (it is 0 when the first pixel is set); the
//    counts sum to H·W. The compressed form (the `counts` string of COCO json) writes each count — from
//    the fourth on, as the difference to the count two places before — in 5-bit groups, least
//    significant first, as characters 48 + group, with 0x20 set on every group but the last of a number
//    and the sign carried by bit 0x10 of the last group (rleToString / rleFrString).
//
// 2. Upstream's instance "RLE" (golden README; transformers' convert_segmentation_to_rle): for a label
//    map, one list per distinct value in ascending order, each a flat [start₁, len₁, start₂, len₂, …]
//    of the runs where the map equals that value, over the map read ROW-major, with 1-based starts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "postprocess/types.h"

namespace xsam {

struct CocoRle {
  int height = 0;
  int width = 0;
  std::vector<uint32_t> counts;
};

CocoRle coco_rle_encode(const Bitmap& mask);  // nonzero pixels count as set
// Throws Status::Format when the counts do not add up to height·width.
Bitmap coco_rle_decode(const CocoRle& rle);

std::string coco_rle_counts_to_string(const std::vector<uint32_t>& counts);
// Throws Status::Format on a character outside '0'..'o', a truncated number or a count outside uint32.
std::vector<uint32_t> coco_rle_counts_from_string(const std::string& text);

// Upstream's instance RLE of a label map: (value, runs) in ascending value order.
struct ValueRuns {
  int32_t value = 0;
  std::vector<int64_t> runs;  // [start (1-based, row-major), length, …]
};
std::vector<ValueRuns> label_map_runs(const LabelMap& map);
// The inverse; throws Status::Format when the runs overlap, leave the map, or do not cover it.
LabelMap label_map_from_runs(const std::vector<ValueRuns>& runs, int height, int width);

}  // namespace xsam
