// Reading small files whole (configs, tokenizer files, images) and the one check they share: the name must
// be a regular file. A FIFO or a device (/dev/zero) behind the name would block or never end, so anything
// else is refused before it is opened.
#pragma once
#include <cstdint>
#include <string>

namespace xsam {

enum class FileKind { Missing, Regular, Directory, Other };  // Missing: stat fails (absent, or not reachable)

// What `path` names; *size gets its size in bytes when it is a regular file.
FileKind file_kind(const std::string& path, uint64_t* size = nullptr);

// Whether `path` exists; fails with Status::Io "<path>: not a regular file" when it names anything but a
// regular file.
bool expect_regular_file(const std::string& path);

// The whole file. Fails with Status::Io: "<path>: not a regular file", "<path>: <cannot_open>" when it cannot
// be opened, "<path>: read error".
std::string read_regular_file(const std::string& path, const std::string& cannot_open = "cannot open");

}  // namespace xsam
