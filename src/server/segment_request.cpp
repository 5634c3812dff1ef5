#include "server/segment_request.h"

#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "server/http_error.h"
#include "server/text_codec.h"
#include "xsam/xsam.hpp"

namespace xsam_server {

using nlohmann::json;

namespace {

// Fields of the request object; anything else is refused so that a typo does not pass silently.
const std::set<std::string> kFields = {
    "image",           "task",          "prompt",        "classes",     "things",         "refs",
    "mode",            "question",      "answer",        "add_bos",     "max_new_tokens", "temperature",
    "top_k",           "top_p",         "seed",          "question_template", "answer_template",
    "score_threshold", "overlap_threshold", "mask_threshold", "stream", "overlay"};

// Multipart text fields that stay text; every other field's value is read as JSON ("0.3", "true", "[...]").
const std::set<std::string> kTextFields = {"task", "prompt", "mode", "question", "answer", "image"};

std::string checked_text(const json& v, const std::string& field, size_t max_bytes) {
  if (!v.is_string()) throw bad_field(field, "must be a string");
  const std::string& s = v.get_ref<const std::string&>();
  size_t bad = utf8_error_offset(s);
  if (bad != std::string::npos) throw bad_field(field, "not valid UTF-8 (byte " + std::to_string(bad) + ")");
  // The C API takes NUL-terminated strings: "ca\u0000t" would silently become "ca".
  if (s.find('\0') != std::string::npos)
    throw bad_field(field, "contains a NUL character (U+0000) at byte " + std::to_string(s.find('\0')));
  if (s.size() > max_bytes)
    throw over_limit(field, std::to_string(s.size()) + " bytes exceed the limit of " + std::to_string(max_bytes));
  return s;
}

double checked_number(const json& v, const std::string& field, double lo, double hi) {
  if (!v.is_number()) throw bad_field(field, "must be a number");
  double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi)
    throw bad_field(field, "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + v.dump());
  return d;
}

int64_t checked_int(const json& v, const std::string& field, int64_t lo, int64_t hi) {
  if (!v.is_number_integer()) throw bad_field(field, "must be an integer");
  if (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(hi) : (v.get<int64_t>() < lo || v.get<int64_t>() > hi))
    throw bad_field(field, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v.dump());
  return v.get<int64_t>();
}

bool checked_bool(const json& v, const std::string& field) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) return v.get<int64_t>() == 1;
  throw bad_field(field, "must be true or false");
}

// The names are the library's (xsam_task_from_name); its message lists the valid ones.
xsam_task parse_task(const json& v) {
  const std::string s = checked_text(v, "task", 64);
  xsam_task t;
  if (xsam_task_from_name(s.c_str(), &t) != XSAM_OK) throw bad_field("task", xsam_last_error());
  return t;
}

