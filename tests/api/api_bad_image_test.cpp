// Bad-input matrix, images (docs/reliability.md §1): files that are missing, empty, truncated, corrupt,
// not images or absurdly large, and the unusual-but-valid kinds (alpha, grey, 16-bit, palette) decoded
// as PIL's convert("RGB") does (docs/design/decisions.md#image-decoding). Each failure: a documented status
// and a message naming the file and the problem.
#include <sys/stat.h>

#include "api_support.h"

using namespace api_test;

namespace {

std::string jpeg_seed() { return read_file(std::string(XSAM_SOURCE_DIR) + "/tests/fuzz/corpus/image/seed-rgb.jpg"); }

std::vector<uint8_t> gradient_rgb(int w, int h) { return test_pixels(w, h, 3); }

// Decodes bytes and keeps the pixels in a vector (freeing the library's copy).
xsam_status decode(const std::string& bytes, std::vector<uint8_t>* rgb, int* w, int* h) {
  xsam_image img{};
  xsam_status s = xsam_image_decode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &img);
  if (s == XSAM_OK) {
    rgb->assign(img.pixels, img.pixels + static_cast<size_t>(img.width) * img.height * 3);
    *w = img.width;
    *h = img.height;
    EXPECT_EQ(img.format, XSAM_PIXEL_RGB8);
    EXPECT_EQ(img.stride, img.width * 3);
    xsam_free(const_cast<uint8_t*>(img.pixels));
  } else {
    EXPECT_EQ(img.pixels, nullptr) << "a failed decode must not hand out pixels";
  }
  return s;
}

xsam_status load_bytes(const std::string& bytes, const std::string& name) {
  std::string path = temp_dir("img") + "/" + name;
  write_file(path, bytes);
  xsam_image img{};
  xsam_status s = xsam_image_load(path.c_str(), &img);
  xsam_free(const_cast<uint8_t*>(img.pixels));
  return s;
}

}  // namespace

TEST(BadImage, MissingFileIsIoNamingThePath) {
  xsam_image img{};
  XSAM_EXPECT_FAIL(xsam_image_load("/nonexistent/dir/photo.png", &img), XSAM_ERR_IO, "/nonexistent/dir/photo.png");
}

TEST(BadImage, DirectoryIsIo) {
  std::string d = temp_dir("imgdir");
  xsam_image img{};
  XSAM_EXPECT_FAIL(xsam_image_load(d.c_str(), &img), XSAM_ERR_IO, d, "directory");
}

TEST(BadImage, DeviceOrFifoIsIoNotAnEndlessRead) {
  xsam_image img{};
  // /dev/zero never ends; a FIFO without a writer blocks forever.
  XSAM_EXPECT_FAIL(xsam_image_load("/dev/zero", &img), XSAM_ERR_IO, "/dev/zero", "not a regular file");
  std::string fifo = temp_dir("fifo") + "/pipe.png";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  XSAM_EXPECT_FAIL(xsam_image_load(fifo.c_str(), &img), XSAM_ERR_IO, "pipe.png", "not a regular file");
}

TEST(BadImage, ZeroSizeFileIsFormat) {
  XSAM_EXPECT_FAIL(load_bytes("", "empty.png"), XSAM_ERR_FORMAT, "empty.png", "empty");
}

TEST(BadImage, TextFileIsFormatNotAnImage) {
  XSAM_EXPECT_FAIL(load_bytes("hello, I am not a picture\n", "notes.png"), XSAM_ERR_FORMAT, "notes.png",
                   "not a recognised image");
}

TEST(BadImage, TruncatedPngIsFormat) {
  std::string png = make_png(40, 30, 2, 8, gradient_rgb(40, 30));
  XSAM_EXPECT_FAIL(load_bytes(png.substr(0, png.size() / 2), "half.png"), XSAM_ERR_FORMAT, "half.png", "PNG");
}

TEST(BadImage, CorruptPngDataIsFormat) {
  std::string png = make_png(40, 30, 2, 8, gradient_rgb(40, 30));
  // Break the zlib stream inside IDAT (the stored block's length and its complement stop agreeing).
  size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  png[idat + 4 + 3] ^= 0x5A;
  XSAM_EXPECT_FAIL(load_bytes(png, "corrupt.png"), XSAM_ERR_FORMAT, "corrupt.png", "PNG");
}

TEST(BadImage, TruncatedJpegIsFormatNotGreyPadding) {
  std::string jpg = jpeg_seed();
  ASSERT_GT(jpg.size(), 200u);
  // libjpeg would pad a truncated scan with grey and only warn; we refuse, as PIL does.
  XSAM_EXPECT_FAIL(load_bytes(jpg.substr(0, jpg.size() - 40), "cut.jpg"), XSAM_ERR_FORMAT, "cut.jpg", "truncated JPEG");
}

