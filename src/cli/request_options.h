// Parsing of the request options shared by `xsam segment` and `xsam chat` (task, prompt, classes, visual
// refs, mode, thresholds) into xsam_segment_params + xsam_visual_ref, with owned storage.
#pragma once
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "xsam/xsam.h"

namespace xsam_cli {

struct RefSpec {
  xsam_ref_kind kind;
  std::vector<float> xy;
  std::vector<uint8_t> mask;  // MASK refs, loaded from a file
  int mask_width = 0, mask_height = 0;
  std::string source;         // the option text, for messages
};

// Owns everything xsam_segment_params points at.
struct RequestOptions {
  xsam_segment_params params = xsam_segment_default_params();
  std::string prompt;
  std::vector<std::string> classes;
  std::vector<const char*> class_ptrs;
  std::vector<RefSpec> refs;
  std::vector<xsam_visual_ref> c_refs;

  // Consumes the request options from `a`. Returns an error text, empty on success.
  std::string parse(Args& a);
  // Points the C structs at the owned storage (call after any change).
  void bind();
  static const char* help();
};

bool parse_task(const std::string& s, xsam_task* out);
// "x,y" / "x0,y0,x1,y1" / "x,y;x,y;..." → floats; false on malformed text.
bool parse_floats(const std::string& s, char sep_pairs, std::vector<float>* out);
// Reads a mask PNG (upstream's > 128 rule) into a MASK ref. Returns an error text, empty on success.
std::string load_mask_ref(const std::string& path, RefSpec* ref);

}  // namespace xsam_cli
