// A finished job as the HTTP answer: the library's result JSON (the schema of `xsam segment`,
// docs/result-json.md) plus the overlay PNG (base64) and the server's own timings.
#pragma once
#include <map>
#include <string>

#include "server/job.h"

namespace xsam_server {

struct SegmentReply {
  std::string body;                       // the JSON text
  std::map<std::string, double> timings;  // the result's stage timings, for /metrics
  bool image_cache_hit = false;
};

// Throws HttpError when the job failed (status from the library's error) or the result cannot be encoded.
SegmentReply build_reply(const Job& job);

}  // namespace xsam_server
