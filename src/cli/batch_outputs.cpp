#include "cli/batch_outputs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/sha256.h"
#include "xsam/xsam.h"

namespace xsam_cli {

namespace {

// Length of the UTF-8 sequence starting at s[i] if it is well-formed, else 0 (the library's rule).
size_t utf8_sequence(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;  // what the lead byte announces
  if (i + n > s.size()) return 0;
  return xsam_utf8_valid_prefix(s.data() + i, n) == n ? n : 0;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

bool is_utf8(const std::string& s) { return xsam_utf8_valid_prefix(s.data(), s.size()) == s.size(); }

std::string utf8_lossy(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

std::string hex_bytes(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

void put_path(nlohmann::json& j, const std::string& key, const std::string& path) {
  j[key] = utf8_lossy(path);
  if (!is_utf8(path)) j[key + "_bytes"] = hex_bytes(path);
}

std::string sha256_hex(const std::string& bytes) {
  xsam::Sha256 h;
  h.update(bytes.data(), bytes.size());
  return h.hex_digest();
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(path, ec);
  if (ec) p = path;
  return p.lexically_normal().string();
}

std::string fingerprint_input(const std::string& path, InputFile* out) {
  out->path = path;
  out->absolute = absolute_path(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "cannot read: " + errno_text();
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  out->size = uint64_t(st.st_size);
  out->mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  try {
    out->sha256 = xsam::sha256_file(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::string Manifest::load(const std::string& out_dir) {
  path_ = out_dir + "/" + kFileName;
  std::ifstream in(path_, std::ios::binary);
  if (!in) return "";  // a fresh output directory
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;  // a line torn by a killed run
    try {
      ManifestEntry e;
      e.output = j.at("output").get<std::string>();
      e.input_id = j.at("input_id").get<std::string>();
      e.size = j.at("size").get<uint64_t>();
      e.mtime_ns = j.at("mtime_ns").get<int64_t>();
      e.sha256 = j.at("sha256").get<std::string>();
      e.request_id = j.at("request_id").get<std::string>();
      output_of_input_[e.input_id] = e.output;
      by_output_[e.output] = e;
    } catch (const nlohmann::json::exception&) {
      return path_ + " line " + std::to_string(n) + ": not a manifest entry";
    }
  }
  return "";
}

std::string Manifest::append(const ManifestEntry& e, const nlohmann::json& display) const {
  nlohmann::json j = display;
  j["output"] = e.output;
  j["input_id"] = e.input_id;
  j["size"] = e.size;
  j["mtime_ns"] = e.mtime_ns;
  j["sha256"] = e.sha256;
  j["request_id"] = e.request_id;
  const std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return path_ + ": cannot open: " + errno_text();
  const ssize_t w = ::write(fd, line.data(), line.size());
  const std::string err = w == ssize_t(line.size()) ? "" : path_ + ": write failed: " + errno_text();
  if (::close(fd) != 0 && err.empty()) return path_ + ": write failed: " + errno_text();
  return err;
}

const ManifestEntry* Manifest::by_output(const std::string& output) const {
  auto it = by_output_.find(output);
  return it == by_output_.end() ? nullptr : &it->second;
}

const ManifestEntry* Manifest::by_input(const std::string& input_id) const {
  auto it = output_of_input_.find(input_id);
  if (it == output_of_input_.end()) return nullptr;
  const ManifestEntry* e = by_output(it->second);
  // The name may since have been given to another input (a later line): then this input has none.
  return e && e->input_id == input_id ? e : nullptr;
}

std::string output_name(const InputFile& in, const std::set<std::string>& taken) {
  std::string base = in.path.substr(in.path.find_last_of('/') + 1);
  const size_t dot = base.find_last_of('.');
  std::string stem = dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
  std::string safe = utf8_lossy(stem);
  for (char& c : safe)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '_';
  if (safe.size() > kMaxStemBytes) {
    size_t cut = kMaxStemBytes;
    while (cut > 0 && (static_cast<unsigned char>(safe[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
    safe.resize(cut);
  }
  if (safe.empty()) safe = "image";
  if (safe == stem && !taken.count(safe)) return safe;
  const std::string hash = sha256_hex(in.absolute).substr(0, 12);
  std::string name = safe + "-" + hash;
  // A file literally named like another input's hashed name: lengthen the hash until it is free.
  for (size_t k = 16; taken.count(name) && k <= 64; k += 4) name = safe + "-" + sha256_hex(in.absolute).substr(0, k);
  return name;
}

}  // namespace xsam_cli
