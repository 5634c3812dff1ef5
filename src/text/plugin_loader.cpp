#include "text/plugin_loader.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1  // dlmopen, dladdr, LM_ID_NEWLM
#endif
#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "core/files.h"

namespace xsam {
namespace {

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string executable_path() {
  std::string buffer(4096, '\0');
  ssize_t n = ::readlink("/proc/self/exe", &buffer[0], buffer.size() - 1);
  if (n <= 0) return "";
  buffer.resize(static_cast<size_t>(n));
  return buffer;
}

std::string canonical_path(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (!real) return path;
  std::string out = real;
  std::free(real);
  return out;
}

// The file (shared library or executable) that holds this function.
std::string binary_containing_loader() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<const void*>(&binary_containing_loader), &info) == 0 || !info.dli_fname) return "";
  std::string name = info.dli_fname;
  // For the main program dladdr may answer argv[0] (possibly relative): use /proc/self/exe then.
  if (name.empty() || name.find('/') == std::string::npos) return executable_path();
  // Where the file really lies: a library reached through a symbolic link (e.g. one placed beside the
  // Python package) still finds the plugin installed beside it.
  return canonical_path(name);
}

bool file_exists(const std::string& path) { return file_kind(path) == FileKind::Regular; }

// Tries one file; on failure returns nullptr and says why.
const xsam_spm_api* try_open(const std::string& path, std::string* why) {
  if (!file_exists(path)) {
    *why = "no such file";
    return nullptr;
  }
  ::dlerror();
  void* handle = ::dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* e = ::dlerror();
    *why = std::string("dlmopen failed: ") + (e ? e : "unknown error");
    return nullptr;
  }
  auto entry = reinterpret_cast<xsam_spm_get_api_fn>(::dlsym(handle, XSAM_SPM_ENTRY_POINT));
  const xsam_spm_api* api = entry ? entry() : nullptr;
  if (!api) {
    *why = std::string("not an xsam tokenizer plugin (no ") + XSAM_SPM_ENTRY_POINT + ")";
    ::dlclose(handle);
    return nullptr;
  }
  if (api->abi_version != XSAM_SPM_ABI_VERSION || api->struct_size < sizeof(xsam_spm_api)) {
    *why = "incompatible plugin ABI version " + std::to_string(api->abi_version) + " (expected " +
           std::to_string(XSAM_SPM_ABI_VERSION) + ")";
    ::dlclose(handle);
    return nullptr;
  }
  return api;  // the handle stays open for the life of the process
}

}  // namespace

std::vector<PluginCandidate> tokenizer_plugin_candidates(const std::string& explicit_path) {
  if (!explicit_path.empty()) return {{explicit_path, "argument"}};
  const char* env = std::getenv(kTokenizerPluginEnv);
  if (env && *env) return {{env, std::string("$") + kTokenizerPluginEnv}};

  std::vector<PluginCandidate> out;
  auto add = [&](const std::string& dir, const std::string& origin) {
    if (dir.empty()) return;
    std::string path = dir + "/" + kTokenizerPluginFile;
    for (const auto& c : out)
      if (c.path == path) return;
    out.push_back({path, origin});
  };
  // The private directory xsam/ beside libxsam is where it is installed and where the build puts it.
  std::string loader = binary_containing_loader();
  if (!loader.empty()) {
    add(directory_of(loader) + "/" + kTokenizerPluginDir, "xsam/ beside " + loader);
    add(directory_of(loader), "beside " + loader);
  }
  std::string exe = executable_path();
  if (!exe.empty()) {
    add(directory_of(exe) + "/../lib/" + kTokenizerPluginDir, "../lib/xsam of the executable");
    add(directory_of(exe), "beside the executable");
    add(directory_of(exe) + "/../lib", "../lib of the executable");
  }
  return out;
}

const TokenizerPlugin& load_tokenizer_plugin(const std::string& explicit_path) {
  static std::mutex mutex;
  static std::map<std::string, const TokenizerPlugin*> by_request;  // requested path ("" = search)
  static std::map<std::string, std::unique_ptr<TokenizerPlugin>> by_file;  // canonical file path
  std::lock_guard<std::mutex> lock(mutex);

  const char* env = std::getenv(kTokenizerPluginEnv);
  std::string key = !explicit_path.empty() ? explicit_path : (env && *env ? std::string(env) : std::string());
  auto found = by_request.find(key);
  if (found != by_request.end()) return *found->second;

  std::string tried;
  for (const auto& candidate : tokenizer_plugin_candidates(explicit_path)) {
    // The same file reached by another route is not opened again (one namespace per plugin file).
    std::string canonical = canonical_path(candidate.path);
    auto same = by_file.find(canonical);
    if (same != by_file.end()) return *(by_request[key] = same->second.get());
    std::string why;
    if (const xsam_spm_api* api = try_open(candidate.path, &why)) {
      auto& plugin = by_file[canonical] = std::make_unique<TokenizerPlugin>(TokenizerPlugin{candidate.path, api});
      return *(by_request[key] = plugin.get());
    }
    tried += "\n  " + candidate.path + " (" + candidate.origin + "): " + why;
  }
  fail(Status::Io, std::string("cannot load the tokenizer plugin ") + kTokenizerPluginFile +
                       "; tried:" + (tried.empty() ? std::string("\n  (no candidate path)") : tried) +
                       "\nSet $" + kTokenizerPluginEnv + " to its path or install it beside libxsam.");
}

}  // namespace xsam