TEST(BadImage, HugeDimensionPngIsLimitBeforeDecoding) {
  std::string png = png_with_size(make_png(4, 4, 2, 8, gradient_rgb(4, 4)), 100000, 100000);
  XSAM_EXPECT_FAIL(load_bytes(png, "bomb.png"), XSAM_ERR_LIMIT, "bomb.png", "100000x100000", "exceeds the limit");
}

TEST(BadImage, HugeDimensionJpegIsLimit) {
  std::string jpg = jpeg_seed();
  size_t sof = jpg.find("\xff\xc0", 2);
  ASSERT_NE(sof, std::string::npos);
  jpg[sof + 5] = jpg[sof + 6] = jpg[sof + 7] = jpg[sof + 8] = '\xff';  // 65535 × 65535
  XSAM_EXPECT_FAIL(load_bytes(jpg, "bomb.jpg"), XSAM_ERR_LIMIT, "bomb.jpg", "65535x65535");
}

TEST(BadImage, HugeDimensionBmpIsRefusedWithoutAllocatingIt) {
  // A 54-byte BMP header claiming 30000 × 30000 × 24 bit (2.7 GB of pixels) with no pixel data.
  std::string bmp(54, '\0');
  auto le32 = [&](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) bmp[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  };
  bmp[0] = 'B';
  bmp[1] = 'M';
  le32(2, 54);
  le32(10, 54);
  le32(14, 40);
  le32(18, 30000);
  le32(22, 30000);
  bmp[26] = 1;
  bmp[28] = 24;
  XSAM_EXPECT_FAIL(load_bytes(bmp, "bomb.bmp"), XSAM_ERR_LIMIT, "bomb.bmp", "30000x30000");
}

TEST(BadImage, PngClaiming4GBy4GPixelsIsLimitWithoutOverflow) {
  std::string png = png_with_size(make_png(4, 4, 2, 8, gradient_rgb(4, 4)), 0xFFFFFFFFu, 0xFFFFFFFFu);
  XSAM_EXPECT_FAIL(load_bytes(png, "giant.png"), XSAM_ERR_LIMIT, "giant.png", "4294967295x4294967295");
}

TEST(BadImage, HugeDimensionTiffIsLimit) {
  // Little-endian TIFF, one IFD with ImageWidth = ImageLength = 100000 (LONG) and nothing else.
  std::string tiff = std::string("II*\0\x08\0\0\0\x02\0", 10);
  auto entry = [&](uint16_t tag) {
    const unsigned char e[12] = {static_cast<unsigned char>(tag & 0xFF), static_cast<unsigned char>(tag >> 8), 4, 0, 1, 0, 0, 0,
                                 0xA0, 0x86, 0x01, 0x00};  // 100000
    tiff.append(reinterpret_cast<const char*>(e), 12);
  };
  entry(256);
  entry(257);
  tiff += std::string(4, '\0');
  XSAM_EXPECT_FAIL(load_bytes(tiff, "bomb.tiff"), XSAM_ERR_LIMIT, "bomb.tiff", "100000x100000");
}

TEST(BadImage, GifIsFormatWithAHint) {
  XSAM_EXPECT_FAIL(load_bytes("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif"), XSAM_ERR_FORMAT, "anim.gif", "GIF");
}

TEST(BadImage, DecodeNullAndEmptyBuffers) {
  xsam_image img{};
  XSAM_EXPECT_FAIL(xsam_image_decode(nullptr, 10, &img), XSAM_ERR_INVALID_ARGUMENT, "bytes");
  const uint8_t one = 0;
  XSAM_EXPECT_FAIL(xsam_image_decode(&one, 0, &img), XSAM_ERR_FORMAT, "empty");
  XSAM_EXPECT_FAIL(xsam_image_decode(&one, 1, nullptr), XSAM_ERR_INVALID_ARGUMENT, "out");
  XSAM_EXPECT_FAIL(xsam_image_load(nullptr, &img), XSAM_ERR_INVALID_ARGUMENT, "path");
}

