// The backward of an activation fused into a convolution, written straight into the layout the
// convolution's backward reads: one pass over dOut and Out instead of oneDNN's eltwise backward
// into NCHW and a reorder. On VGG-11 both took the same time (measured, interleaved); this one
// also serves the sigmoid (LeNet-5), whose fusion made LeNet-5's step about 15 % faster.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "common.h"

namespace pcnn {

// Which activation a convolution carries as a post-op: a (leaky) ReLU with slope `alpha` below
// zero (0 = ReLU), or the logistic sigmoid.
struct Act {
  bool sigmoid;
  float alpha;
};

inline Act act_of(const std::string& name, float alpha) {
  PD_CHECK(name == "relu" || name == "sigmoid", "fused activation must be relu or sigmoid, got ", name);
  return {name == "sigmoid", alpha};
}

inline dnnl::algorithm act_algorithm(const Act& a) {
  return a.sigmoid ? dnnl::algorithm::eltwise_logistic : dnnl::algorithm::eltwise_relu;
}

// dPre from dOut and the activation's output Out over n values: ReLU passes dOut where Out > 0
// (with alpha >= 0 that is exactly where the input was > 0, as paddle decides) and alpha * dOut
// elsewhere; the sigmoid multiplies by Out * (1 - Out).
inline void act_grad_row(const Act& a, const float* out, const float* dout, float* dpre, int64_t n) {
  if (a.sigmoid) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dpre[i] = dout[i] * out[i] * (1.f - out[i]);
  } else {
    const float alpha = a.alpha;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dpre[i] = out[i] > 0.f ? dout[i] : alpha * dout[i];
  }
}

// The channel block of `md` when it is oneDNN's nChw8c / nChw16c layout of an (N, C, H, W)
// tensor (channels padded up to a whole block), 1 when it is plain NCHW, 0 for anything else.
inline int channel_block(const memory::desc& md) {
  auto dims = md.get_dims();
  if (dims.size() != 4) return 0;
  if (md == memory::desc(dims, dt::f32, tag::nchw)) return 1;
  if (md == memory::desc(dims, dt::f32, tag::nChw16c)) return 16;
  if (md == memory::desc(dims, dt::f32, tag::nChw8c)) return 8;
  return 0;
}

// dpre[n][c/B][h][w][c%B] = act_grad(out, dout) for NCHW `out`, `dout` of shape (N, C, H, W);
// B = `block` (1 writes plain NCHW). Padding channels of the last block are zero-filled, as
// oneDNN's blocked layouts require. All cores (oneDNN's OpenMP team), one (image, channel
// block) per task; each tile of 64 pixels x B channels is computed row by row (vectorised)
// into a buffer in L1, then transposed into place.
inline void act_grad_into(const Act& a, const float* out, const float* dout, float* dpre, int64_t N, int64_t C,
                          int64_t HW, int block) {
  if (block == 1) {
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < N * C; ++row) act_grad_row(a, out + row * HW, dout + row * HW, dpre + row * HW, HW);
    return;
  }
  constexpr int64_t kTile = 64;
  const int64_t B = block, CB = (C + B - 1) / B;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t cb = 0; cb < CB; ++cb) {
      alignas(64) float tile[16 * kTile];
      float* d = dpre + (n * CB + cb) * HW * B;
      for (int64_t p0 = 0; p0 < HW; p0 += kTile) {
        const int64_t len = std::min(kTile, HW - p0);
        for (int64_t c = 0; c < B; ++c) {
          const int64_t ch = cb * B + c, at = (n * C + ch) * HW + p0;
          if (ch < C) act_grad_row(a, out + at, dout + at, tile + c * kTile, len);
          else std::fill(tile + c * kTile, tile + c * kTile + len, 0.f);
        }
        for (int64_t p = 0; p < len; ++p)
          for (int64_t c = 0; c < B; ++c) d[(p0 + p) * B + c] = tile[c * kTile + p];
      }
    }
  }
}

}  // namespace pcnn
