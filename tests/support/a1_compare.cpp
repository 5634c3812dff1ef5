#include "support/a1_compare.h"

#include <cstdio>

namespace xsam::test {
namespace {

constexpr size_t kMaxRefusedListed = 10;

std::string position(int64_t index, const torch::Tensor& shape_of) {
  if (shape_of.dim() != 2) return "[" + std::to_string(index) + "]";
  const int64_t w = shape_of.size(1);
  return "(y=" + std::to_string(index / w) + ", x=" + std::to_string(index % w) + ")";
}

}  // namespace

DiscreteDiff diff_pixels(const torch::Tensor& ours, const torch::Tensor& reference, const torch::Tensor& margin,
                         double tol) {
  DiscreteDiff d;
  const auto a = ours.to(torch::kInt64).contiguous().flatten();
  const auto b = reference.to(torch::kInt64).contiguous().flatten();
  const auto m = margin.to(torch::kFloat64).contiguous().flatten();
  TORCH_CHECK(a.numel() == b.numel() && a.numel() == m.numel(), "diff_pixels: shapes differ");
  const auto idx = a.ne(b).nonzero().flatten();
  const int64_t* ip = idx.data_ptr<int64_t>();
  for (int64_t k = 0; k < idx.numel(); ++k) {
    const int64_t i = ip[k];
    const int64_t va = a[i].item<int64_t>(), vb = b[i].item<int64_t>();
    const double mi = m[i].item<double>();
    char line[160];
    std::snprintf(line, sizeof line, "%s ours=%lld reference=%lld margin=%.3g", position(i, ours).c_str(),
                  (long long)va, (long long)vb, mi);
    ++d.differing;
    if (mi < tol) {
      ++d.allowed;
      d.listed.push_back(line);
    } else if (d.refused.size() < kMaxRefusedListed) {
      d.refused.push_back(line);
    }
  }
  return d;
}

DiscreteDiff diff_ids(const std::vector<int64_t>& ours, const std::vector<int64_t>& reference,
                      const std::vector<float>& margins) {
  DiscreteDiff d;
  size_t i = 0;
  while (i < ours.size() && i < reference.size() && ours[i] == reference[i]) ++i;
  if (i == ours.size() && i == reference.size()) return d;
  d.differing = 1;
  char line[200];
  const long long a = i < ours.size() ? ours[i] : -1, b = i < reference.size() ? reference[i] : -1;
  const double margin = i < margins.size() ? margins[i] : 1.0;
  std::snprintf(line, sizeof line, "position %zu: ours=%lld reference=%lld (-1 = ended), top-2 margin %.3g; "
                "%zu of ours / %zu of the reference's ids follow, not compared",
                i, a, b, margin, ours.size() - std::min(ours.size(), i + 1), reference.size() - std::min(reference.size(), i + 1));
  // A length difference alone (one stopped, the other went on) is a differing id too: ours ended where the
  // reference did not, or the other way round, and the margin of the id that ended it decides.
  if (margin < kIdTieTol) {
    d.allowed = 1;
    d.listed.push_back(line);
  } else {
    d.refused.push_back(line);
  }
  return d;
}

bool report(const DiscreteDiff& d, const std::string& what, const std::string& rule) {
  const bool pass = d.unexplained() == 0;
  std::printf("[parity] %-60s differing=%lld allowed=%lld tol=%s %s\n", what.c_str(), (long long)d.differing,
              (long long)d.allowed, rule.c_str(), pass ? "PASS" : "FAIL");
  for (const auto& l : d.listed) std::printf("[parity]   allowed: %s\n", l.c_str());
  for (const auto& l : d.refused) std::printf("[parity]   NOT allowed: %s\n", l.c_str());
  return pass;
}

}  // namespace xsam::test
