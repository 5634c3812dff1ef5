// Strict, path-aware access to JSON objects: every missing or mistyped field becomes an xsam::Failure
// that names the file and the full field path ("config.json: llm.hidden_size: ...").
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace xsam {

class Fields {
 public:
  Fields(const nlohmann::json& j, std::string source, std::string prefix = "")
      : j_(j), source_(std::move(source)), prefix_(std::move(prefix)) {
    if (!j_.is_object()) fail(Status::Format, where() + "must be a JSON object");
  }

  std::string path(const std::string& key) const { return source_ + ": " + prefix_ + key; }
  bool has(const std::string& key) const { return j_.contains(key); }
  bool is_null(const std::string& key) const { return !j_.contains(key) || j_.at(key).is_null(); }

  const nlohmann::json& get(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail(Status::Format, path(key) + ": missing field");
    return *it;
  }
  Fields object(const std::string& key) const { return Fields(get(key), source_, prefix_ + key + "."); }

  std::string str(const std::string& key) const {
    const auto& v = get(key);
    if (!v.is_string()) fail(Status::Format, path(key) + ": must be a string");
    return v.get<std::string>();
  }
  long long integer(const std::string& key) const {
    const auto& v = get(key);
    if (!v.is_number_integer()) fail(Status::Format, path(key) + ": must be an integer");
    return v.get<long long>();
  }
  // Indices, versions, window sizes: integers that must also fit an int (|v| <= 2^20), so that a huge value
  // cannot wrap around into a plausible one.
  int small_int(const std::string& key) const {
    long long v = integer(key);
    if (v < -(1LL << 20) || v > (1LL << 20)) fail(Status::Format, path(key) + ": out of range, got " + std::to_string(v));
    return static_cast<int>(v);
  }
  // Sizes: positive and small enough that products of a few of them cannot overflow.
  int positive(const std::string& key) const {
    long long v = integer(key);
    if (v <= 0 || v > (1LL << 20)) fail(Status::Format, path(key) + ": must be in [1, 1048576], got " + std::to_string(v));
    return static_cast<int>(v);
  }
  double real(const std::string& key) const {
    const auto& v = get(key);
    if (!v.is_number()) fail(Status::Format, path(key) + ": must be a number");
    return v.get<double>();
  }
  bool boolean(const std::string& key) const {
    const auto& v = get(key);
    if (!v.is_boolean()) fail(Status::Format, path(key) + ": must be true or false");
    return v.get<bool>();
  }
  std::vector<int> int_list(const std::string& key) const {
    const auto& v = get(key);
    if (!v.is_array()) fail(Status::Format, path(key) + ": must be a list of integers");
    std::vector<int> out;
    for (const auto& e : v) {
      if (!e.is_number_integer()) fail(Status::Format, path(key) + ": must be a list of integers");
      long long x = e.get<long long>();
      if (x < -(1LL << 20) || x > (1LL << 20)) fail(Status::Format, path(key) + ": entry out of range");
      out.push_back(static_cast<int>(x));
    }
    return out;
  }
  std::vector<double> real_list(const std::string& key) const {
    const auto& v = get(key);
    if (!v.is_array()) fail(Status::Format, path(key) + ": must be a list of numbers");
    std::vector<double> out;
    for (const auto& e : v) {
      if (!e.is_number()) fail(Status::Format, path(key) + ": must be a list of numbers");
      out.push_back(e.get<double>());
    }
    return out;
  }

 private:
  std::string where() const { return source_ + ": " + (prefix_.empty() ? std::string("top level ") : prefix_ + " "); }
  const nlohmann::json& j_;
  std::string source_;
  std::string prefix_;
};

}  // namespace xsam
