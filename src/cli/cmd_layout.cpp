// xsam layout [--json] CONFIG | --preset NAME
//
// Prints the checkpoint layout of a config: every tensor name and shape that upstream's checkpoint for it
// holds, and which of them inference never reads (models/checkpoint_layout.h). tools/xsam-export checks
// checkpoints against this instead of keeping a copy of its own. Like `xsam bench`, a tool over the static
// layers: the layout is not part of the C API.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/config.h"
#include "core/error.h"
#include "core/files.h"
#include "models/checkpoint_layout.h"

using namespace xsam_cli;
using nlohmann::json;

namespace {

const char* kUsage =
    "usage: xsam layout [--json] CONFIG | --preset tiny|full\n\n"
    "  CONFIG          a config.json (xsam's or upstream-style) or a model directory holding one\n"
    "  --preset NAME   a built-in size preset instead (aaai26 behaviour)\n"
    "  --json          print {source, parameters, tensors: [{name, shape, group, optional}]}:\n"
    "                  group \"\" = read by inference, else the unused group the tensor belongs to;\n"
    "                  optional = a checkpoint may lack that group as a whole\n";

xsam::ModelConfig read_config(const std::string& path) {
  const bool dir = xsam::file_kind(path) == xsam::FileKind::Directory;
  return xsam::load_model_config(dir ? path + "/config.json" : path);
}

json layout_json(const xsam::ModelConfig& config) {
  json tensors = json::array();
  int64_t parameters = 0;
  for (const auto& t : xsam::checkpoint_layout(config)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    parameters += n;
    tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"group", t.group}, {"optional", t.optional}});
  }
  return {{"source", config.source}, {"parameters", parameters}, {"tensors", tensors}};
}

void print_table(const json& layout) {
  for (const auto& t : layout["tensors"]) {
    std::string shape;
    for (const auto& d : t["shape"]) shape += (shape.empty() ? "" : ", ") + std::to_string(d.get<int64_t>());
    const std::string group = t["group"].get<std::string>();
    std::printf("%-90s [%s]%s\n", t["name"].get<std::string>().c_str(), shape.c_str(),
                group.empty() ? "" : ("  unused: " + group + (t["optional"].get<bool>() ? " (optional)" : "")).c_str());
  }
  std::printf("%zu tensors, %lld parameters (%s)\n", layout["tensors"].size(),
              static_cast<long long>(layout["parameters"].get<int64_t>()), layout["source"].get<std::string>().c_str());
}

}  // namespace

int cmd_layout(int argc, char** argv) {
  Args a(argc, argv, 2);
  if (a.flag("--help") || a.flag("-h")) {
    std::printf("%s", kUsage);
    return 0;
  }
  const bool as_json = a.flag("--json");
  std::string preset;
  const bool from_preset = a.option("--preset", &preset);
  auto pos = a.positionals();
  if (pos.size() != (from_preset ? 0u : 1u)) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  try {
    const xsam::ModelConfig config = from_preset ? xsam::size_preset(preset) : read_config(pos[0]);
    const json layout = layout_json(config);
    if (as_json) std::printf("%s\n", layout.dump().c_str());
    else print_table(layout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xsam layout: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
