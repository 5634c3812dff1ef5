// The demo page's files (web/), built into the binary by cmake/XsamServer.cmake so that `xsam serve`
// needs nothing beside itself and works offline.
#pragma once
#include <cstddef>
#include <string>

namespace xsam_server {

struct StaticAsset {
  const char* path;  // "/index.html", "/app.js", ...
  const unsigned char* data;
  size_t size;
};

// The asset at `path` ("/" is "/index.html"), or nullptr. Defined in the generated web_assets.cpp.
const StaticAsset* find_static_asset(const std::string& path);

// MIME type by file extension.
const char* mime_type(const std::string& path);

}  // namespace xsam_server
