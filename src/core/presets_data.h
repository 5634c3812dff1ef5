// The text of src/core/presets.json, embedded at build time (cmake/XsamPresets.cmake). config.cpp reads the
// presets from it; tools/xsam-export reads the same file from the source tree.
#pragma once

namespace xsam {

const char* presets_json();

}  // namespace xsam
