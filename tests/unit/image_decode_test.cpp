// Decoding against PIL 9.4's Image.open(f).convert("RGB") / convert("L") > 128 on every PNG mode and a
// few other formats (tests/data/pil/decode/, references in pil_cases.safetensors), caller pixels, and
// every bad input: missing, directory, empty, non-image, truncated, corrupt, unsupported, over the limit.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/error.h"
#include "image/decode.h"
#include "io/safetensors.h"
#include "support/golden.h"

namespace fs = std::filesystem;

namespace {

std::string decode_dir() { return xsam::test::data_dir() + "/pil/decode"; }

const std::map<std::string, torch::Tensor>& pil_cases() {
  static const auto cases = xsam::load_safetensors(xsam::test::data_dir() + "/pil/pil_cases.safetensors");
  return cases;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A scratch directory for the bad-input files, removed at the end of the test.
struct ScratchDir {
  fs::path path;
  ScratchDir() {
    path = fs::temp_directory_path() / ("xsam_image_decode_" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) const {
    const auto p = (path / name).string();
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return p;
  }
};

// Runs `f`, expects an xsam::Failure with `status` whose message contains `needle`.
void expect_error(const std::function<void()>& f, xsam::Status status, const std::string& needle,
                  const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no error";
  } catch (const xsam::Failure& e) {
    EXPECT_EQ(int(e.status()), int(status)) << what << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << what << ": '" << e.what() << "' lacks '"
                                                                      << needle << "'";
  }
}

torch::Tensor as_tensor(const xsam::Image& img) {
  return torch::from_blob(const_cast<uint8_t*>(img.rgb.data()), {img.height, img.width, 3}, torch::kUInt8).clone();
}
torch::Tensor as_tensor(const xsam::Mask& m) {
  return torch::from_blob(const_cast<uint8_t*>(m.data.data()), {m.height, m.width}, torch::kUInt8).clone();
}

}  // namespace

TEST(ImageDecode, MatchesPilConvertRgbForEveryMode) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(decode_dir())) {
    const std::string name = entry.path().filename().string();
    const std::string path = entry.path().string();
    ASSERT_TRUE(pil_cases().count("decode." + name + ".rgb")) << name << " has no PIL reference (re-run the generator)";
    const auto ref = pil_cases().at("decode." + name + ".rgb");
    const auto ours = as_tensor(xsam::decode_image_file(path));
    ASSERT_EQ(ours.sizes(), ref.sizes()) << name;
    const int64_t differing = ours.ne(ref).sum().item<int64_t>();
    const int max_abs = (ours.to(torch::kInt32) - ref.to(torch::kInt32)).abs().max().item<int>();
    std::printf("[parity] decode %-16s vs PIL convert(\"RGB\"): differing=%lld max_abs=%d\n", name.c_str(),
                (long long)differing, max_abs);
    EXPECT_EQ(differing, 0) << name;

    // Memory input gives the same pixels.
    const auto bytes = read_bytes(path);
    EXPECT_TRUE(torch::equal(as_tensor(xsam::decode_image_memory(bytes.data(), bytes.size(), name)), ours)) << name;

    // Mask files: convert("L") > 128.
    const auto mask = as_tensor(xsam::decode_mask_file(path));
    EXPECT_TRUE(torch::equal(mask, pil_cases().at("decode." + name + ".mask"))) << name << ": mask binarisation";
    ++files;
  }
  EXPECT_EQ(files, 17);
}

TEST(ImageDecode, IgnoresExifOrientationLikePil) {
  // rgb_exif6.jpg carries orientation 6 (rotate 90°): PIL keeps the stored 16x12 grid, so do we.
  const auto img = xsam::decode_image_file(decode_dir() + "/rgb_exif6.jpg");
  EXPECT_EQ(img.width, 16);
  EXPECT_EQ(img.height, 12);
  // Same pixels as the file without the tag.
  EXPECT_EQ(img.rgb, xsam::decode_image_file(decode_dir() + "/rgb.jpg").rgb);
}