xsam_mode parse_mode(const json& v) {
  const std::string s = checked_text(v, "mode", 64);
  xsam_mode m;
  if (xsam_mode_from_name(s.c_str(), &m) != XSAM_OK) throw bad_field("mode", xsam_last_error());
  return m;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> parse_classes(const json& v, const ServerOptions& limits) {
  std::vector<std::string> out;
  if (v.is_string()) {  // "a, b, c"
    const std::string s = checked_text(v, "classes", limits.max_prompt_bytes);
    size_t start = 0;
    while (start <= s.size()) {
      size_t comma = s.find(',', start);
      if (comma == std::string::npos) comma = s.size();
      std::string item = trim(s.substr(start, comma - start));
      if (!item.empty()) out.push_back(item);
      start = comma + 1;
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i)
      out.push_back(checked_text(v[i], "classes[" + std::to_string(i) + "]", limits.max_prompt_bytes));
  } else {
    throw bad_field("classes", "must be an array of strings or a comma-separated string");
  }
  if (out.size() > limits.max_classes)
    throw over_limit("classes", std::to_string(out.size()) + " classes exceed the limit of " +
                                    std::to_string(limits.max_classes));
  return out;
}

// Decodes an encoded image, refusing what is not an image (415) or too large (413).
xsam::ImageBuffer decode_image(const std::string& bytes, const std::string& field, int64_t max_pixels) {
  if (bytes.empty()) throw bad_field(field, "empty");
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  // The library refuses an oversized image from its header, before allocating any pixel.
  xsam_image img{};
  const xsam_status s = xsam_image_decode_limit(data, bytes.size(), max_pixels, &img);
  if (s == XSAM_ERR_LIMIT) {
    std::string why = xsam_last_error();  // "image: WxH = N pixels exceeds the limit of M pixels"
    const std::string own = "image: ";
    if (why.compare(0, own.size(), own) == 0) why = why.substr(own.size());
    throw over_limit(field, why);
  }
  if (s != XSAM_OK)
    throw HttpError(415, "unsupported_media_type", field,
                    field + ": not a decodable image (PNG, JPEG, BMP, WebP, TIFF, ...): " + xsam_last_error());
  return xsam::ImageBuffer(img);
}

// "xy": flat [x, y, x, y, ...] or pairs [[x, y], ...].
std::vector<float> parse_xy(const json& v, const std::string& field) {
  if (!v.is_array() || v.empty()) throw bad_field(field, "must be a non-empty array of numbers");
  std::vector<float> xy;
  for (const auto& e : v) {
    if (e.is_array()) {
      if (e.size() != 2 || !e[0].is_number() || !e[1].is_number())
        throw bad_field(field, "pairs must be [x, y] numbers, got " + e.dump());
      xy.push_back(e[0].get<float>());
      xy.push_back(e[1].get<float>());
    } else if (e.is_number()) {
      xy.push_back(e.get<float>());
    } else {
      throw bad_field(field, "must hold numbers, got " + e.dump());
    }
  }
  for (float f : xy)
    if (!std::isfinite(f)) throw bad_field(field, "coordinates must be finite");
  return xy;
}

std::string fmt(float f) { return json(f).dump(); }

// Points and scribble vertices must lie on a pixel of the image; box corners within [0, W] × [0, H].
void check_inside(const RefInput& r, const std::string& field, int w, int h) {
  if (r.kind == XSAM_REF_BOX) {
    if (r.xy.size() != 4) throw bad_field(field, "a box takes exactly 4 numbers x0, y0, x1, y1");
    for (size_t k = 0; k < 4; k += 2)
      if (r.xy[k] < 0 || r.xy[k] > w || r.xy[k + 1] < 0 || r.xy[k + 1] > h)
        throw bad_field(field, "box corner (" + fmt(r.xy[k]) + ", " + fmt(r.xy[k + 1]) + ") is outside the " +
                                   std::to_string(w) + "x" + std::to_string(h) + " image");
    return;
  }
  if (r.xy.size() % 2 != 0) throw bad_field(field, "needs x, y pairs");
  for (size_t k = 0; k < r.xy.size(); k += 2)
    if (r.xy[k] < 0 || r.xy[k] >= w || r.xy[k + 1] < 0 || r.xy[k + 1] >= h)
      throw bad_field(field, "point (" + fmt(r.xy[k]) + ", " + fmt(r.xy[k + 1]) + ") is outside the " +
                                 std::to_string(w) + "x" + std::to_string(h) + " image");
}

// A mask ref from an encoded image of the image's size: inside where the grey value (PIL's "L") > 128.
void decode_mask(const std::string& bytes, const std::string& field, const xsam_image& image, RefInput* r) {
  const xsam::ImageBuffer decoded = decode_image(bytes, field, int64_t(image.width) * image.height);
  const xsam_image& m = decoded.view();
  if (m.width != image.width || m.height != image.height)
    throw bad_field(field, "mask is " + std::to_string(m.width) + "x" + std::to_string(m.height) +
                               ", the image is " + std::to_string(image.width) + "x" + std::to_string(image.height));
  r->mask_width = m.width;
  r->mask_height = m.height;
  r->mask.resize(size_t(m.width) * m.height);
  const int stride = m.stride > 0 ? m.stride : m.width * 3;
  for (int y = 0; y < m.height; ++y) {
    const uint8_t* row = m.pixels + size_t(y) * stride;
    for (int x = 0; x < m.width; ++x) {
      const uint8_t* p = row + 3 * x;
      uint32_t grey = (p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16;
      r->mask[size_t(y) * m.width + x] = grey > 128;
    }
  }
}

RefInput parse_ref(const json& v, size_t i, const RequestParts& parts, const xsam_image& image) {
  const std::string field = "refs[" + std::to_string(i) + "]";
  if (!v.is_object()) throw bad_field(field, "must be an object like {\"kind\": \"box\", \"xy\": [x0, y0, x1, y1]}");
  for (const auto& [k, _] : v.items())
    if (k != "kind" && k != "xy" && k != "png" && k != "part") throw bad_field(field + "." + k, "unknown field");
  if (!v.contains("kind")) throw bad_field(field + ".kind", "missing (point, box, scribble or mask)");
  const std::string kind = checked_text(v["kind"], field + ".kind", 32);
  RefInput r;
  if (kind == "mask") {
    r.kind = XSAM_REF_MASK;
    if (v.contains("png")) {
      std::string bytes;
      if (!v["png"].is_string() || !base64_decode(v["png"].get<std::string>(), &bytes))
        throw bad_field(field + ".png", "must be a base64 string");
      decode_mask(bytes, field + ".png", image, &r);
    } else if (v.contains("part")) {
      const std::string name = checked_text(v["part"], field + ".part", 256);
      auto it = parts.files.find(name);
      if (it == parts.files.end()) throw bad_field(field + ".part", "no multipart file named '" + name + "'");
      decode_mask(it->second, field + ".part", image, &r);
    } else {
      throw bad_field(field, "a mask ref needs \"png\" (base64) or \"part\" (a multipart file)");
    }
    return r;
  }
  if (kind == "point") r.kind = XSAM_REF_POINT;
  else if (kind == "box") r.kind = XSAM_REF_BOX;
  else if (kind == "scribble") r.kind = XSAM_REF_SCRIBBLE;
  else throw bad_field(field + ".kind", "unknown kind '" + kind + "' (point, box, scribble or mask)");
  if (!v.contains("xy")) throw bad_field(field + ".xy", "missing");
  r.xy = parse_xy(v["xy"], field + ".xy");
  if (r.xy.size() > 2 * 65536) throw over_limit(field + ".xy", "too many coordinates");
  check_inside(r, field + ".xy", image.width, image.height);
  return r;
}

// The field a byte offset of a JSON text falls in: the nearest preceding "name": (or "body").
std::string field_at(const std::string& body, size_t offset) {
  size_t colon = body.rfind(':', std::min(offset, body.size() - 1));
  while (colon != std::string::npos && colon > 0) {
    size_t q = colon;
    while (q > 0 && std::isspace(static_cast<unsigned char>(body[q - 1]))) --q;
    if (q >= 2 && body[q - 1] == '"') {
      size_t open = body.rfind('"', q - 2);
      if (open != std::string::npos) return body.substr(open + 1, q - 2 - open);
    }
    colon = body.rfind(':', colon - 1);
  }
  return "body";
}

// json::parse, refusing a key given twice in one object (nlohmann keeps the last; a client that sends
// two values meant one of them, and which one must not be a guess).
json parse_unique_keys(const std::string& text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  json j = json::parse(text, [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    else if (event == json::parse_event_t::object_end && !open_objects.empty()) open_objects.pop_back();
    else if (event == json::parse_event_t::key && !open_objects.empty() &&
             !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  });
  if (!duplicate.empty()) throw bad_field(duplicate, "given more than once in one JSON object");
  return j;
}

// The multipart parts that mask refs name ("part"): every other file part is a mistake.
std::set<std::string> referenced_parts(const json& j) {
  std::set<std::string> names;
  if (j.is_object() && j.contains("refs") && j["refs"].is_array())
    for (const auto& r : j["refs"])
      if (r.is_object() && r.contains("part") && r["part"].is_string()) names.insert(r["part"].get<std::string>());
  return names;
}

}  // namespace

bool is_request_field(const std::string& name) { return name == "request" || kFields.count(name) > 0; }

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (int i = 0; const char* name = xsam_task_name(static_cast<xsam_task>(i)); ++i) v.push_back(name);
    return v;
  }();
  return names;
}

