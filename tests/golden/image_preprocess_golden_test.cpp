// Preprocessing parity with the upstream processors (golden preprocess.safetensors, preprocess_extra
// .safetensors) and with every golden `prepared.vprompt_masks`: decode the golden PNGs ourselves, run
// SigLIP / SAM preprocessing and the prompt-mask path, compare. Bound: 1e-6 relative (DECISIONS.md A1);
// the PIL-exact port is expected to be bit-exact, the printed errors say whether it is.
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "image/decode.h"
#include "image/preprocess.h"
#include "io/safetensors.h"
#include "support/golden.h"

namespace {

using xsam::test::golden_dir;

std::string image_path(const std::string& file) { return golden_dir() + "/images/" + file; }

const std::map<std::string, torch::Tensor>& processor_goldens() {
  static const auto all = [] {
    auto a = xsam::load_safetensors(golden_dir() + "/preprocess.safetensors");
    for (auto& [k, v] : xsam::load_safetensors(golden_dir() + "/preprocess_extra.safetensors")) a[k] = v;
    return a;
  }();
  return all;
}

torch::Tensor golden(const std::string& name) {
  auto it = processor_goldens().find(name);
  if (it == processor_goldens().end()) throw std::runtime_error("no golden tensor " + name);
  return it->second;
}

torch::Tensor image_tensor(const xsam::Image& img) {
  return torch::from_blob(const_cast<uint8_t*>(img.rgb.data()), {img.height, img.width, 3}, torch::kUInt8).clone();
}

// Prints and checks that two integer tensors are identical.
void expect_identical(const torch::Tensor& ours, const torch::Tensor& ref, const std::string& what) {
  ASSERT_EQ(ours.sizes(), ref.sizes()) << what;
  const auto a = ours.to(torch::kInt64), b = ref.to(torch::kInt64);
  const int64_t differing = a.ne(b).sum().item<int64_t>();
  std::printf("[parity] %-60s differing=%lld of %lld\n", what.c_str(), (long long)differing, (long long)a.numel());
  EXPECT_EQ(differing, 0) << what;
}

struct ProcessorCase {
  std::string name;                // tensor prefix and image file stem
  std::vector<std::string> masks;  // files behind "<name>.sam.vprompt_masks(<kinds>)", in order
  std::string mask_tensor;
};

const std::vector<ProcessorCase>& processor_cases() {
  static const std::vector<ProcessorCase> cases = {
      {"photo", {"vp_box.png", "vp_point.png"}, "photo.sam.vprompt_masks(box,point)"},
      {"odd", {"odd_vp_point.png"}, "odd.sam.vprompt_masks(point)"},
      {"portrait", {"portrait_vp_scribble.png"}, "portrait.sam.vprompt_masks(scribble)"},
      {"white", {}, ""},
  };
  return cases;
}

xsam::PreprocessConfig golden_preprocess() { return xsam::test::golden_config().preprocess; }

}  // namespace

TEST(ImagePreprocessGolden, DecodedPngsEqualTheProcessorsInput) {
  for (const auto& c : processor_cases()) {
    const auto img = xsam::decode_image_file(image_path(c.name + ".png"));
    expect_identical(image_tensor(img), golden(c.name + ".input_image_uint8"), c.name + ".input_image_uint8");
  }
}

TEST(ImagePreprocessGolden, SiglipAllVariants) {
  const auto base = golden_preprocess();
  ASSERT_GT(base.siglip_size, 0);
  struct Variant {
    const char* tensor;
    bool expand;
    xsam::Resample filter;
  };
  const Variant variants[] = {{"siglip.pad_to_square", true, xsam::Resample::Bilinear},
                              {"siglip.no_pad", false, xsam::Resample::Bilinear},
                              {"siglip.bicubic_pad_to_square", true, xsam::Resample::Bicubic}};
  int checked = 0;
  for (const auto& c : processor_cases()) {
    const auto img = xsam::decode_image_file(image_path(c.name + ".png"));
    for (const auto& v : variants) {
      auto cfg = base;
      cfg.expand_to_square = v.expand;
      cfg.siglip_resample = v.filter;
      const auto out = xsam::siglip_preprocess(img, cfg);
      ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, base.siglip_size, base.siglip_size}));
      EXPECT_EQ(out.scalar_type(), torch::kFloat32);
      const auto ref = golden(c.name + "." + v.tensor).to(torch::kFloat32);
      XSAM_EXPECT_CLOSE(out[0], ref, 1e-6, c.name + "." + v.tensor);
      EXPECT_TRUE(torch::equal(out[0], ref)) << c.name << "." << v.tensor << " is not bit-exact";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 12);
}

TEST(ImagePreprocessGolden, SamPixelValuesAndSizes) {
  const auto cfg = golden_preprocess();
  for (const auto& c : processor_cases()) {
    const auto img = xsam::decode_image_file(image_path(c.name + ".png"));
    const auto sam = xsam::sam_preprocess(img, cfg);
    const auto ref = golden(c.name + ".sam.pixel_values").to(torch::kFloat32);
    ASSERT_EQ(sam.pixel_values.sizes(), (std::vector<int64_t>{1, 3, cfg.sam_size, cfg.sam_size}));
    XSAM_EXPECT_CLOSE(sam.pixel_values[0], ref, 1e-6, c.name + ".sam.pixel_values");
    EXPECT_TRUE(torch::equal(sam.pixel_values[0], ref)) << c.name << ".sam.pixel_values is not bit-exact";
    expect_identical(torch::tensor({int64_t(sam.scaled.height), int64_t(sam.scaled.width)}),
                     golden(c.name + ".sam.scaled_size"), c.name + ".sam.scaled_size");
    expect_identical(torch::tensor({int64_t(sam.original_height), int64_t(sam.original_width)}),
                     golden(c.name + ".sam.original_size"), c.name + ".sam.original_size");
  }
}

