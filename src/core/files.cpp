#include "core/files.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace xsam {

FileKind file_kind(const std::string& path, uint64_t* size) {
  struct stat st {};  // stat, not open: opening a FIFO blocks until someone writes to it
  if (::stat(path.c_str(), &st) != 0) return FileKind::Missing;
  if (S_ISDIR(st.st_mode)) return FileKind::Directory;
  if (!S_ISREG(st.st_mode)) return FileKind::Other;
  if (size) *size = static_cast<uint64_t>(st.st_size);
  return FileKind::Regular;
}

bool expect_regular_file(const std::string& path) {
  const FileKind kind = file_kind(path);
  if (kind == FileKind::Directory || kind == FileKind::Other) fail(Status::Io, path + ": not a regular file");
  return kind == FileKind::Regular;
}

std::string read_regular_file(const std::string& path, const std::string& cannot_open) {
  expect_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(Status::Io, path + ": " + cannot_open);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) fail(Status::Io, path + ": read error");
  return buffer.str();
}

}  // namespace xsam
