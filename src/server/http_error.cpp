#include "server/http_error.h"

#include <cctype>

#include <nlohmann/json.hpp>

namespace xsam_server {

std::string error_json(int status, const std::string& code, const std::string& field, const std::string& message) {
  nlohmann::json j = {{"error", {{"status", status}, {"code", code}, {"field", field}, {"message", message}}}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

// The library's messages start with what they are about: "refs: ...", "params.top_p: ...",
// "visual ref 1 (point): ...", "image: ...". Map that to the request's field names.
std::string field_of_message(const std::string& m) {
  const std::string vref = "visual ref ";
  if (m.compare(0, vref.size(), vref) == 0) {
    size_t i = vref.size(), j = i;
    while (j < m.size() && std::isdigit(static_cast<unsigned char>(m[j]))) ++j;
    return j > i ? "refs[" + m.substr(i, j - i) + "]" : "refs";
  }
  size_t colon = m.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 40) return "request";
  std::string head = m.substr(0, colon);
  for (char c : head)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '[' || c == ']')) return "request";
  const std::string params = "params.";
  if (head.compare(0, params.size(), params) == 0) head = head.substr(params.size());
  return head;
}

}  // namespace

HttpError error_from_status(xsam_status status, const std::string& raw) {
  // Every API message starts with its field, as the server's own do.
  auto with_field = [&](const std::string& field) {
    return raw.compare(0, field.size() + 1, field + ":") == 0 ? raw : field + ": " + raw;
  };
  const std::string field = field_of_message(raw);
  switch (status) {
    case XSAM_ERR_INVALID_ARGUMENT: return HttpError(400, "invalid_argument", field, with_field(field));
    case XSAM_ERR_FORMAT: return HttpError(400, "format", field, with_field(field));
    case XSAM_ERR_LIMIT: return HttpError(413, "limit", field, with_field(field));
    case XSAM_ERR_UNSUPPORTED: return HttpError(422, "unsupported", field, with_field(field));
    case XSAM_ERR_CANCELLED: return HttpError(499, "cancelled", "request", with_field("request"));
    case XSAM_ERR_OUT_OF_MEMORY: return HttpError(503, "out_of_memory", "request", with_field("request"));
    default:
      return HttpError(500, "internal", "request", "request: " + std::string(xsam_status_name(status)) + ": " + raw);
  }
}

}  // namespace xsam_server
