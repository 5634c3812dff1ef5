// Helpers for the C API tests (tests/api/api_*.cpp). These tests use the public header only — exactly
// what an FFI caller sees — plus nlohmann json to edit model files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "xsam/xsam.h"

namespace api_test {

// tests/data ($XSAM_TEST_DATA).
std::string data_dir();
std::string golden_dir();  // tests/data/golden/aaai26-tiny

// A fresh empty directory under the test temp dir, removed at process exit.
std::string temp_dir(const std::string& tag);

// A tiny random fp32 model (xsam_random_model, seed 7), written once per process. Never modify it:
// copy it with copy_model() first.
const std::string& tiny_model_dir();
// Copy of the tiny model into a fresh directory.
std::string copy_model(const std::string& tag);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);
void remove_file(const std::string& path);

// Loads with fp32 and one thread (fast and deterministic). Returns the status; *out is set on success.
xsam_status load(const std::string& dir, xsam_model** out, bool verify_checksums = false);

// The tiny model loaded once per process (shared by the request tests; never freed before exit).
xsam_model* tiny_model();

// A synthetic RGB8 test picture (smooth gradients and a square), w × h, held by the returned vector.
std::vector<uint8_t> test_pixels(int w, int h, int channels = 3);
xsam_image image_of(const std::vector<uint8_t>& pixels, int w, int h, xsam_pixel_format format = XSAM_PIXEL_RGB8);

// A PNG file built byte by byte (stored deflate blocks): color_type 0 grey, 2 RGB, 3 palette, 4 grey+alpha,
// 6 RGBA; bit_depth 8 or 16. `samples` holds the raw scanline samples (big-endian for 16 bit), no filter
// bytes. For palette images `palette` holds RGB triples.
std::string make_png(int w, int h, int color_type, int bit_depth, const std::vector<uint8_t>& samples,
                     const std::vector<uint8_t>& palette = {});

// The same PNG with IHDR claiming another size (CRC fixed), the pixel data left as it is.
std::string png_with_size(const std::string& png, uint32_t w, uint32_t h);

// Safetensors files as (header JSON text, data bytes).
struct Safetensors {
  std::string header;
  std::string data;
};
Safetensors read_safetensors(const std::string& path);
void write_safetensors(const std::string& path, const std::string& header, const std::string& data);

// Asserts a failed call: the status, and that the message contains every needle (case-sensitive).
#define XSAM_EXPECT_FAIL(call, status, ...)                                                           \
  do {                                                                                               \
    xsam_status s_ = (call);                                                                         \
    std::string m_ = xsam_last_error();                                                              \
    EXPECT_EQ(s_, status) << #call << " -> " << xsam_status_name(s_) << ": " << m_;                  \
    for (const std::string& needle_ : std::vector<std::string>{__VA_ARGS__})                        \
      EXPECT_NE(m_.find(needle_), std::string::npos) << "message of " << #call << " lacks '" << needle_ \
                                                     << "': " << m_;                                 \
  } while (0)

}  // namespace api_test