void SegmentInput::bind() {
  xsam::set_classes(params, classes, class_ptrs);
  params.question = question ? question->c_str() : nullptr;
  params.answer = answer ? answer->c_str() : nullptr;
  c_refs.clear();
  for (const auto& r : refs) c_refs.push_back(xsam::ref_view(r.kind, r.xy, r.mask, r.mask_width, r.mask_height));
  image = decoded.view();
}

SegmentInput build_segment_input(const json& j, RequestParts parts, const ServerOptions& limits) {
  if (!j.is_object()) throw bad_field("body", "must be a JSON object");
  for (const auto& [k, _] : j.items())
    if (!kFields.count(k)) throw bad_field(k, "unknown field (see docs/http-api.md)");

  SegmentInput in;
  if (j.contains("image")) {
    if (parts.has_image) throw bad_field("image", "given twice (a file part and a field)");
    if (!j["image"].is_string() || !base64_decode(j["image"].get<std::string>(), &parts.image_bytes))
      throw bad_field("image", "must be a base64 string (optionally a data: URL)");
    parts.has_image = true;
  }
  if (!parts.has_image) throw bad_field("image", "missing");
  in.decoded = decode_image(parts.image_bytes, "image", limits.max_image_pixels);
  in.image = in.decoded.view();
  in.image_key = std::hash<std::string>{}(parts.image_bytes);  // a routing key only

  auto& p = in.params;
  if (j.contains("task")) p.task = parse_task(j["task"]);
  if (j.contains("mode")) p.mode = parse_mode(j["mode"]);
  if (j.contains("prompt")) in.prompt = checked_text(j["prompt"], "prompt", limits.max_prompt_bytes);
  if (j.contains("question")) in.question = checked_text(j["question"], "question", limits.max_prompt_bytes);
  if (j.contains("answer")) in.answer = checked_text(j["answer"], "answer", limits.max_prompt_bytes);
  if (j.contains("classes")) in.classes = parse_classes(j["classes"], limits);
  if (j.contains("things")) p.n_thing_classes = size_t(checked_int(j["things"], "things", 0, int64_t(in.classes.size())));
  if (j.contains("refs")) {
    const json& refs = j["refs"];
    if (!refs.is_array()) throw bad_field("refs", "must be an array");
    if (refs.size() > limits.max_refs)
      throw over_limit("refs", std::to_string(refs.size()) + " visual refs exceed the limit of " +
                                   std::to_string(limits.max_refs));
    for (size_t i = 0; i < refs.size(); ++i) in.refs.push_back(parse_ref(refs[i], i, parts, in.image));
  }
  if (j.contains("add_bos")) p.add_bos = checked_bool(j["add_bos"], "add_bos");
  p.max_new_tokens = limits.max_new_tokens;
  if (j.contains("max_new_tokens")) {
    const json& v = j["max_new_tokens"];
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
      throw bad_field("max_new_tokens", "must be a non-negative integer");
    if (v.get<uint64_t>() > uint64_t(limits.max_new_tokens))
      throw over_limit("max_new_tokens", v.dump() + " exceeds the limit of " + std::to_string(limits.max_new_tokens));
    if (v.get<int64_t>() > 0) p.max_new_tokens = int(v.get<int64_t>());
  }
  if (j.contains("temperature")) p.temperature = float(checked_number(j["temperature"], "temperature", 0, 100));
  if (j.contains("top_k")) p.top_k = int(checked_int(j["top_k"], "top_k", 0, 1 << 20));
  if (j.contains("top_p")) {
    p.top_p = float(checked_number(j["top_p"], "top_p", 0, 1));
    if (p.top_p <= 0) throw bad_field("top_p", "must be in (0, 1]");
  }
  if (j.contains("seed")) {
    const json& v = j["seed"];
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<int64_t>() < 0))
      throw bad_field("seed", "must be a non-negative integer");
    p.seed = v.get<uint64_t>();
  }
  if (j.contains("question_template"))
    p.question_template = int(checked_int(j["question_template"], "question_template", 0, 1000));
  if (j.contains("answer_template")) p.answer_template = int(checked_int(j["answer_template"], "answer_template", 0, 1000));
  if (j.contains("score_threshold")) p.score_threshold = float(checked_number(j["score_threshold"], "score_threshold", 0, 1));
  if (j.contains("overlap_threshold"))
    p.overlap_threshold = float(checked_number(j["overlap_threshold"], "overlap_threshold", 0, 1));
  if (j.contains("mask_threshold")) p.mask_threshold = float(checked_number(j["mask_threshold"], "mask_threshold", 0, 1));
  if (j.contains("stream")) in.stream = checked_bool(j["stream"], "stream");
  if (j.contains("overlay")) in.overlay = checked_bool(j["overlay"], "overlay");
  in.bind();
  return in;
}