TEST(UnusualImage, AlphaIsDroppedNotComposited) {
  const int w = 5, h = 3;
  std::vector<uint8_t> rgba = test_pixels(w, h, 4);
  for (size_t i = 3; i < rgba.size(); i += 4) rgba[i] = static_cast<uint8_t>(i * 7);  // varied alpha, some 0
  std::vector<uint8_t> rgb;
  int dw = 0, dh = 0;
  ASSERT_EQ(decode(make_png(w, h, 6, 8, rgba), &rgb, &dw, &dh), XSAM_OK) << xsam_last_error();
  ASSERT_EQ(dw, w);
  ASSERT_EQ(dh, h);
  for (size_t p = 0; p < static_cast<size_t>(w) * h; ++p)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(rgb[p * 3 + c], rgba[p * 4 + c]) << "pixel " << p;
}

TEST(UnusualImage, GreyIsReplicatedAndGreyAlphaDropsAlpha) {
  const int w = 6, h = 2;
  std::vector<uint8_t> grey(w * h), grey_alpha(w * h * 2);
  for (int i = 0; i < w * h; ++i) {
    grey[i] = static_cast<uint8_t>(i * 21);
    grey_alpha[2 * i] = grey[i];
    grey_alpha[2 * i + 1] = static_cast<uint8_t>(255 - i);
  }
  for (const auto& png : {make_png(w, h, 0, 8, grey), make_png(w, h, 4, 8, grey_alpha)}) {
    std::vector<uint8_t> rgb;
    int dw = 0, dh = 0;
    ASSERT_EQ(decode(png, &rgb, &dw, &dh), XSAM_OK) << xsam_last_error();
    for (int i = 0; i < w * h; ++i)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(rgb[i * 3 + c], grey[i]);
  }
}

TEST(UnusualImage, Grey16IsClippedLikePilModeI) {
  // PIL opens 16-bit grey as mode "I"; convert("RGB") clips to 0..255 (decode.h documents this).
  const uint16_t values[4] = {0, 100, 255, 40000};
  std::vector<uint8_t> be;
  for (uint16_t v : values) {
    be.push_back(static_cast<uint8_t>(v >> 8));
    be.push_back(static_cast<uint8_t>(v & 0xFF));
  }
  std::vector<uint8_t> rgb;
  int w = 0, h = 0;
  ASSERT_EQ(decode(make_png(4, 1, 0, 16, be), &rgb, &w, &h), XSAM_OK) << xsam_last_error();
  const uint8_t expect[4] = {0, 100, 255, 255};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(rgb[i * 3], expect[i]) << "sample " << values[i];
}

TEST(UnusualImage, Rgb16KeepsTheHighByte) {
  const uint16_t values[3] = {0x1234, 0xABCD, 0x00FF};
  std::vector<uint8_t> be;
  for (uint16_t v : values) {
    be.push_back(static_cast<uint8_t>(v >> 8));
    be.push_back(static_cast<uint8_t>(v & 0xFF));
  }
  std::vector<uint8_t> rgb;
  int w = 0, h = 0;
  ASSERT_EQ(decode(make_png(1, 1, 2, 16, be), &rgb, &w, &h), XSAM_OK) << xsam_last_error();
  EXPECT_EQ(rgb[0], 0x12);
  EXPECT_EQ(rgb[1], 0xAB);
  EXPECT_EQ(rgb[2], 0x00);
}

TEST(UnusualImage, PaletteIsExpanded) {
  std::vector<uint8_t> palette = {255, 0, 0, 0, 255, 0, 0, 0, 255};
  std::vector<uint8_t> idx = {0, 1, 2, 1};
  std::vector<uint8_t> rgb;
  int w = 0, h = 0;
  ASSERT_EQ(decode(make_png(4, 1, 3, 8, idx, palette), &rgb, &w, &h), XSAM_OK) << xsam_last_error();
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(rgb[i * 3 + c], palette[idx[i] * 3 + c]);
}

// ---- caller pixels handed to xsam_segment

namespace {
struct TinyContext {
  xsam_context* ctx = nullptr;
  explicit TinyContext(int64_t max_pixels = 0) {
    xsam_context_params p = xsam_context_default_params();
    if (max_pixels > 0) p.max_image_pixels = max_pixels;
    EXPECT_EQ(xsam_context_new(tiny_model(), &p, &ctx), XSAM_OK) << xsam_last_error();
  }
  ~TinyContext() { xsam_context_free(ctx); }
};

xsam_status segment_image(xsam_context* ctx, const xsam_image& img) {
  xsam_segment_params p = xsam_segment_default_params();
  p.task = XSAM_TASK_REFERRING;
  xsam_result* r = nullptr;
  xsam_status s = xsam_segment(ctx, &img, "the square", nullptr, 0, &p, &r);
  EXPECT_TRUE(s == XSAM_OK || r == nullptr);
  xsam_result_free(r);
  return s;
}
}  // namespace

