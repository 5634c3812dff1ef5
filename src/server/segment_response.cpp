#include "server/segment_response.h"

#include <nlohmann/json.hpp>

#include "server/http_error.h"
#include "server/text_codec.h"

namespace xsam_server {

SegmentReply build_reply(const Job& job) {
  if (job.status() != XSAM_OK) throw error_from_status(job.status(), job.error());
  const xsam_result* r = job.result();
  if (!r) throw HttpError(500, "internal", "request", "the worker returned no result");

  char* text = nullptr;
  if (xsam_status s = xsam_result_json(r, &text)) throw error_from_status(s, xsam_last_error());
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  xsam_free(text);
  if (j.is_discarded()) throw HttpError(500, "internal", "result", "the result JSON does not parse");

  if (job.input.overlay) {
    uint8_t* png = nullptr;
    size_t size = 0;
    if (xsam_status s = xsam_result_overlay_png(r, &job.input.image, &png, &size)) throw error_from_status(s, xsam_last_error());
    j["overlay_png"] = base64_encode(png, size);
    xsam_free(png);
  }
  j["server"] = {{"queue_seconds", job.queue_seconds()},
                 {"total_seconds", job.total_seconds()},
                 {"worker", job.worker()},
                 {"generated_tokens", job.n_tokens()}};

  SegmentReply reply;
  if (j.contains("timings") && j["timings"].is_object())
    for (const auto& [stage, v] : j["timings"].items())
      if (v.is_number()) reply.timings[stage] = v.get<double>();
  reply.image_cache_hit = j.value("image_cache_hit", false);
  // Generated text may hold bytes that are not UTF-8 (a token cut mid-character): replace, never fail.
  reply.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return reply;
}

}  // namespace xsam_server
