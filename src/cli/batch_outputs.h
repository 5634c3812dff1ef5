// What `xsam segment` needs to keep a batch's outputs apart and its resume honest: paths as bytes
// (any byte but '/' and NUL may be in a Linux file name, UTF-8 or not), output names that two inputs
// never share, and a manifest in the output directory that says which input, content and request
// every output came from.
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xsam_cli {

// Well-formed UTF-8 (RFC 3629).
bool is_utf8(const std::string& s);
// `s` with every byte that is not part of valid UTF-8 replaced by U+FFFD: text JSON can hold.
std::string utf8_lossy(const std::string& s);
// Lower-case hex of the bytes.
std::string hex_bytes(const std::string& s);
// Sets j[key] to the path as text; a path that is not UTF-8 also gets j[key + "_bytes"], its exact
// bytes in hex, so that the JSON names the file reversibly.
void put_path(nlohmann::json& j, const std::string& key, const std::string& path);

// sha256 (hex) of a string.
std::string sha256_hex(const std::string& bytes);

// What identifies an input: its absolute path (bytes) and its content.
struct InputFile {
  std::string path;      // as given
  std::string absolute;  // absolute and lexically normal: "a.png" and "./a.png" are the same input
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;    // of the content
};
// Reads size, mtime and the content hash. Returns an error text, empty on success.
std::string fingerprint_input(const std::string& path, InputFile* out);
// The absolute, lexically normal form of a path (no file system access beyond the current directory).
std::string absolute_path(const std::string& path);

// One line of OUT/manifest.jsonl: an output name and what it was computed from.
struct ManifestEntry {
  std::string output;      // the name the outputs share: OUTPUT.json, OUTPUT.overlay.png, ...
  std::string input_id;    // sha256 of the input's absolute path bytes
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string sha256;      // of the input's content
  std::string request_id;  // sha256 of the request description (model, task, prompt, options)
};

class Manifest {
 public:
  static constexpr const char* kFileName = "manifest.jsonl";
  // Reads OUT/manifest.jsonl if it exists (a torn last line from a killed run is ignored; later lines
  // win). Returns an error text, empty on success.
  std::string load(const std::string& out_dir);
  // Appends one line with a single write(2) on an O_APPEND descriptor, so that concurrent runs into
  // one folder never interleave lines. Returns an error text, empty on success.
  std::string append(const ManifestEntry& e, const nlohmann::json& display) const;

  const ManifestEntry* by_output(const std::string& output) const;
  const ManifestEntry* by_input(const std::string& input_id) const;

 private:
  std::string path_;
  std::map<std::string, ManifestEntry> by_output_;
  std::map<std::string, std::string> output_of_input_;
};

// The output name of an input, from its path alone: the file's stem, made safe (valid UTF-8, no
// control characters, at most kMaxStemBytes bytes). When the stem had to be changed, or `taken`
// already holds it (another input of this batch, or of the manifest), the name gets "-" and 12 hex
// digits of the hash of the input's absolute path, so two inputs never share a name.
constexpr size_t kMaxStemBytes = 120;
std::string output_name(const InputFile& in, const std::set<std::string>& taken);

}  // namespace xsam_cli