TEST(ImagePreprocessGolden, ProcessorPromptMasks) {
  const auto cfg = golden_preprocess();
  int checked = 0;
  for (const auto& c : processor_cases()) {
    if (c.masks.empty()) continue;
    const auto img = xsam::decode_image_file(image_path(c.name + ".png"));
    const auto sam = xsam::sam_preprocess(img, cfg);
    std::vector<xsam::Mask> masks;
    for (const auto& f : c.masks) masks.push_back(xsam::decode_mask_file(image_path(f)));
    const auto ours = xsam::sam_prompt_masks(masks, sam, cfg);
    expect_identical(ours, golden(c.mask_tensor), c.mask_tensor);
    EXPECT_LE(ours.max().item<int>(), 1);
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

// Every golden case that stores `prepared.vprompt_masks`: the masks come from the PNGs of the golden
// README's case table (region order = file order), the image from the case's image.
TEST(ImagePreprocessGolden, CasePreparedVpromptMasks) {
  const std::map<std::string, std::pair<std::string, std::vector<std::string>>> table = {
      {"intseg_point", {"photo", {"vp_point.png"}}},
      {"intseg_scribble", {"photo", {"vp_scribble.png"}}},
      {"intseg_box", {"photo", {"vp_box.png"}}},
      {"intseg_mask", {"photo", {"vp_mask.png"}}},
      {"vgdseg_point", {"photo", {"vp_point.png"}}},
      {"vgdseg_box_box2", {"photo", {"vp_box.png", "vp_box2.png"}}},
      {"vgdseg_odd_point", {"odd", {"odd_vp_point.png"}}},
      {"portrait_intseg_scribble", {"portrait", {"portrait_vp_scribble.png"}}},
  };
  // No golden left out: every case whose index lists the tensor must be in the table.
  const auto index = xsam::test::read_json(golden_dir() + "/index.json");
  std::set<std::string> with_masks;
  for (auto it = index.begin(); it != index.end(); ++it)
    if (it.value().contains("prepared.vprompt_masks")) with_masks.insert(it.key());
  EXPECT_EQ(with_masks.size(), table.size());
  for (const auto& name : with_masks) EXPECT_TRUE(table.count(name)) << "golden case " << name << " not covered";

  const auto cfg = golden_preprocess();
  for (const auto& [name, spec] : table) {
    const xsam::test::GoldenCase gc(name);
    const auto img = xsam::decode_image_file(image_path(spec.first + ".png"));
    const auto sam = xsam::sam_preprocess(img, cfg);
    const auto& scaled = gc.json()["scaled_size"];
    EXPECT_EQ(sam.scaled.height, scaled[0].get<int>()) << name;
    EXPECT_EQ(sam.scaled.width, scaled[1].get<int>()) << name;
    std::vector<xsam::Mask> masks;
    for (const auto& f : spec.second) masks.push_back(xsam::decode_mask_file(image_path(f)));
    expect_identical(xsam::sam_prompt_masks(masks, sam, cfg), gc.get("prepared.vprompt_masks"),
                     "case_" + name + " prepared.vprompt_masks");
  }
}

// The released model's sizes: shapes only (there is no full-size golden).
TEST(ImagePreprocessGolden, FullSizeShapes) {
  const auto full = xsam::size_preset("full").preprocess;
  const auto img = xsam::decode_image_file(image_path("photo.png"));
  const auto sig = xsam::siglip_preprocess(img, full);
  EXPECT_EQ(sig.sizes(), (std::vector<int64_t>{1, 3, full.siglip_size, full.siglip_size}));
  const auto sam = xsam::sam_preprocess(img, full);
  EXPECT_EQ(sam.pixel_values.sizes(), (std::vector<int64_t>{1, 3, full.sam_size, full.sam_size}));
  EXPECT_EQ(full.sam_size, 1024);
  EXPECT_EQ(sam.scaled.height, 683);  // int(240 · 1024/360 + 0.5) = int(683.17)
  EXPECT_EQ(sam.scaled.width, 1024);
  // Padding below the image is exactly 0 (the mean colour after normalisation); the image reaches row 682.
  EXPECT_EQ(sam.pixel_values.index({0, torch::indexing::Slice(), torch::indexing::Slice(683, torch::indexing::None)})
                .abs()
                .max()
                .item<float>(),
            0.0f);
  EXPECT_GT(sam.pixel_values.index({0, torch::indexing::Slice(), 682}).abs().max().item<float>(), 0.0f);
  const auto masks = xsam::sam_prompt_masks({xsam::decode_mask_file(image_path("vp_point.png"))}, sam, full);
  EXPECT_EQ(masks.sizes(), (std::vector<int64_t>{1, 1024, 1024}));
  EXPECT_GT(masks.sum().item<int64_t>(), 0);
  EXPECT_EQ(masks.index({0, torch::indexing::Slice(683, torch::indexing::None)}).sum().item<int64_t>(), 0);
}
