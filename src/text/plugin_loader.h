// Finds and loads the SentencePiece plugin (libxsam_tokenizer.so) into a private link-map namespace.
//
// dlmopen(LM_ID_NEWLM, path, RTLD_NOW | RTLD_LOCAL) gives the plugin its own copies of SentencePiece,
// protobuf-lite and the C/C++ runtimes, so they never meet libtorch's protobuf
// (docs/design/decisions.md#tokenizer-isolation). RTLD_DEEPBIND is not used: AddressSanitizer aborts on it. A plugin
// is loaded at most once per path and never unloaded (link-map namespaces are a scarce resource: glibc has 16).
#pragma once
#include <string>
#include <vector>

#include "tokenizer_plugin/xsam_spm_api.h"

namespace xsam {

inline constexpr const char* kTokenizerPluginFile = "libxsam_tokenizer.so";
inline constexpr const char* kTokenizerPluginDir = "xsam";  // private directory beside libxsam
inline constexpr const char* kTokenizerPluginEnv = "XSAM_TOKENIZER_PLUGIN";

struct TokenizerPlugin {
  std::string path;          // the file that was loaded
  const xsam_spm_api* api;   // its function table (lives as long as the process)
};

// Where the plugin is looked for, in order:
//  1. `explicit_path` when non-empty (only that one);
//  2. else $XSAM_TOKENIZER_PLUGIN when set (only that one);
//  3. else xsam/libxsam_tokenizer.so beside the binary that contains this loader (libxsam.so, or the
//     executable when the loader is linked statically), found with dladdr, then beside that binary;
//  4. then in ../lib/xsam of the executable (/proc/self/exe), beside it, and in its ../lib.
// No path of the build or source tree is compiled in: the build puts the plugin in lib/xsam/ beside
// libxsam as the install does.
// Each entry says where it came from, for error messages.
struct PluginCandidate {
  std::string path;
  std::string origin;  // "argument", "$XSAM_TOKENIZER_PLUGIN", "beside the library", ...
};
std::vector<PluginCandidate> tokenizer_plugin_candidates(const std::string& explicit_path = "");

// Loads the first candidate that opens and exports a compatible table. Throws xsam::Failure
// (Status::Io) listing every path tried and why each failed.
const TokenizerPlugin& load_tokenizer_plugin(const std::string& explicit_path = "");

}  // namespace xsam