TEST(BadPixels, NonPositiveSizeIsInvalidArgument) {
  TinyContext t;
  auto px = test_pixels(8, 8);
  XSAM_EXPECT_FAIL(segment_image(t.ctx, image_of(px, 0, 8)), XSAM_ERR_INVALID_ARGUMENT, "width and height", "0x8");
  XSAM_EXPECT_FAIL(segment_image(t.ctx, image_of(px, 8, -3)), XSAM_ERR_INVALID_ARGUMENT, "width and height", "8x-3");
}

TEST(BadPixels, StrideSmallerThanARowIsInvalidArgument) {
  TinyContext t;
  auto px = test_pixels(8, 8);
  xsam_image img = image_of(px, 8, 8);
  img.stride = 20;
  XSAM_EXPECT_FAIL(segment_image(t.ctx, img), XSAM_ERR_INVALID_ARGUMENT, "stride 20", "24");
}

TEST(BadPixels, NullPixelsAndUnknownFormat) {
  TinyContext t;
  auto px = test_pixels(8, 8);
  xsam_image img = image_of(px, 8, 8);
  img.pixels = nullptr;
  XSAM_EXPECT_FAIL(segment_image(t.ctx, img), XSAM_ERR_INVALID_ARGUMENT, "image.pixels");
  img = image_of(px, 8, 8, static_cast<xsam_pixel_format>(17));
  XSAM_EXPECT_FAIL(segment_image(t.ctx, img), XSAM_ERR_INVALID_ARGUMENT, "image.format", "17");
}

TEST(BadPixels, OverMaxImagePixelsIsLimit) {
  TinyContext t(/*max_pixels=*/1600);
  auto px = test_pixels(41, 40);
  XSAM_EXPECT_FAIL(segment_image(t.ctx, image_of(px, 41, 40)), XSAM_ERR_LIMIT, "41x40", "1600");
  auto ok = test_pixels(40, 40);
  EXPECT_EQ(segment_image(t.ctx, image_of(ok, 40, 40)), XSAM_OK) << xsam_last_error();  // exactly 1600
}

TEST(BadPixels, ExtremeAspectRatioIsLimit) {
  // 20000 × 2 = 40000 pixels, but SigLIP pads it to a 20000² canvas (1.2 GB): refused up front, not built.
  // Found by fuzzing (tests/fuzz/corpus/image/regress-extreme-aspect-timeout.jpg: 11145 × 16, a 27 s timeout).
  TinyContext t;
  auto px = test_pixels(20000, 2);
  XSAM_EXPECT_FAIL(segment_image(t.ctx, image_of(px, 20000, 2)), XSAM_ERR_LIMIT, "20000x2", "20000x20000 square",
                   "max_image_pixels");
}

TEST(UnusualPixels, RgbaGreyAndBgrGiveTheSameResultAsRgb) {
  // One picture in four layouts: the same masks (alpha ignored, grey replicated, BGR reordered).
  const int w = 20, h = 16;
  auto rgb = test_pixels(w, h, 3);
  std::vector<uint8_t> rgba, bgr, grey_rgb, grey;
  for (size_t i = 0; i < rgb.size(); i += 3) {
    rgba.insert(rgba.end(), {rgb[i], rgb[i + 1], rgb[i + 2], static_cast<uint8_t>(i)});
    bgr.insert(bgr.end(), {rgb[i + 2], rgb[i + 1], rgb[i]});
    grey.push_back(rgb[i + 1]);
    grey_rgb.insert(grey_rgb.end(), {rgb[i + 1], rgb[i + 1], rgb[i + 1]});
  }
  TinyContext t;
  xsam_segment_params p = xsam_segment_default_params();
  p.task = XSAM_TASK_REFERRING;
  auto run = [&](const xsam_image& img) {
    xsam_result* r = nullptr;
    EXPECT_EQ(xsam_segment(t.ctx, &img, "the square", nullptr, 0, &p, &r), XSAM_OK) << xsam_last_error();
    std::vector<uint8_t> m;
    if (r && xsam_result_n_masks(r) > 0) m.assign(xsam_result_mask(r, 0), xsam_result_mask(r, 0) + w * h);
    xsam_result_free(r);
    return m;
  };
  auto ref = run(image_of(rgb, w, h));
  ASSERT_FALSE(ref.empty());
  EXPECT_EQ(run(image_of(rgba, w, h, XSAM_PIXEL_RGBA8)), ref);
  EXPECT_EQ(run(image_of(bgr, w, h, XSAM_PIXEL_BGR8)), ref);
  EXPECT_EQ(run(image_of(grey, w, h, XSAM_PIXEL_GRAY8)), run(image_of(grey_rgb, w, h)));
}