TEST(ImageDecode, SixteenBitRules) {
  // Grey: PIL's mode "I" is clipped to 0..255; colour: the high byte.
  const auto grey = xsam::decode_image_file(decode_dir() + "/l16.png");
  const std::vector<int> grey_expected = {0, 1, 127, 128, 129, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255};
  for (int x = 0; x < 16; ++x) EXPECT_EQ(grey.rgb[size_t(x) * 3], grey_expected[size_t(x)]) << "x=" << x;
  const auto colour = xsam::decode_image_file(decode_dir() + "/rgb16.png");
  const std::vector<int> red_expected = {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 127, 128, 128, 255, 255, 255};
  for (int x = 0; x < 16; ++x) EXPECT_EQ(colour.rgb[size_t(x) * 3], red_expected[size_t(x)]) << "x=" << x;
}

TEST(ImageDecode, BadFiles) {
  ScratchDir dir;
  const auto good_png = read_bytes(decode_dir() + "/rgb8.png");
  const auto good_jpg = read_bytes(decode_dir() + "/rgb.jpg");

  const std::string missing = (dir.path / "no_such_file.png").string();
  expect_error([&] { xsam::decode_image_file(missing); }, xsam::Status::Io, missing, "missing file");
  expect_error([&] { xsam::decode_image_file(dir.path.string()); }, xsam::Status::Io, "directory", "directory");

  const auto empty = dir.write("empty.png", {});
  expect_error([&] { xsam::decode_image_file(empty); }, xsam::Status::Format, empty, "empty file");

  const std::string text = "this is not an image\n";
  const auto txt = dir.write("notes.png", std::vector<uint8_t>(text.begin(), text.end()));
  expect_error([&] { xsam::decode_image_file(txt); }, xsam::Status::Format, "not a recognised image", "text file");

  auto truncated_png = good_png;
  truncated_png.resize(good_png.size() / 2);
  const auto tpng = dir.write("truncated.png", truncated_png);
  expect_error([&] { xsam::decode_image_file(tpng); }, xsam::Status::Format, "truncated.png", "truncated PNG");

  auto corrupt_png = good_png;
  for (size_t i = 40; i < corrupt_png.size() - 12; ++i) corrupt_png[i] ^= 0x5A;  // garble the IDAT payload
  const auto cpng = dir.write("corrupt.png", corrupt_png);
  expect_error([&] { xsam::decode_image_file(cpng); }, xsam::Status::Format, "corrupt", "corrupt PNG");

  auto truncated_jpg = good_jpg;
  truncated_jpg.resize(good_jpg.size() - 40);
  const auto tjpg = dir.write("truncated.jpg", truncated_jpg);
  expect_error([&] { xsam::decode_image_file(tjpg); }, xsam::Status::Format, "truncated JPEG", "truncated JPEG");

  const std::vector<uint8_t> header_only = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0};
  const auto hjpg = dir.write("header_only.jpg", header_only);
  expect_error([&] { xsam::decode_image_file(hjpg); }, xsam::Status::Format, "JPEG", "JPEG header only");

  const std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0, 0, 0, ';'};
  const auto g = dir.write("anim.gif", gif);
  expect_error([&] { xsam::decode_image_file(g); }, xsam::Status::Format, "GIF", "GIF");

  expect_error([&] { xsam::decode_image_memory(nullptr, 0, "upload"); }, xsam::Status::Format, "upload",
               "empty memory");
  expect_error([&] { xsam::decode_image_memory(truncated_png.data(), truncated_png.size(), "upload.png"); },
               xsam::Status::Format, "upload.png", "truncated memory PNG");
}

