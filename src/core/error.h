// xsam::Failure — the one exception type used inside the library. Every message names the file,
// tensor, field or argument at fault; src/api/ turns it into an xsam_status + thread-local text.
// (Not "Error": the public C++ wrapper's exception is xsam::Error, and a program may hold both.)
#pragma once
#include <stdexcept>
#include <string>

namespace xsam {

enum class Status {
  Ok = 0,
  InvalidArgument = 1,
  Io = 2,
  Format = 3,
  Model = 4,
  Unsupported = 5,
  Limit = 6,
  Cancelled = 7,
  OutOfMemory = 8,
  Internal = 9,
};

class Failure : public std::runtime_error {
 public:
  Failure(Status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  Status status() const { return status_; }

 private:
  Status status_;
};

[[noreturn]] inline void fail(Status status, const std::string& message) { throw Failure(status, message); }

}  // namespace xsam
