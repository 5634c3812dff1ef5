#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/error.h"
#include "io/sha256.h"

namespace xsam {

using nlohmann::json;

// A header larger than this is not a model header but a corrupt length field.
static constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

size_t st_dtype_size(StDtype d) {
  switch (d) {
    case StDtype::F32: case StDtype::I32: return 4;
    case StDtype::F16: case StDtype::BF16: return 2;
    case StDtype::I64: return 8;
    case StDtype::U8: case StDtype::BOOL: return 1;
  }
  return 0;
}

const char* st_dtype_name(StDtype d) {
  switch (d) {
    case StDtype::F32: return "F32";
    case StDtype::F16: return "F16";
    case StDtype::BF16: return "BF16";
    case StDtype::I64: return "I64";
    case StDtype::I32: return "I32";
    case StDtype::U8: return "U8";
    case StDtype::BOOL: return "BOOL";
  }
  return "?";
}

torch::Dtype st_to_torch(StDtype d) {
  switch (d) {
    case StDtype::F32: return torch::kFloat32;
    case StDtype::F16: return torch::kFloat16;
    case StDtype::BF16: return torch::kBFloat16;
    case StDtype::I64: return torch::kInt64;
    case StDtype::I32: return torch::kInt32;
    case StDtype::U8: return torch::kUInt8;
    case StDtype::BOOL: return torch::kBool;
  }
  return torch::kFloat32;
}

StDtype st_from_torch(torch::Dtype d, const std::string& what) {
  if (d == torch::kFloat32) return StDtype::F32;
  if (d == torch::kFloat16) return StDtype::F16;
  if (d == torch::kBFloat16) return StDtype::BF16;
  if (d == torch::kInt64) return StDtype::I64;
  if (d == torch::kInt32) return StDtype::I32;
  if (d == torch::kUInt8) return StDtype::U8;
  if (d == torch::kBool) return StDtype::BOOL;
  fail(Status::Unsupported, what + ": dtype cannot be stored in safetensors");
}

static bool parse_dtype(const std::string& s, StDtype* out) {
  static const std::pair<const char*, StDtype> table[] = {
      {"F32", StDtype::F32}, {"F16", StDtype::F16}, {"BF16", StDtype::BF16}, {"I64", StDtype::I64},
      {"I32", StDtype::I32}, {"U8", StDtype::U8},   {"BOOL", StDtype::BOOL}};
  for (const auto& [name, d] : table)
    if (s == name) { *out = d; return true; }
  return false;
}

StHeader parse_safetensors_header(const uint8_t* bytes, uint64_t available, uint64_t file_size,
                                  const std::string& filename) {
  const std::string f = filename + ": ";
  if (file_size < 8 || available < 8) fail(Status::Format, f + "file too small for a safetensors header (" +
                                                               std::to_string(file_size) + " bytes)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian u64
  if (n < 2 || n > kMaxHeaderBytes)
    fail(Status::Format, f + "implausible header length " + std::to_string(n) + " (truncated or not safetensors)");
  if (n > file_size - 8)
    fail(Status::Format, f + "header length " + std::to_string(n) + " exceeds the file size " +
                             std::to_string(file_size) + " (truncated file)");
  if (available < 8 + n) fail(Status::Internal, f + "header bytes not provided");
  json j;
  try {
    j = json::parse(bytes + 8, bytes + 8 + n);
  } catch (const json::exception& e) {
    fail(Status::Format, f + "header is not valid JSON: " + e.what());
  }
  if (!j.is_object()) fail(Status::Format, f + "header must be a JSON object");

  StHeader h;
  h.data_offset = 8 + n;
  const uint64_t data_size = file_size - h.data_offset;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object()) fail(Status::Format, f + "__metadata__ must be an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(Status::Format, f + "__metadata__." + m.key() + " must be a string");
        h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const std::string t = f + "tensor '" + name + "': ";
    const json& v = *it;
    if (!v.is_object()) fail(Status::Format, t + "entry must be an object");
    StTensorInfo info;
    info.name = name;
    if (!v.contains("dtype") || !v["dtype"].is_string()) fail(Status::Format, t + "missing or non-string dtype");
    if (!parse_dtype(v["dtype"].get<std::string>(), &info.dtype))
      fail(Status::Format, t + "unsupported dtype '" + v["dtype"].get<std::string>() + "'");
    if (!v.contains("shape") || !v["shape"].is_array()) fail(Status::Format, t + "missing or invalid shape");
    if (v["shape"].size() > 16) fail(Status::Format, t + "too many dimensions");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) fail(Status::Format, t + "shape entries must be non-negative integers");
      uint64_t x = d.get<uint64_t>();
      if (x > (1ull << 40) || (x != 0 && numel > (1ull << 62) / x)) fail(Status::Format, t + "shape too large");
      numel *= x;
      info.shape.push_back(static_cast<int64_t>(x));
    }
    const json* off = v.contains("data_offsets") ? &v["data_offsets"] : nullptr;
    if (!off || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail(Status::Format, t + "data_offsets must be [begin, end]");
    info.begin = (*off)[0].get<uint64_t>();
    info.end = (*off)[1].get<uint64_t>();
    if (info.end < info.begin) fail(Status::Format, t + "data_offsets end < begin");
    if (info.end > data_size)
      fail(Status::Format, t + "byte range [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                               ") lies outside the data area of " + std::to_string(data_size) +
                               " bytes (truncated file?)");
    // numel <= 2^62 above, but × 8 bytes could still wrap around to a small (even zero) length.
    if (numel > UINT64_MAX / st_dtype_size(info.dtype)) fail(Status::Format, t + "shape too large");
    uint64_t expected = numel * st_dtype_size(info.dtype);
    if (info.end - info.begin != expected)
      fail(Status::Format, t + "byte length " + std::to_string(info.end - info.begin) + " does not match shape × " +
                               st_dtype_name(info.dtype) + " = " + std::to_string(expected));
    h.tensors.push_back(std::move(info));
  }
  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const StTensorInfo& a, const StTensorInfo& b) { return a.begin < b.begin || (a.begin == b.begin && a.end < b.end); });
  for (size_t i = 1; i < h.tensors.size(); ++i) {
    const auto& a = h.tensors[i - 1];
    const auto& b = h.tensors[i];
    if (b.begin < a.end)
      fail(Status::Format, f + "tensors '" + a.name + "' and '" + b.name + "' overlap in the data area");
  }
  return h;
}

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr && addr != MAP_FAILED) munmap(addr, size);
  }
};

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), mapping_(std::make_shared<Mapping>()) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(Status::Io, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail(Status::Io, path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(Status::Io, path + ": not a regular file");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < 8) {
    ::close(fd);
    fail(Status::Format, path + ": file too small for a safetensors header (" + std::to_string(size) + " bytes)");
  }
  void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  ::close(fd);
  if (addr == MAP_FAILED) fail(Status::Io, path + ": mmap failed: " + std::strerror(e));
  mapping_->addr = addr;
  mapping_->size = size;
  header_ = parse_safetensors_header(static_cast<const uint8_t*>(addr), size, size, path);
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

SafetensorsFile::~SafetensorsFile() = default;

const StTensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(Status::Model, path_ + ": tensor '" + name + "' not found");
  return header_.tensors[it->second];
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& t : header_.tensors) out.push_back(t.name);
  return out;
}

