#include "image/overlay.h"

#include <algorithm>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/error.h"

namespace xsam {

void palette_colour(size_t i, uint8_t rgb[3]) {
  // Well-separated hues (the first ones match common segmentation viewers).
  static const uint8_t table[][3] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200}, {245, 130, 48},
                                     {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212},
                                     {0, 128, 128},  {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0},
                                     {170, 255, 195}, {128, 128, 0}, {255, 215, 180}, {0, 0, 128},   {128, 128, 128}};
  const size_t n = sizeof(table) / sizeof(table[0]);
  for (int c = 0; c < 3; ++c) rgb[c] = table[i % n][c];
}

Image render_overlay(const Image& image, const std::vector<OverlayMask>& masks, float alpha) {
  cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.rgb.data()));
  cv::Mat out = rgb.clone();
  for (size_t i = 0; i < masks.size(); ++i) {
    uint8_t col[3];
    palette_colour(i, col);
    cv::Mat m(image.height, image.width, CV_8UC1, const_cast<uint8_t*>(masks[i].mask));
    for (int y = 0; y < image.height; ++y) {
      const uint8_t* mr = m.ptr<uint8_t>(y);
      uint8_t* o = out.ptr<uint8_t>(y);
      for (int x = 0; x < image.width; ++x)
        if (mr[x])
          for (int c = 0; c < 3; ++c) o[3 * x + c] = static_cast<uint8_t>(o[3 * x + c] * (1 - alpha) + col[c] * alpha);
    }
    cv::Mat bin = m != 0;
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(bin, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
    cv::drawContours(out, contours, -1, cv::Scalar(col[0], col[1], col[2]), std::max(1, image.width / 400));
  }
  // Captions last, so that no mask covers them.
  const double scale = std::max(0.35, std::min(image.width, image.height) / 900.0);
  for (size_t i = 0; i < masks.size(); ++i) {
    if (masks[i].caption.empty() || masks[i].box[2] <= masks[i].box[0]) continue;
    uint8_t col[3];
    palette_colour(i, col);
    int base = 0;
    cv::Size ts = cv::getTextSize(masks[i].caption, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
    int x = std::clamp(masks[i].box[0], 0, std::max(0, image.width - ts.width - 2));
    int y = std::clamp(masks[i].box[1], ts.height + 2, std::max(ts.height + 2, image.height - 1));
    cv::rectangle(out, {x, y - ts.height - 2}, {x + ts.width + 2, y + base}, cv::Scalar(col[0], col[1], col[2]), cv::FILLED);
    cv::putText(out, masks[i].caption, {x + 1, y - 1}, cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  }
  Image result;
  result.width = image.width;
  result.height = image.height;
  result.rgb.assign(out.data, out.data + out.total() * 3);
  return result;
}

std::vector<uint8_t> encode_png(const Image& image) {
  cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uint8_t> buf;
  if (!cv::imencode(".png", bgr, buf)) fail(Status::Internal, "PNG encoding failed");
  return buf;
}

std::vector<uint8_t> encode_png_gray(const uint8_t* pixels, int width, int height) {
  cv::Mat g(height, width, CV_8UC1, const_cast<uint8_t*>(pixels));
  std::vector<uint8_t> buf;
  if (!cv::imencode(".png", g, buf)) fail(Status::Internal, "PNG encoding failed");
  return buf;
}

std::vector<uint8_t> encode_png_gray16(const uint16_t* pixels, int width, int height) {
  cv::Mat g(height, width, CV_16UC1, const_cast<uint16_t*>(pixels));
  std::vector<uint8_t> buf;
  if (!cv::imencode(".png", g, buf)) fail(Status::Internal, "PNG encoding failed");
  return buf;
}

}  // namespace xsam
