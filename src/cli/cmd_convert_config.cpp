// xsam convert-config UPSTREAM_CONFIG OUT_JSON: upstream-style config.json (golden sets) → xsam's own.
#include <cstdio>

#include "cli/cli_common.h"

using namespace xsam_cli;

int cmd_convert_config(int argc, char** argv) {
  Args a(argc, argv, 2);
  auto pos = a.positionals();
  if (pos.size() != 2) {
    std::fprintf(stderr, "usage: xsam convert-config UPSTREAM_CONFIG OUT_JSON\n");
    return 2;
  }
  if (xsam_status s = xsam_convert_config(pos[0].c_str(), pos[1].c_str())) return report("convert-config", s);
  return 0;
}