const uint8_t* SafetensorsFile::data(const std::string& name) const {
  const auto& i = info(name);
  return static_cast<const uint8_t*>(mapping_->addr) + header_.data_offset + i.begin;
}

torch::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const auto& i = info(name);
  auto keep = mapping_;
  void* ptr = const_cast<uint8_t*>(data(name));
  auto options = torch::TensorOptions().dtype(st_to_torch(i.dtype));
  if (i.end == i.begin) return torch::empty(i.shape, options);
  // Unaligned data cannot be viewed safely as wider types: copy in that rare case.
  if (reinterpret_cast<uintptr_t>(ptr) % st_dtype_size(i.dtype) != 0) {
    auto out = torch::empty(i.shape, options);
    std::memcpy(out.data_ptr(), ptr, i.end - i.begin);
    return out;
  }
  return torch::from_blob(ptr, i.shape, [keep](void*) mutable { keep.reset(); }, options);
}

std::map<std::string, torch::Tensor> load_safetensors(const std::string& path) {
  SafetensorsFile file(path);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : file.names()) out[name] = file.tensor(name).clone();
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::vector<torch::Tensor> contiguous;
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    StDtype d = st_from_torch(c.scalar_type(), "tensor '" + name + "'");
    uint64_t bytes = static_cast<uint64_t>(c.numel()) * st_dtype_size(d);
    header[name] = {{"dtype", st_dtype_name(d)}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    contiguous.push_back(c);
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // keep the data area 8-byte aligned
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail(Status::Io, tmp + ": cannot open for writing");
    uint64_t n = text.size();
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& c : contiguous)
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    out.flush();
    if (!out) fail(Status::Io, tmp + ": write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(Status::Io, path + ": cannot rename from " + tmp);
}