SegmentInput parse_json_body(const std::string& body, const ServerOptions& limits) {
  json j;
  try {
    j = parse_unique_keys(body);
  } catch (const json::parse_error& e) {
    size_t bad = utf8_error_offset(body);
    if (bad != std::string::npos) {
      const std::string field = field_at(body, bad);
      throw bad_field(field, "not valid UTF-8 (byte " + std::to_string(bad) + " of the body)");
    }
    throw HttpError(400, "malformed_json", "body", std::string("body: malformed JSON: ") + e.what());
  }
  return build_segment_input(j, RequestParts{}, limits);
}

SegmentInput parse_multipart_fields(const std::vector<std::pair<std::string, std::string>>& fields,
                                    RequestParts parts, const ServerOptions& limits) {
  json j = json::object();
  for (const auto& [name, value] : fields)
    if (name == "request") {
      try {
        j = parse_unique_keys(value);
      } catch (const json::parse_error& e) {
        size_t bad = utf8_error_offset(value);
        if (bad != std::string::npos) throw bad_field(field_at(value, bad), "not valid UTF-8");
        throw HttpError(400, "malformed_json", "request", std::string("request: malformed JSON: ") + e.what());
      }
      if (!j.is_object()) throw bad_field("request", "must be a JSON object");
    }
  for (const auto& [name, value] : fields) {
    if (name == "request") continue;
    if (!kFields.count(name)) throw bad_field(name, "unknown field (see docs/http-api.md)");
    if (j.contains(name)) throw bad_field(name, "given more than once (as two parts, or as a part and in \"request\")");
    if (kTextFields.count(name) || (name == "classes" && trim(value).compare(0, 1, "[") != 0)) {
      j[name] = value;  // checked (UTF-8, length) by build_segment_input
      continue;
    }
    try {
      j[name] = json::parse(value);
    } catch (const json::parse_error&) {
      if (utf8_error_offset(value) != std::string::npos) throw bad_field(name, "not valid UTF-8");
      throw bad_field(name, "malformed value '" + value.substr(0, 64) + "'");
    }
  }
  // A misspelt field arrives as a part no one asked for: refused like an unknown JSON field.
  const std::set<std::string> wanted = referenced_parts(j);
  for (const auto& [name, _] : parts.files)
    if (!wanted.count(name))
      throw bad_field(name, "unknown field (not a request field, and no mask ref's \"part\" names it; see "
                            "docs/http-api.md)");
  return build_segment_input(j, std::move(parts), limits);
}

}  // namespace xsam_server
