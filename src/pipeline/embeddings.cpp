#include "pipeline/embeddings.h"

#include <map>

#include <torch/torch.h>

#include "core/error.h"
#include "models/xsam_model.h"

namespace xsam {

LlmInputs build_llm_inputs(const XSamModel& model, const std::vector<int64_t>& ids, const std::vector<int64_t>& cond_ids,
                           const std::vector<int64_t>& seg_ids, const ImageFeatures& image, const torch::Tensor& region_rows) {
  const TokenIds& tok = model.config().tokens;
  size_t image_at = ids.size();
  size_t n_regions = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == tok.image_sentinel) {
      if (image_at != ids.size()) fail(Status::InvalidArgument, "prompt: more than one <image> in the prompt");
      image_at = i;
    } else if (ids[i] == tok.region_sentinel) {
      if (image_at == ids.size()) fail(Status::InvalidArgument, "prompt: <region> before <image>");
      ++n_regions;
    }
  }
  if (image_at == ids.size()) fail(Status::InvalidArgument, "prompt: no <image> in the prompt");
  const int64_t available = region_rows.defined() ? region_rows.size(0) : 0;
  if (static_cast<int64_t>(n_regions) != available)
    fail(Status::InvalidArgument, "refs: the prompt has " + std::to_string(n_regions) + " <region> placeholder(s) but " +
                                      std::to_string(available) + " visual ref(s) were given");
  for (size_t i = 0; i < image_at; ++i)
    if (cond_ids[i] >= 0 || seg_ids[i] >= 0)
      fail(Status::InvalidArgument, "prompt: a phrase or <SEG> before <image> is not supported");

  LlmInputs out;
  out.prefix_ids.assign(ids.begin(), ids.begin() + image_at);
  std::vector<torch::Tensor> prefix_parts;
  if (image_at > 0) prefix_parts.push_back(model.embed_tokens(out.prefix_ids));
  prefix_parts.push_back(image.image_rows);
  out.prefix = torch::cat(prefix_parts, 1);

  // The rest: runs of text ids embedded together, region sentinels replaced by their rows.
  std::vector<torch::Tensor> parts;
  std::vector<int64_t> run;
  int64_t region = 0;
  auto flush = [&] {
    if (!run.empty()) parts.push_back(model.embed_tokens(run));
    run.clear();
  };
  for (size_t i = image_at + 1; i < ids.size(); ++i) {
    if (ids[i] == tok.region_sentinel) {
      flush();
      auto rows = region_rows[region].unsqueeze(0).to(model.dtype());  // [1, k, H]
      parts.push_back(rows);
      for (int64_t r = 0; r < rows.size(1); ++r) {
        out.rest_cond_ids.push_back(region);  // the region row carries its region's phrase id
        out.rest_seg_ids.push_back(-1);
      }
      ++region;
    } else {
      if (ids[i] < 0 || ids[i] >= model.config().llm.vocab_size)
        fail(Status::InvalidArgument, "prompt: token id " + std::to_string(ids[i]) + " outside the vocabulary");
      run.push_back(ids[i]);
      out.rest_cond_ids.push_back(cond_ids[i]);
      out.rest_seg_ids.push_back(seg_ids[i]);
    }
  }
  flush();
  if (parts.empty()) fail(Status::InvalidArgument, "prompt: nothing after <image>");
  out.rest = torch::cat(parts, 1);
  return out;
}

torch::Tensor pool_by_ids(const torch::Tensor& projected, const std::vector<int64_t>& ids) {
  if (static_cast<int64_t>(ids.size()) != projected.size(0))
    fail(Status::Internal, "pool_by_ids: " + std::to_string(ids.size()) + " ids for " + std::to_string(projected.size(0)) + " rows");
  std::map<int64_t, std::vector<int64_t>> rows;  // ascending, as torch.unique
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] >= 0) rows[ids[i]].push_back(static_cast<int64_t>(i));
  if (rows.empty()) return torch::empty({0, projected.size(1)}, projected.options());
  std::vector<torch::Tensor> out;
  for (const auto& [id, idx] : rows)
    out.push_back(projected.index_select(0, torch::tensor(idx, torch::kInt64).to(projected.device())).mean(0));
  return torch::stack(out);
}

std::optional<DecoderConditions> process_embeds(CondLayout layout, const torch::Tensor& conds, const torch::Tensor& segs,
                                                const torch::Tensor& bg, std::string* why) {
  const int64_t c = conds.defined() ? conds.size(0) : 0;
  const int64_t s = segs.defined() ? segs.size(0) : 0;
  if (c == 0 || s == 0) {
    *why = c == 0 ? "no <p>...</p> phrase in the prompt or answer" : "no <SEG> token in the answer";
    return std::nullopt;
  }
  DecoderConditions d;
  auto all = torch::cat({conds, bg.to(conds.dtype())}, 0);  // [C+1, D], background last
  if (layout == CondLayout::PerPhrase) {
    // One decoder row per <SEG>; row i reads class column i (docs/design/decisions.md#where-upstream-fails).
    if (s != c) {
      *why = "the answer has " + std::to_string(s) + " <SEG> for " + std::to_string(c) + " phrase(s)";
      return std::nullopt;
    }
    d.cond = all.unsqueeze(0).repeat({c, 1, 1});
    d.seg = segs.unsqueeze(1);
    d.repeat = c;
    return d;
  }
  if (s != 1) {
    *why = "upstream segments only with exactly one <SEG>, the answer has " + std::to_string(s);
    return std::nullopt;
  }
  d.cond = all.unsqueeze(0);
  d.seg = segs.unsqueeze(0);
  d.embed_masks = torch::ones({1, c + 1}, conds.options());
  return d;
}

}  // namespace xsam
