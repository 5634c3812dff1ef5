// Safetensors I/O. The reader mmaps the file, validates the header strictly (sane length, known dtypes,
// every byte range inside the data area, no overlaps, byte length = shape × dtype size) and hands out
// zero-copy tensors that keep the mapping alive. Every error names the file and the tensor.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

namespace xsam {

enum class StDtype { F32, F16, BF16, I64, I32, U8, BOOL };

struct StTensorInfo {
  std::string name;
  StDtype dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets relative to the start of the data area
  uint64_t end = 0;
};

struct StHeader {
  std::vector<StTensorInfo> tensors;            // in file order of the data area
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t data_offset = 0;                     // 8 + header length
};

size_t st_dtype_size(StDtype d);
const char* st_dtype_name(StDtype d);
torch::Dtype st_to_torch(StDtype d);
StDtype st_from_torch(torch::Dtype d, const std::string& what);

// Parses and validates the header of a safetensors file of `file_size` bytes whose first bytes are
// `bytes` (at least min(file_size, 8 + header length) of them). Pure: no torch, no I/O (fuzzed).
StHeader parse_safetensors_header(const uint8_t* bytes, uint64_t available, uint64_t file_size,
                                  const std::string& filename);

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const StHeader& header() const { return header_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const StTensorInfo& info(const std::string& name) const;
  std::vector<std::string> names() const;
  // Zero-copy view of the mapped bytes (read-only data; never write into it). Keeps the file mapped.
  torch::Tensor tensor(const std::string& name) const;
  // Raw bytes of one tensor (for checksums, fuzzing).
  const uint8_t* data(const std::string& name) const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  StHeader header_;
  std::map<std::string, size_t> index_;
};

// Convenience: every tensor of a file, copied out of the mapping (small files: goldens, tests).
std::map<std::string, torch::Tensor> load_safetensors(const std::string& path);

// Writer. Tensors are written contiguous, in the given order; metadata goes to "__metadata__".
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Streaming writer for files too large to hold in memory (full-size random models): the header is
// written first from the declared specs, then each tensor in declaration order. Computes the file's
// sha256 on the way. Writes to `path`.tmp and renames on finish().
class SafetensorsStreamWriter {
 public:
  struct Spec {
    std::string name;
    StDtype dtype;
    std::vector<int64_t> shape;
  };
  SafetensorsStreamWriter(const std::string& path, std::vector<Spec> specs,
                          const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsStreamWriter();
  void write_next(const torch::Tensor& t);  // must match the next spec's dtype and shape
  std::string finish();                     // returns the sha256 hex of the whole file

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xsam
