// Small helpers shared by the subcommands: argument parsing and error reporting over the C API.
#pragma once
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "xsam/xsam.h"

namespace xsam_cli {

// Prints "xsam <cmd>: <status>: <message>" and returns the process exit code for a failed call.
inline int report(const char* cmd, xsam_status s) {
  std::fprintf(stderr, "xsam %s: %s: %s\n", cmd, xsam_status_name(s), xsam_last_error());
  return 1;
}

// A tiny argv walker: options (--name value / --flag) and positionals, in any order.
class Args {
 public:
  Args(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) items_.push_back(argv[i]);
  }
  bool flag(const std::string& name) {
    for (size_t i = 0; i < items_.size(); ++i)
      if (items_[i] == name) {
        items_.erase(items_.begin() + i);
        return true;
      }
    return false;
  }
  // Returns false when absent; exits with a message when the value is missing.
  bool option(const std::string& name, std::string* value) {
    for (size_t i = 0; i < items_.size(); ++i)
      if (items_[i] == name) {
        if (i + 1 >= items_.size()) {
          std::fprintf(stderr, "xsam: option %s needs a value\n", name.c_str());
          std::exit(2);
        }
        *value = items_[i + 1];
        items_.erase(items_.begin() + i, items_.begin() + i + 2);
        return true;
      }
    return false;
  }
  std::vector<std::string> all(const std::string& name) {
    std::vector<std::string> out;
    std::string v;
    while (option(name, &v)) out.push_back(v);
    return out;
  }
  // Whatever is left; unknown options are an error.
  std::vector<std::string> positionals() const {
    for (const auto& s : items_)
      if (s.size() > 1 && s[0] == '-' && s[1] == '-') {
        std::fprintf(stderr, "xsam: unknown option %s\n", s.c_str());
        std::exit(2);
      }
    return items_;
  }

 private:
  std::vector<std::string> items_;
};

// The whole string as a decimal integer: no leading blanks, no trailing characters, no overflow.
inline bool parse_int(const std::string& s, long long* out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || !end || *end != '\0') return false;
  *out = v;
  return true;
}

// Strict number options: the whole value, in range, or a message naming the option and the value.
// (strtof("0.9x") is 0.9 and strtof("foo") is 0: a typo must not become a silent default.)
// --dtype NAME through the library's names ("auto", "fp32", "bf16"): "" when it is one, else the error.
// AUTO is bf16 where the CPU path has AVX-512 and fp32 below it (where bf16 GEMMs are ~100x slower).
inline std::string dtype_option(const std::string& text, xsam_dtype* out) {
  if (xsam_dtype_from_name(text.c_str(), out) == XSAM_OK) return "";
  return "--dtype: \"" + text + "\" is not a dtype (auto, fp32, bf16)";
}

inline std::string int_option(const std::string& name, const std::string& text, long long lo, long long hi,
                              long long* out) {
  if (parse_int(text, out) && *out >= lo && *out <= hi) return "";
  return name + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + text + "'";
}

inline std::string u64_option(const std::string& name, const std::string& text, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))
                                   ? 0 : std::strtoull(text.c_str(), &end, 10);
  if (!end || *end != '\0' || errno == ERANGE)
    return name + ": expected an integer in [0, 18446744073709551615], got '" + text + "'";
  *out = v;
  return "";
}

// A finite decimal number in [lo, hi] (lo_open: lo itself excluded).
inline std::string float_option(const std::string& name, const std::string& text, double lo, double hi, bool lo_open,
                                float* out) {
  char* end = nullptr;
  errno = 0;
  const bool blank = text.empty() || std::isspace(static_cast<unsigned char>(text[0]));
  const double v = blank ? 0 : std::strtod(text.c_str(), &end);
  const bool in_range = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
  if (!blank && end && *end == '\0' && errno != ERANGE && in_range) {
    *out = float(v);
    return "";
  }
  char range[96];
  std::snprintf(range, sizeof range, "%c%g, %g]", lo_open ? '(' : '[', lo, hi);
  return name + ": expected a number in " + range + ", got '" + text + "'";
}

}  // namespace xsam_cli
