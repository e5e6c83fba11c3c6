// NF4 quantisation (see include/mtk/llm/nf4.hpp).
#include "mtk/llm/nf4.hpp"

#include <ATen/ATen.h>

#include "mtk/core/error.hpp"

namespace mtk::llm {

const std::array<float, 16>& nf4_levels() {
  // The quantiles of N(0, 1) normalised to [-1, 1] with an exact zero (QLoRA, appendix E), as
  // bitsandbytes tabulates them.
  static const std::array<float, 16> levels = {
      -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
      -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
      0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f,
      1.0f};
  return levels;
}

Nf4Blocks nf4_quantize(const at::Tensor& w) {
  if (w.numel() % 64 != 0)
    throw Error("NF4 needs a multiple of 64 values, this tensor has " + std::to_string(w.numel()),
                "keep this tensor unquantised");
  const auto& lv = nf4_levels();
  std::array<float, 15> mids;
  for (size_t i = 0; i < 15; ++i) mids[i] = static_cast<float>((static_cast<double>(lv[i]) + lv[i + 1]) / 2);
  const auto opts = w.options().dtype(at::kFloat);
  const at::Tensor blocks = w.detach().to(at::kFloat).reshape({-1, 64});
  Nf4Blocks q;
  q.absmax = blocks.abs().amax({1}).contiguous();
  // A block of zeros scales by 1 (its values stay 0).
  const at::Tensor scale = at::where(q.absmax > 0, q.absmax, at::ones_like(q.absmax));
  const at::Tensor norm = blocks / scale.unsqueeze(1);
  const at::Tensor bounds = at::from_blob(mids.data(), {15}, at::kFloat).to(opts.device());
  const at::Tensor idx = at::bucketize(norm, bounds, /*out_int32=*/false, /*right=*/false);  // x <= mid: lower
  const at::Tensor pairs = idx.reshape({-1, 2});
  q.packed = (pairs.select(1, 0) * 16 + pairs.select(1, 1)).to(at::kByte).contiguous();
  return q;
}

at::Tensor nf4_dequantize(const Nf4Blocks& q, int64_t rows, int64_t cols) {
  const auto& lv = nf4_levels();
  const at::Tensor levels = at::from_blob(const_cast<float*>(lv.data()), {16}, at::kFloat).to(q.packed.device());
  const at::Tensor p = q.packed.to(at::kLong);
  const at::Tensor idx = at::stack({at::floor_divide(p, 16), at::remainder(p, 16)}, 1).reshape({-1, 64});
  return (levels.index({idx}) * q.absmax.unsqueeze(1)).reshape({rows, cols});
}

}  // namespace mtk::llm
