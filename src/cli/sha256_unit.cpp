// The library's SHA-256, compiled into the command too: the batch manifest hashes its inputs, and
// libxsam exports nothing but the C API.
#include "io/sha256.cpp"  // NOLINT(bugprone-suspicious-include)
