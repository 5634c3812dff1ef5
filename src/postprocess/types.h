// What post-processing hands back: plain structs, no torch. Everything is at the ORIGINAL image size
// (H × W), row-major (index = y·W + x).
//
// One struct, PostprocessResult, serves every task; which fields a task fills is documented per entry
// point in postprocess/postprocess.h and summarised here:
//
//   task         masks (primary list)              map (+ background value)          segments
//   semantic     one per class present, ascending  class index per pixel (no bg)     —
//   instance     upstream `instances` (kept ≥ thr) canvas: segment ids, −1 = none     upstream segments_info
//   panoptic     one per segments_info entry       panoptic ids, 0 = void            upstream segments_info (+area)
//   referring    one per phrase (row i, column i)  —                                 one per phrase
//   gcg          one per phrase, before overlap    phrase c painted as c+1, 255 = bg upstream segments_info
//   interactive  the selected mask                 —                                 one entry
//   vgd          upstream `instances` (kept ≥ thr) canvas: segment ids, 255 = none   upstream segments_info
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace xsam {

// A binary mask: pixels are 0 or 1.
struct Bitmap {
  int height = 0;
  int width = 0;
  std::vector<uint8_t> pixels;  // row-major, height·width entries

  Bitmap() = default;
  Bitmap(int h, int w) : height(h), width(w), pixels(size_t(h) * size_t(w), 0) {}
  uint8_t at(int y, int x) const { return pixels[size_t(y) * size_t(width) + size_t(x)]; }
  int64_t area() const;  // number of set pixels
};

// Tight box of a mask in pixel coordinates with an EXCLUSIVE max corner: x1 = x_max + 1, y1 = y_max + 1
// (upstream BitMasks.get_bounding_boxes; a mask filling a W×H image gives [0, 0, W, H]). An empty mask
// gives [0, 0, 0, 0].
struct Box {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
Box tight_box(const Bitmap& mask);

// One object of the result.
struct MaskEntry {
  Bitmap mask;
  int label = 0;      // class index (semantic/instance/panoptic), phrase index (referring/gcg), region index (vgd)
  float score = 0;    // fp32 as computed (upstream rounds to 6 decimals only when it writes segments_info)
  Box box;
  // Where the mask came from: decoder row and query (-1 for semantic masks, which are class argmaxes). The
  // parity tests recompute that query's probabilities to list pixels near the threshold.
  int row = 0;
  int query = -1;
};

// One upstream `segments_info` entry.
struct Segment {
  int id = 0;          // the value this segment has in the map (panoptic ids may repeat, docs/design/upstream-facts.md#post-processing)
  int label = 0;       // upstream category_id / label_id
  float score = 0;
  bool isthing = true;
  int64_t area = 0;    // pixels this entry painted when it was painted (later entries may paint over them)
};

// An integer map at the original size.
struct LabelMap {
  int height = 0;
  int width = 0;
  std::vector<int32_t> values;  // row-major

  LabelMap() = default;
  LabelMap(int h, int w, int32_t fill) : height(h), width(w), values(size_t(h) * size_t(w), fill) {}
  int32_t at(int y, int x) const { return values[size_t(y) * size_t(width) + size_t(x)]; }
  bool empty() const { return values.empty(); }
};

struct PostprocessResult {
  std::vector<MaskEntry> masks;
  LabelMap map;                      // empty where the task has no map
  int32_t map_background = 0;        // value of unassigned map pixels (see the table above)
  std::vector<Segment> segments;
  std::vector<Bitmap> prompt_masks;  // interactive / vgd: the prompt masks resized to the original size
};

}  // namespace xsam
