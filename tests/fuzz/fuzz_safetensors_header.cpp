// Fuzz target: the safetensors header parser (src/io/safetensors.h), pure — no I/O, no torch.
// The input is a whole "file"; the parser must either reject it with Status::Format or return a header
// whose every tensor lies inside the data area, sized shape × dtype, without overlaps.
#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace xsam;
  fuzz::expect_clean([&] {
    // Copy into an exactly-sized buffer so that ASan sees any read past the end.
    std::vector<uint8_t> buf(data, data + size);
    StHeader h = parse_safetensors_header(buf.data(), buf.size(), buf.size(), "fuzz.safetensors");
    const uint64_t data_size = size - h.data_offset;
    if (h.data_offset < 8 || h.data_offset > size) fuzz::finding("data offset outside the file");
    uint64_t prev_end = 0;
    for (const auto& t : h.tensors) {
      if (t.begin > t.end || t.end > data_size) fuzz::finding("tensor byte range outside the data area");
      if (t.begin < prev_end) fuzz::finding("tensors overlap");
      prev_end = t.end;
      // Byte length must equal numel × dtype size, computed without overflow.
      unsigned __int128 numel = 1;
      for (int64_t d : t.shape) {
        if (d < 0) fuzz::finding("negative dimension");
        numel *= static_cast<unsigned __int128>(d);
        if (numel > (static_cast<unsigned __int128>(1) << 64)) numel = static_cast<unsigned __int128>(1) << 64;
      }
      if (numel * st_dtype_size(t.dtype) != t.end - t.begin) fuzz::finding("byte length does not match shape x dtype");
    }
  });
  return 0;
}
