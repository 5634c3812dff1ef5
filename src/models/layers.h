// Small building blocks shared by the modules (header-only).
//
// Why not torch::nn::Linear / Conv2d / LayerNorm: those initialise their weights randomly on
// construction (seconds of work for a 4.6 B-parameter model, then thrown away by the checkpoint) and
// their option structs pull heavy headers into every includer. These holders only allocate tensors
// under the checkpoint's leaf names (`weight`, `bias`), which xsam::bind_module then fills.
//
// Parameters are registered with requires_grad = false: the library only runs inference.
//
// The fp32 "islands" of docs/design/numerics.md live here too: LayerNorm statistics are always computed in fp32,
// so a bf16 module behaves like upstream's bf16 run on GPU (fp32 accumulation inside the kernel).
#pragma once
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "kernels/linear.h"

namespace xsam::layers {

// A parameter-less module used only to give parameters their dotted checkpoint path
// (e.g. "vision_model" → "encoder" → "layers" → "0").
class Group : public torch::nn::Module {};

// Registers an empty Group called `name` under `parent` and returns it.
inline std::shared_ptr<Group> add_group(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<Group>());
}

// y = x W^T + b — checkpoint names `weight` (out, in), `bias` (out). In the mixed runtime the weight stays
// bf16 (as stored) while x, the bias and y are fp32 (kernels/linear.h).
class Linear : public torch::nn::Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool with_bias) {
    weight = register_parameter("weight", torch::empty({out_features, in_features}), false);
    if (with_bias) bias = register_parameter("bias", torch::empty({out_features}), false);
  }
  torch::Tensor operator()(const torch::Tensor& x) const { return xsam::linear(x, weight, bias); }
  torch::Tensor weight, bias;  // bias undefined when the layer has none
};

// An embedding table of which only the table is read (no lookup): name `weight` (rows, dim).
class EmbeddingTable : public torch::nn::Module {
 public:
  EmbeddingTable(int64_t rows, int64_t dim) { weight = register_parameter("weight", torch::empty({rows, dim}), false); }
  torch::Tensor weight;
};

// 2-D convolution with square kernel/stride/padding — names `weight` (out, in, k, k), `bias` (out).
class Conv2d : public torch::nn::Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding, bool with_bias)
      : stride_(stride), padding_(padding) {
    weight = register_parameter("weight", torch::empty({out_channels, in_channels, kernel, kernel}), false);
    if (with_bias) bias = register_parameter("bias", torch::empty({out_channels}), false);
  }
  torch::Tensor operator()(const torch::Tensor& x) const {
    return at::conv2d(x, weight, bias, {stride_, stride_}, {padding_, padding_});
  }
  torch::Tensor weight, bias;

 private:
  int64_t stride_, padding_;
};

// LayerNorm over the last dimension (nn.LayerNorm). Statistics and affine in fp32, result in the input
// dtype: for fp32 this is exactly at::layer_norm; for bf16 it is what the CUDA kernel upstream ran does.
class LayerNorm : public torch::nn::Module {
 public:
  LayerNorm(int64_t dim, double eps) : eps_(eps) {
    weight = register_parameter("weight", torch::empty({dim}), false);
    bias = register_parameter("bias", torch::empty({dim}), false);
  }
  torch::Tensor operator()(const torch::Tensor& x) const {
    if (x.scalar_type() == at::kFloat) return at::layer_norm(x, {weight.size(0)}, weight, bias, eps_);
    return at::layer_norm(x.to(at::kFloat), {weight.size(0)}, weight.to(at::kFloat), bias.to(at::kFloat), eps_)
        .to(x.scalar_type());
  }
  torch::Tensor weight, bias;

 private:
  double eps_;
};

// SAM's LayerNorm2d (`SamLayerNorm(data_format="channels_first")`, docs/design/upstream-facts.md#connector) over dim 1 of NCHW:
// mean and biased variance in fp32, divide by sqrt(var + eps) (not ·rsqrt), cast back to the input
// dtype, then the affine in the input dtype — the same rounding points as upstream.
class LayerNorm2d : public torch::nn::Module {
 public:
  LayerNorm2d(int64_t channels, double eps) : eps_(eps) {
    weight = register_parameter("weight", torch::empty({channels}), false);
    bias = register_parameter("bias", torch::empty({channels}), false);
  }
  torch::Tensor operator()(const torch::Tensor& x) const {
    auto xf = x.to(at::kFloat);
    auto u = xf.mean(1, /*keepdim=*/true);
    auto centred = xf - u;
    auto var = centred.pow(2).mean(1, /*keepdim=*/true);
    auto normed = (centred / at::sqrt(var + eps_)).to(x.scalar_type());
    return weight.view({-1, 1, 1}) * normed + bias.view({-1, 1, 1});
  }
  torch::Tensor weight, bias;

 private:
  double eps_;
};

// softmax over the last dim computed in fp32, returned in `dtype` (HF eager attention, SAM attention).
inline torch::Tensor softmax_fp32(const torch::Tensor& scores, at::ScalarType dtype) {
  return at::softmax(scores, -1, at::kFloat).to(dtype);
}

// Dtype of a module's parameters (the runtime dtype: fp32 or bf16).
inline at::ScalarType module_dtype(const torch::nn::Module& m) {
  auto params = m.parameters(true);
  return params.empty() ? at::kFloat : params.front().scalar_type();
}

}  // namespace xsam::layers
