// Small helpers shared by the subcommands: argument parsing and error reporting over the C API.
#pragma once
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

inline bool parse_int(const std::string& s, long long* out) {
  char* end = nullptr;
  *out = std::strtoll(s.c_str(), &end, 10);
  return !s.empty() && end && *end == '\0';
}

}  // namespace xsam_cli
