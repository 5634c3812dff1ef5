// xsam_benchmark(): the benchmark of src/pipeline/bench.h behind the C API (what `xsam bench` calls).
#include <string>

#include <nlohmann/json.hpp>

#include "api/handles.h"
#include "core/error.h"
#include "pipeline/bench.h"
#include "xsam/xsam.h"

using namespace xsam;

extern "C" XSAM_API xsam_status xsam_benchmark(const char* model_dir, const char* options_json, char** out_json) {
  return api::run_guarded("xsam_benchmark", [&] {
    if (!model_dir) fail(Status::InvalidArgument, "xsam_benchmark: model_dir is NULL");
    if (!out_json) fail(Status::InvalidArgument, "xsam_benchmark: out_json is NULL");
    *out_json = nullptr;
    nlohmann::json options;
    if (options_json && *options_json) {
      try {
        options = nlohmann::json::parse(options_json);
      } catch (const std::exception& e) {
        fail(Status::InvalidArgument, std::string("xsam_benchmark: options_json is not valid JSON: ") + e.what());
      }
    }
    *out_json = api::duplicate(run_benchmark(model_dir, bench_options_from_json(options)).dump(2));
  });
}
