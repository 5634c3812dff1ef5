// Finding and loading libxsam_tokenizer.so (dlmopen into its own namespace;
// docs/design/decisions.md#tokenizer-isolation).
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <stdlib.h>

#include <cmath>

#include "core/error.h"
#include "text/plugin_loader.h"
#include "text/tokenizer.h"
#include "text_test_util.h"

using namespace xsam;

namespace {

std::string load_error(const std::string& explicit_path) {
  try {
    load_tokenizer_plugin(explicit_path);
  } catch (const Failure& e) {
    EXPECT_EQ(e.status(), Status::Io);
    return e.what();
  }
  return "";
}

// Sets an environment variable for the scope, restoring the old value.
struct ScopedEnv {
  std::string name, old;
  bool had;
  ScopedEnv(const char* n, const char* value) : name(n) {
    const char* o = getenv(n);
    had = o != nullptr;
    if (had) old = o;
    if (value) setenv(n, value, 1); else unsetenv(n);
  }
  ~ScopedEnv() {
    if (had) setenv(name.c_str(), old.c_str(), 1); else unsetenv(name.c_str());
  }
};

}  // namespace

TEST(PluginLoader, DefaultSearchFindsThePluginBesideTheBuild) {
  ScopedEnv env(kTokenizerPluginEnv, nullptr);
  auto candidates = tokenizer_plugin_candidates();
  ASSERT_GE(candidates.size(), 2u);
  // The loader is linked into this test executable: "beside the library" is bin/, then ../lib.
  bool has_lib = false;
  for (const auto& c : candidates) has_lib |= c.path.find("/bin/../lib/libxsam_tokenizer.so") != std::string::npos;
  EXPECT_TRUE(has_lib);
  const TokenizerPlugin& plugin = load_tokenizer_plugin();
  EXPECT_EQ(plugin.api->abi_version, XSAM_SPM_ABI_VERSION);
  EXPECT_EQ(&load_tokenizer_plugin(), &plugin);             // loaded once ...
  EXPECT_EQ(&load_tokenizer_plugin(plugin.path), &plugin);  // ... whatever the route to the same file
}

// The C table itself: load from a file, error text owned (and freed) by the plugin.
TEST(PluginLoader, PluginCInterface) {
  const xsam_spm_api* api = load_tokenizer_plugin(test::tokenizer_plugin()).api;
  char* error = nullptr;
  std::string path = test::fixture_tokenizer_dir() + "/tokenizer.model";
  xsam_spm* model = api->load_file(path.c_str(), &error);
  ASSERT_NE(model, nullptr) << (error ? error : "");
  EXPECT_EQ(api->vocab_size(model), 32000);
  size_t len = 0;
  const char* piece = api->id_to_piece(model, 278, &len);
  EXPECT_EQ(std::string(piece, len), "\xE2\x96\x81the");
  EXPECT_EQ(api->id_to_piece(model, 32000, &len), nullptr);
  EXPECT_EQ(api->piece_to_id(model, "\xE2\x96\x81the", 6), 278);
  EXPECT_EQ(api->piece_to_id(model, "<unk>", 5), 0);
  EXPECT_EQ(api->piece_to_id(model, "no such piece", 13), -1);
  EXPECT_EQ(api->piece_type(model, 0), XSAM_SPM_PIECE_UNKNOWN);
  EXPECT_EQ(api->piece_type(model, 1), XSAM_SPM_PIECE_CONTROL);
  EXPECT_EQ(api->piece_type(model, 13), XSAM_SPM_PIECE_BYTE);
  EXPECT_EQ(api->piece_type(model, 278), XSAM_SPM_PIECE_NORMAL);
  int32_t* ids = nullptr;
  size_t n = 0;
  ASSERT_EQ(api->encode(model, "the", 3, 1, &ids, &n, &error), 0);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(ids[0], 278);  // "▁the": dummy prefix
  api->free_ids(ids);
  ASSERT_EQ(api->encode(model, "the", 3, 0, &ids, &n, &error), 0);
  ASSERT_EQ(n, 1u);
  EXPECT_EQ(ids[0], 1552);  // "the": none
  api->free_ids(ids);
  api->free_model(model);

  EXPECT_EQ(api->load_file("/no/such/tokenizer.model", &error), nullptr);
  ASSERT_NE(error, nullptr);
  EXPECT_NE(std::string(error).find("/no/such/tokenizer.model"), std::string::npos) << error;
  api->free_string(error);
  error = nullptr;
  EXPECT_EQ(api->load_bytes("garbage", 7, &error), nullptr);
  ASSERT_NE(error, nullptr);
  api->free_string(error);
}

TEST(PluginLoader, ExplicitPathAndEnvironmentAreExclusive) {
  EXPECT_EQ(tokenizer_plugin_candidates("/x/y.so").size(), 1u);
  ScopedEnv env(kTokenizerPluginEnv, "/nowhere/libxsam_tokenizer.so");
  auto c = tokenizer_plugin_candidates();
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].path, "/nowhere/libxsam_tokenizer.so");
  EXPECT_EQ(c[0].origin, "$XSAM_TOKENIZER_PLUGIN");
}

TEST(PluginLoader, MissingPluginErrorNamesEveryPathTried) {
  std::string e = load_error("/no/such/dir/libxsam_tokenizer.so");
  EXPECT_NE(e.find("/no/such/dir/libxsam_tokenizer.so"), std::string::npos) << e;
  EXPECT_NE(e.find("no such file"), std::string::npos) << e;
  EXPECT_NE(e.find("XSAM_TOKENIZER_PLUGIN"), std::string::npos) << e;

  ScopedEnv env(kTokenizerPluginEnv, "/also/missing.so");
  e = load_error("");
  EXPECT_NE(e.find("/also/missing.so ($XSAM_TOKENIZER_PLUGIN)"), std::string::npos) << e;

  // Through the tokenizer: the same error reaches the caller.
  TokenizerOptions options;
  options.plugin_path = "/no/such/plugin.so";
  try {
    Tokenizer::from_directory(test::fixture_tokenizer_dir(), options);
    ADD_FAILURE() << "no error";
  } catch (const Failure& err) {
    EXPECT_NE(std::string(err.what()).find("/no/such/plugin.so"), std::string::npos) << err.what();
  }
}

TEST(PluginLoader, ALibraryThatIsNotThePluginIsRefused) {
  // libm: a real shared library without the plugin's entry point (found where this process has it).
  Dl_info info{};
  double (*cosine)(double) = &std::cos;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(cosine), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  std::string e = load_error(info.dli_fname);
  EXPECT_NE(e.find(info.dli_fname), std::string::npos) << e;
  EXPECT_NE(e.find("not an xsam tokenizer plugin"), std::string::npos) << e;
  std::string text_file = test::data_dir() + "/tokenizer/SOURCE.md";
  e = load_error(text_file);
  EXPECT_NE(e.find(text_file), std::string::npos) << e;
  EXPECT_NE(e.find("dlmopen failed"), std::string::npos) << e;
}
