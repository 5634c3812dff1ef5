// Preprocessing parity with the upstream processors (golden preprocess.safetensors, preprocess_extra
// .safetensors) and with every golden `prepared.vprompt_masks`: decode the golden PNGs ourselves, run
// SigLIP / SAM preprocessing and the prompt-mask path, compare. Bound: 1e-6 relative
// (docs/design/decisions.md#tolerances); the PIL-exact port is expected to be bit-exact, the printed errors
// say whether it is.
#include <algorithm>
#include <cstdio>
#include <iterator>
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

// preprocess.safetensors, plus preprocess_extra.safetensors where the set has it (an extra a set may lack:
// skipped by name, printed once).
const std::map<std::string, torch::Tensor>& processor_goldens() {
  static const auto all = [] {
    auto a = xsam::load_safetensors(golden_dir() + "/preprocess.safetensors");
    if (xsam::test::golden_has_file("preprocess_extra.safetensors")) {
      for (auto& [k, v] : xsam::load_safetensors(golden_dir() + "/preprocess_extra.safetensors")) a[k] = v;
    } else {
      xsam::test::print_skip("ImagePreprocessGolden", "no preprocess_extra.safetensors: its images are not checked");
    }
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

bool has_image(const std::string& file) { return xsam::test::golden_has_file("images/" + file); }

// The visual-prompt mask file of `kind` for an image: "<image>_vp_<kind>.png" where the set has one, else
// the shared "vp_<kind>.png" (the generator's naming; tests/data/golden/README.upstream.md).
std::string prompt_mask_file(const std::string& image, const std::string& kind) {
  const std::string own = image + "_vp_" + kind + ".png";
  return has_image(own) ? own : "vp_" + kind + ".png";
}

struct ProcessorCase {
  std::string name;                // tensor prefix and image file stem
  std::vector<std::string> masks;  // files behind "<name>.sam.vprompt_masks(<kinds>)", in order
  std::string mask_tensor;
};

// Every image the processor goldens hold ("<name>.input_image_uint8"), with its prompt masks
// ("<name>.sam.vprompt_masks(<kind>,<kind>...)"), read from the tensor names of the set itself.
const std::vector<ProcessorCase>& processor_cases() {
  static const std::vector<ProcessorCase> cases = [] {
    std::vector<ProcessorCase> out;
    const std::string image_suffix = ".input_image_uint8";
    for (const auto& [key, value] : processor_goldens()) {
      if (key.size() <= image_suffix.size() || key.compare(key.size() - image_suffix.size(), image_suffix.size(), image_suffix))
        continue;
      ProcessorCase c;
      c.name = key.substr(0, key.size() - image_suffix.size());
      const std::string masks_prefix = c.name + ".sam.vprompt_masks(";
      for (const auto& entry : processor_goldens()) {
        if (entry.first.rfind(masks_prefix, 0) != 0) continue;
        c.mask_tensor = entry.first;
        std::string kinds = entry.first.substr(masks_prefix.size());
        kinds = kinds.substr(0, kinds.find(')'));
        for (size_t at = 0; at <= kinds.size();) {
          const size_t comma = std::min(kinds.find(',', at), kinds.size());
          c.masks.push_back(prompt_mask_file(c.name, kinds.substr(at, comma - at)));
          at = comma + 1;
        }
      }
      out.push_back(c);
    }
    return out;
  }();
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
  EXPECT_EQ(checked, static_cast<int>(processor_cases().size() * std::size(variants)));
  EXPECT_GT(checked, 0);
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
  // Every prompt-mask tensor of the processor goldens was checked.
  int tensors = 0;
  for (const auto& entry : processor_goldens()) tensors += entry.first.find(".sam.vprompt_masks(") != std::string::npos;
  EXPECT_EQ(checked, tensors);
}

// The image a case ran on: "<file>:<image>.sam.pixel_values" in its extra_pixel_values_same_as.
std::string case_image_name(const nlohmann::json& j) {
  std::string ref = j.at("extra_pixel_values_same_as").get<std::string>();
  ref = ref.substr(ref.find(':') + 1);
  return ref.substr(0, ref.find('.'));
}

// The prompt-mask files of a case, in region order. The generator names a case
// [<image>_]<task>[_<image>]_<kind>[_<kind>...] (e.g. vgdseg_box_box2, portrait_intseg_scribble): every
// part that is neither the task nor the image is a mask kind.
std::vector<std::string> case_mask_files(const std::string& name, const std::string& task, const std::string& image) {
  std::vector<std::string> files;
  for (size_t at = 0; at <= name.size();) {
    const size_t cut = std::min(name.find('_', at), name.size());
    const std::string part = name.substr(at, cut - at);
    if (part != task && part != image) files.push_back(prompt_mask_file(image, part));
    at = cut + 1;
  }
  return files;
}

// Every golden case that stores `prepared.vprompt_masks`: its masks decoded from the set's PNGs (region
// order = the order of the kinds in the case name), the image from the case's own record.
TEST(ImagePreprocessGolden, CasePreparedVpromptMasks) {
  const auto index = xsam::test::read_json(golden_dir() + "/index.json");
  const auto cfg = golden_preprocess();
  int checked = 0;
  for (auto it = index.begin(); it != index.end(); ++it) {
    if (!it.value().contains("prepared.vprompt_masks")) continue;
    const std::string name = it.key();
    const xsam::test::GoldenCase gc(name);
    const std::string image = case_image_name(gc.json());
    const auto files = case_mask_files(name, gc.json().at("task_name").get<std::string>(), image);
    for (const auto& f : files) ASSERT_TRUE(has_image(f)) << "case_" << name << ": no images/" << f;
    const auto img = xsam::decode_image_file(image_path(image + ".png"));
    const auto sam = xsam::sam_preprocess(img, cfg);
    const auto& scaled = gc.json()["scaled_size"];
    EXPECT_EQ(sam.scaled.height, scaled[0].get<int>()) << name;
    EXPECT_EQ(sam.scaled.width, scaled[1].get<int>()) << name;
    std::vector<xsam::Mask> masks;
    for (const auto& f : files) masks.push_back(xsam::decode_mask_file(image_path(f)));
    expect_identical(xsam::sam_prompt_masks(masks, sam, cfg), gc.get("prepared.vprompt_masks"),
                     "case_" + name + " prepared.vprompt_masks");
    ++checked;
  }
  std::printf("[parity] prepared.vprompt_masks checked in %d cases\n", checked);
}

// The released model's sizes: shapes only (there is no full-size golden).
TEST(ImagePreprocessGolden, FullSizeShapes) {
  const auto full = xsam::size_preset("full").preprocess;
  ASSERT_FALSE(processor_cases().empty());
  const std::string image = processor_cases().front().name;
  const auto img = xsam::decode_image_file(image_path(image + ".png"));
  const auto sig = xsam::siglip_preprocess(img, full);
  EXPECT_EQ(sig.sizes(), (std::vector<int64_t>{1, 3, full.siglip_size, full.siglip_size}));
  const auto sam = xsam::sam_preprocess(img, full);
  const int64_t S = full.sam_size;
  EXPECT_EQ(sam.pixel_values.sizes(), (std::vector<int64_t>{1, 3, S, S}));
  EXPECT_EQ(S, 1024);  // not from the set: the released SAM ViT-L input side
  // The longest side becomes S; the other int(side · S / longest + 0.5), as upstream's processor rounds.
  const int longest = std::max(img.height, img.width);
  const auto scaled = [&](int side) { return static_cast<int>(double(side) * double(S) / double(longest) + 0.5); };
  EXPECT_EQ(sam.scaled.height, scaled(img.height));
  EXPECT_EQ(sam.scaled.width, scaled(img.width));
  using torch::indexing::None;
  using torch::indexing::Slice;
  const int64_t h = sam.scaled.height, w = sam.scaled.width;
  // Padding below and right of the image is exactly 0 (the mean colour after normalisation).
  EXPECT_EQ(sam.pixel_values.index({0, Slice(), Slice(h, None)}).abs().max().item<float>(), 0.0f) << "rows >= " << h;
  if (w < S) EXPECT_EQ(sam.pixel_values.index({0, Slice(), Slice(), Slice(w, None)}).abs().max().item<float>(), 0.0f);
  EXPECT_GT(sam.pixel_values.index({0, Slice(), h - 1}).abs().max().item<float>(), 0.0f);
  const auto& first_masks = processor_cases().front().masks;
  if (first_masks.empty()) return;
  const auto masks = xsam::sam_prompt_masks({xsam::decode_mask_file(image_path(first_masks.front()))}, sam, full);
  EXPECT_EQ(masks.sizes(), (std::vector<int64_t>{1, S, S}));
  EXPECT_GT(masks.sum().item<int64_t>(), 0);
  EXPECT_EQ(masks.index({0, Slice(h, None)}).sum().item<int64_t>(), 0);
}