struct SafetensorsStreamWriter::Impl {
  std::string path, tmp;
  std::vector<Spec> specs;
  size_t next = 0;
  FILE* f = nullptr;
  Sha256 sha;
  void write(const void* p, size_t n) {
    if (std::fwrite(p, 1, n, f) != n) fail(Status::Io, tmp + ": write failed (disk full?)");
    sha.update(p, n);
  }
};

SafetensorsStreamWriter::SafetensorsStreamWriter(const std::string& path, std::vector<Spec> specs,
                                                 const std::map<std::string, std::string>& metadata)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->tmp = path + ".tmp";
  impl_->specs = std::move(specs);
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& s : impl_->specs) {
    uint64_t numel = 1;
    for (auto d : s.shape) numel *= static_cast<uint64_t>(d);
    uint64_t bytes = numel * st_dtype_size(s.dtype);
    header[s.name] = {{"dtype", st_dtype_name(s.dtype)}, {"shape", s.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');
  impl_->f = std::fopen(impl_->tmp.c_str(), "wb");
  if (!impl_->f) fail(Status::Io, impl_->tmp + ": cannot open for writing");
  uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((n >> (8 * i)) & 0xff);
  impl_->write(len, 8);
  impl_->write(text.data(), text.size());
}

SafetensorsStreamWriter::~SafetensorsStreamWriter() {
  if (impl_ && impl_->f) {
    std::fclose(impl_->f);
    std::remove(impl_->tmp.c_str());  // unfinished: leave nothing half-written behind
  }
}

void SafetensorsStreamWriter::write_next(const torch::Tensor& t) {
  if (impl_->next >= impl_->specs.size()) fail(Status::Internal, impl_->path + ": more tensors than declared");
  const Spec& s = impl_->specs[impl_->next];
  auto c = t.detach().to(torch::kCPU).contiguous();
  if (st_from_torch(c.scalar_type(), s.name) != s.dtype || c.sizes() != at::IntArrayRef(s.shape))
    fail(Status::Internal, impl_->path + ": tensor '" + s.name + "' does not match its declared dtype/shape");
  impl_->write(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
  ++impl_->next;
}

std::string SafetensorsStreamWriter::finish() {
  if (impl_->next != impl_->specs.size())
    fail(Status::Internal, impl_->path + ": " + std::to_string(impl_->specs.size() - impl_->next) + " tensors not written");
  bool bad = std::fflush(impl_->f) != 0;
  bad |= std::fclose(impl_->f) != 0;
  impl_->f = nullptr;
  if (bad) fail(Status::Io, impl_->tmp + ": write failed (disk full?)");
  if (std::rename(impl_->tmp.c_str(), impl_->path.c_str()) != 0)
    fail(Status::Io, impl_->path + ": cannot rename from " + impl_->tmp);
  return impl_->sha.hex_digest();
}

}  // namespace xsam
