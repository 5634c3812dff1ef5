#include "api_support.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

namespace api_test {

namespace {

std::vector<std::string>& dirs_to_remove() {
  static std::vector<std::string> v;
  return v;
}

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") remove_tree(path + "/" + n);
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

void cleanup() {
  for (const auto& d : dirs_to_remove()) remove_tree(d);
}

uint32_t crc32(const std::string& bytes) {
  static uint32_t table[256];
  static bool init = false;
  if (!init) {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    init = true;
  }
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void chunk(std::string& png, const char* type, const std::string& payload) {
  put_be32(png, static_cast<uint32_t>(payload.size()));
  std::string body = std::string(type, 4) + payload;
  png += body;
  put_be32(png, crc32(body));
}

// zlib stream of stored (uncompressed) deflate blocks.
std::string zlib_stored(const std::string& raw) {
  std::string z = "\x78\x01";
  size_t pos = 0;
  do {
    size_t n = std::min<size_t>(65535, raw.size() - pos);
    bool last = pos + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<char>(n & 0xFF));
    z.push_back(static_cast<char>(n >> 8));
    z.push_back(static_cast<char>(~n & 0xFF));
    z.push_back(static_cast<char>((~n >> 8) & 0xFF));
    z += raw.substr(pos, n);
    pos += n;
  } while (pos < raw.size());
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) {
    a = (a + c) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(z, (b << 16) | a);
  return z;
}

}  // namespace

std::string data_dir() {
  const char* e = std::getenv("XSAM_TEST_DATA");
  return e && *e ? e : std::string(XSAM_SOURCE_DIR) + "/tests/data";
}

std::string golden_dir() { return data_dir() + "/golden/aaai26-tiny"; }

std::string temp_dir(const std::string& tag) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::string tmpl = ::testing::TempDir() + "xsam_api_" + tag + "_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) {
    ADD_FAILURE() << "mkdtemp failed for " << tmpl;
    return tmpl;
  }
  if (dirs_to_remove().empty()) std::atexit(cleanup);
  dirs_to_remove().push_back(buf.data());
  return buf.data();
}

const std::string& tiny_model_dir() {
  static const std::string dir = [] {
    std::string d = temp_dir("tiny_model");
    xsam_status s = xsam_random_model(d.c_str(), "tiny", XSAM_DTYPE_FP32, 7, nullptr);
    if (s != XSAM_OK) ADD_FAILURE() << "xsam_random_model: " << xsam_last_error();
    return d;
  }();
  return dir;
}

std::string copy_model(const std::string& tag) {
  std::string to = temp_dir(tag);
  DIR* d = ::opendir(tiny_model_dir().c_str());
  while (dirent* e = d ? ::readdir(d) : nullptr) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    write_file(to + "/" + n, read_file(tiny_model_dir() + "/" + n));
  }
  if (d) ::closedir(d);
  return to;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) ADD_FAILURE() << "cannot read " << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

void remove_file(const std::string& path) { ::unlink(path.c_str()); }

xsam_status load(const std::string& dir, xsam_model** out, bool verify_checksums) {
  xsam_model_params p = xsam_model_default_params();
  p.dtype = XSAM_DTYPE_FP32;
  p.n_threads = 1;
  p.verify_checksums = verify_checksums;
  *out = nullptr;
  return xsam_model_load(dir.c_str(), &p, out);
}

xsam_model* tiny_model() {
  static xsam_model* m = [] {
    xsam_model* model = nullptr;
    if (load(tiny_model_dir(), &model) != XSAM_OK) ADD_FAILURE() << "loading the tiny model: " << xsam_last_error();
    return model;
  }();
  return m;
}

std::vector<uint8_t> test_pixels(int w, int h, int channels) {
  std::vector<uint8_t> p(static_cast<size_t>(w) * h * channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      bool square = x > w / 4 && x < w / 2 && y > h / 3 && y < 2 * h / 3;
      uint8_t v[4] = {static_cast<uint8_t>(x * 255 / std::max(1, w - 1)), static_cast<uint8_t>(y * 255 / std::max(1, h - 1)),
                      static_cast<uint8_t>(square ? 230 : 40), 255};
      for (int c = 0; c < channels; ++c) p[(static_cast<size_t>(y) * w + x) * channels + c] = v[c];
    }
  return p;
}

xsam_image image_of(const std::vector<uint8_t>& pixels, int w, int h, xsam_pixel_format format) {
  xsam_image img{};
  img.pixels = pixels.data();
  img.width = w;
  img.height = h;
  img.stride = 0;
  img.format = format;
  return img;
}

std::string make_png(int w, int h, int color_type, int bit_depth, const std::vector<uint8_t>& samples,
                     const std::vector<uint8_t>& palette) {
  const int channels = color_type == 0 ? 1 : color_type == 2 ? 3 : color_type == 3 ? 1 : color_type == 4 ? 2 : 4;
  const size_t row = static_cast<size_t>(w) * channels * (bit_depth / 8);
  std::string raw;
  for (int y = 0; y < h; ++y) {
    raw.push_back('\0');  // filter: none
    raw.append(reinterpret_cast<const char*>(samples.data()) + y * row, row);
  }
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_be32(ihdr, static_cast<uint32_t>(w));
  put_be32(ihdr, static_cast<uint32_t>(h));
  ihdr.push_back(static_cast<char>(bit_depth));
  ihdr.push_back(static_cast<char>(color_type));
  ihdr += std::string("\0\0\0", 3);
  chunk(png, "IHDR", ihdr);
  if (color_type == 3) chunk(png, "PLTE", std::string(palette.begin(), palette.end()));
  chunk(png, "IDAT", zlib_stored(raw));
  chunk(png, "IEND", "");
  return png;
}

std::string png_with_size(const std::string& png, uint32_t w, uint32_t h) {
  std::string out = png;
  std::string wh;
  put_be32(wh, w);
  put_be32(wh, h);
  out.replace(16, 8, wh);                 // IHDR payload starts at 8 (signature) + 8 (length, type)
  std::string body = out.substr(12, 17);  // "IHDR" + 13 bytes
  std::string crc;
  put_be32(crc, crc32(body));
  out.replace(29, 4, crc);
  return out;
}

Safetensors read_safetensors(const std::string& path) {
  std::string bytes = read_file(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  return {bytes.substr(8, n), bytes.substr(8 + n)};
}

void write_safetensors(const std::string& path, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  write_file(path, bytes + header + data);
}

}  // namespace api_test
