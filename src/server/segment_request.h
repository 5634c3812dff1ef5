// One POST /v1/segment request, parsed and checked: the decoded image, the prompt, the visual refs and
// every parameter, owning its storage, with the C structs of the public API pointing into it.
// Field names and rules: docs/http-api.md. Every refusal is an HttpError naming the field.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/server_options.h"
#include "xsam/xsam.hpp"

namespace xsam_server {

struct RefInput {
  xsam_ref_kind kind = XSAM_REF_POINT;
  std::vector<float> xy;
  std::vector<uint8_t> mask;  // MASK: width × height bytes, 0 / 1
  int mask_width = 0, mask_height = 0;
};

struct SegmentInput {
  xsam::ImageBuffer decoded;  // RGB8 from xsam_image_decode_limit, freed with xsam_image_free
  xsam_image image{};         // its view (bind() sets it)
  uint64_t image_key = 0;  // hash of the encoded bytes: routes repeated images to the same worker

  std::optional<std::string> prompt;
  std::optional<std::string> question, answer;
  std::vector<std::string> classes;
  std::vector<RefInput> refs;
  xsam_segment_params params = xsam_segment_default_params();
  bool stream = false;   // answer with Server-Sent Events
  bool overlay = true;   // include the overlay PNG in the result

  // The C views (valid while this object lives; set by bind()).
  std::vector<const char*> class_ptrs;
  std::vector<xsam_visual_ref> c_refs;
  void bind();
  const char* prompt_c() const { return prompt ? prompt->c_str() : nullptr; }
};

// A request as fields: the JSON object (JSON bodies, or multipart text fields gathered into one), the
// image bytes, and named binary parts (multipart mask files).
struct RequestParts {
  std::string image_bytes;
  bool has_image = false;
  std::map<std::string, std::string> files;  // part name → bytes
};

// Parses an application/json body: {"image": "<base64>", "task": ..., ...}.
SegmentInput parse_json_body(const std::string& body, const ServerOptions& limits);

// Builds the request from multipart text fields (name → value; "request" may hold a whole JSON object)
// and the file parts ("image", and mask files named by refs[i].part).
SegmentInput parse_multipart_fields(const std::vector<std::pair<std::string, std::string>>& fields,
                                    RequestParts parts, const ServerOptions& limits);

// The shared second half: checks every field of `j` and decodes the image.
SegmentInput build_segment_input(const nlohmann::json& j, RequestParts parts, const ServerOptions& limits);

// Whether `name` is a field of the request object (multipart parts with other names are files).
bool is_request_field(const std::string& name);

// The task names of the API (also /v1/info): "auto", "chat", ..., "open_vocab".
const std::vector<std::string>& task_names();

}  // namespace xsam_server