TEST(ImageDecode, PixelLimit) {
  // 16x12 = 192 pixels. PNG and JPEG are refused from their header, BMP after decoding.
  for (const char* f : {"rgb8.png", "rgb.jpg", "rgb.bmp", "rgba.webp"}) {
    const std::string path = decode_dir() + "/" + f;
    expect_error([&] { xsam::decode_image_file(path, 191); }, xsam::Status::Limit, "192 pixels", f);
    EXPECT_EQ(xsam::decode_image_file(path, 192).pixel_count(), 192u) << f;
    EXPECT_EQ(xsam::decode_image_file(path, 0).pixel_count(), 192u) << f;  // 0: no limit of ours
  }
  expect_error([&] { xsam::decode_mask_file(decode_dir() + "/l8.png", 100); }, xsam::Status::Limit, "l8.png", "mask");
}

TEST(ImageDecode, FromCallerPixels) {
  // 2x2 image, rows padded to a stride of 10 bytes.
  const uint8_t rgba[] = {1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 9, 10, 11, 12, 13, 14, 15, 16, 0, 0};
  const std::vector<uint8_t> rgb_expected = {1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15};
  auto img = xsam::image_from_pixels(rgba, 2, 2, 10, xsam::PixelFormat::RGBA);
  EXPECT_EQ(img.width, 2);
  EXPECT_EQ(img.height, 2);
  EXPECT_EQ(img.rgb, rgb_expected);
  img = xsam::image_from_pixels(rgba, 2, 2, 10, xsam::PixelFormat::BGRA);
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{3, 2, 1, 7, 6, 5, 11, 10, 9, 15, 14, 13}));
  const uint8_t bgr[] = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(xsam::image_from_pixels(bgr, 2, 1, 0, xsam::PixelFormat::BGR).rgb, (std::vector<uint8_t>{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(xsam::image_from_pixels(bgr, 2, 1, 0, xsam::PixelFormat::RGB).rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  const uint8_t grey[] = {7, 9, 0, 200, 201, 0};  // stride 3
  EXPECT_EQ(xsam::image_from_pixels(grey, 2, 2, 3, xsam::PixelFormat::Gray).rgb,
            (std::vector<uint8_t>{7, 7, 7, 9, 9, 9, 200, 200, 200, 201, 201, 201}));

  using xsam::PixelFormat;
  using xsam::Status;
  expect_error([&] { xsam::image_from_pixels(nullptr, 2, 2, 0, PixelFormat::RGB); }, Status::InvalidArgument, "null",
               "null pixels");
  expect_error([&] { xsam::image_from_pixels(bgr, 0, 2, 0, PixelFormat::RGB); }, Status::InvalidArgument, "positive",
               "zero width");
  expect_error([&] { xsam::image_from_pixels(bgr, 2, -1, 0, PixelFormat::RGB); }, Status::InvalidArgument, "positive",
               "negative height");
  expect_error([&] { xsam::image_from_pixels(bgr, 2, 1, 5, PixelFormat::RGB); }, Status::InvalidArgument, "stride",
               "stride too small");
  expect_error([&] { xsam::image_from_pixels(bgr, 2, 1, 0, PixelFormat(42)); }, Status::InvalidArgument, "format",
               "unknown format");
  expect_error([&] { xsam::image_from_pixels(bgr, 2, 1, 0, PixelFormat::RGB, 1); }, Status::Limit, "limit",
               "pixel limit");
}

TEST(ImageDecode, MaskBinarisationUsesPilLumaAndStrictThreshold) {
  EXPECT_EQ(xsam::pil_luma(255, 255, 255), 255);
  EXPECT_EQ(xsam::pil_luma(0, 0, 0), 0);
  EXPECT_EQ(xsam::pil_luma(255, 0, 0), 76);   // PIL: Image.new("RGB", (1, 1), (255, 0, 0)).convert("L") = 76
  EXPECT_EQ(xsam::pil_luma(0, 255, 0), 150);
  EXPECT_EQ(xsam::pil_luma(0, 0, 255), 29);
  xsam::Image img{3, 1, {128, 128, 128, 129, 129, 129, 0, 255, 0}};
  EXPECT_EQ(xsam::binarize_mask_image(img).data, (std::vector<uint8_t>{0, 1, 1}));
}
