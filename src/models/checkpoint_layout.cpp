#include "models/checkpoint_layout.h"

#include <set>

#include <torch/torch.h>

#include "models/xsam_modules.h"

namespace xsam {

namespace {

using Shape = std::vector<int64_t>;

// The tensors upstream keeps that no xsam module has, by the part they follow (under that part's prefix).
std::vector<LayoutTensor> optional_groups_after(const BoundPart& part, const ModelConfig& c) {
  std::vector<LayoutTensor> out;
  auto add = [&](const char* group, const std::string& name, Shape shape) {
    out.push_back({name, std::move(shape), group, true});
  };
  auto norm = [&](const char* group, const std::string& name, int64_t n) {
    add(group, name + ".weight", {n});
    add(group, name + ".bias", {n});
  };
  auto linear = [&](const char* group, const std::string& name, int64_t o, int64_t i) {
    add(group, name + ".weight", {o, i});
    add(group, name + ".bias", {o});
  };
  if (part.name == "siglip_vision") {
    const std::string v = part.prefix + "vision_model.";
    const int64_t h = c.siglip.hidden_size, mlp = c.siglip.intermediate_size;
    norm("siglip_post_layernorm", v + "post_layernorm", h);
    add("siglip_head", v + "head.probe", {1, 1, h});  // the pooling head: attention pooling over a probe
    add("siglip_head", v + "head.attention.in_proj_weight", {3 * h, h});
    add("siglip_head", v + "head.attention.in_proj_bias", {3 * h});
    linear("siglip_head", v + "head.attention.out_proj", h, h);
    norm("siglip_head", v + "head.layernorm", h);
    linear("siglip_head", v + "head.mlp.fc1", mlp, h);
    linear("siglip_head", v + "head.mlp.fc2", h, mlp);
  } else if (part.name == "sam_encoder") {
    const int64_t d = c.sam.hidden_size, o = c.sam.output_channels;
    add("sam_neck", part.prefix + "neck.conv1.weight", {o, d, 1, 1});
    norm("sam_neck", part.prefix + "neck.layer_norm1", o);
    add("sam_neck", part.prefix + "neck.conv2.weight", {o, o, 3, 3});
    norm("sam_neck", part.prefix + "neck.layer_norm2", o);
  } else if (part.name == "mask2former") {
    // SAM's prompt encoder, of which only this random-Fourier table sits in the segmentor's state dict.
    add("shared_image_embedding", part.prefix + "shared_image_embedding.positional_embedding",
        {2, c.sam.output_channels / 2});
  } else if (part.name == "bg_embeds" && c.behaviour.preset == "main") {
    add("pad_embeds", "pad_embeds.weight", {1, c.mask2former.hidden_dim});  // main's use_pad_embeds
  }
  return out;
}

// The keys of `all`'s tensors that `used` lacks, as members of `group`.
std::vector<LayoutTensor> tensors_not_in(torch::nn::Module& all, torch::nn::Module& used, const std::string& prefix,
                                         const char* group) {
  std::set<std::string> built;
  for (const auto& p : used.named_parameters(true)) built.insert(p.key());
  std::vector<LayoutTensor> out;
  for (const auto& p : all.named_parameters(true))
    if (!built.count(p.key())) out.push_back({prefix + p.key(), p.value().sizes().vec(), group, false});
  return out;
}

// The layers a part's checkpoint holds that inference skips: SigLIP's after the selected hidden state and
// SAM's after the deepest one used (the only parts built with fewer layers than their checkpoint): what the
// same module built with every layer has beyond the part as built.
std::vector<LayoutTensor> skipped_layers(const BoundPart& part, const ModelConfig& c) {
  if (part.name == "siglip_vision") {
    SiglipConfig every = c.siglip;
    every.select_hidden_state = c.siglip.num_layers;
    SiglipVision all(every);
    return tensors_not_in(all, *part.module, part.prefix, "siglip_layers_after_selected");
  }
  if (part.name == "sam_encoder") {
    SamEncoder all(c.sam, {c.sam.num_layers});
    return tensors_not_in(all, *part.module, part.prefix, "sam_blocks_after_deepest");
  }
  return {};
}

// What upstream's checkpoint holds for a part beyond what inference reads.
std::vector<LayoutTensor> unused_after(const BoundPart& part, const ModelConfig& c) {
  std::vector<LayoutTensor> out = skipped_layers(part, c);
  for (auto& t : optional_groups_after(part, c)) out.push_back(std::move(t));
  return out;
}

}  // namespace

std::vector<LayoutTensor> checkpoint_layout(const ModelConfig& c) {
  torch::NoGradGuard no_grad;
  const XSamModules modules = build_modules(c, torch::kFloat32);
  std::vector<LayoutTensor> out;
  for (const auto& part : bound_parts(modules, c)) {
    for (const auto& p : part.module->named_parameters(true))
      out.push_back({checkpoint_key(part, p.key()), p.value().sizes().vec(), "", false});
    for (const auto& b : part.module->named_buffers(true))
      out.push_back({checkpoint_key(part, b.key()), b.value().sizes().vec(), "", false});
    for (auto& t : unused_after(part, c)) out.push_back(std::move(t));
  }
  return out;
}

std::vector<std::string> unused_checkpoint_keys(const XSamModules& modules, const ModelConfig& c) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> out;
  for (const auto& part : bound_parts(modules, c))
    for (const auto& t : unused_after(part, c)) out.push_back(t.name);
  return out;
}

std::vector<std::string> unused_checkpoint_keys(const ModelConfig& c) {
  return unused_checkpoint_keys(build_modules(c, torch::kFloat32), c);
}

}  // namespace xsam
