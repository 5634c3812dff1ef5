// A request the server refuses: the HTTP status, a machine-readable code, the request field at fault and
// a sentence for people. Thrown while a request is parsed; turned into
// {"error": {"code", "field", "message"}} by error_json().
#pragma once
#include <stdexcept>
#include <string>

#include "xsam/xsam.h"

namespace xsam_server {

struct HttpError : std::runtime_error {
  int status;
  std::string code;   // invalid_argument, limit, unsupported_media_type, queue_full, timeout, ...
  std::string field;  // "image", "refs[2].xy", "prompt", "body", ...
  HttpError(int status_, std::string code_, std::string field_, const std::string& message)
      : std::runtime_error(message), status(status_), code(std::move(code_)), field(std::move(field_)) {}
};

inline HttpError bad_field(const std::string& field, const std::string& message) {
  return HttpError(400, "invalid_argument", field, field + ": " + message);
}
inline HttpError over_limit(const std::string& field, const std::string& message) {
  return HttpError(413, "limit", field, field + ": " + message);
}

// {"error": {...}} as text.
std::string error_json(int status, const std::string& code, const std::string& field, const std::string& message);
inline std::string error_json(const HttpError& e) { return error_json(e.status, e.code, e.field, e.what()); }

// A failed xsam_segment call as an HttpError: the status picks the HTTP code, the message's leading
// "name:" (or "visual ref K") picks the field.
HttpError error_from_status(xsam_status status, const std::string& message);

}  // namespace xsam_server
