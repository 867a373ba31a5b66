// Weight (and bias) gradient of a channels_last float32 convolution without
// im2col packing (AVX-512).
//
//   gw[oc, k] = sum over pixels p of gy[p, oc] * x[window value k of p],  k = (kh, kw, c)
//
// The 12 x 32 micro-tile runs over 12 window values (rows) by 32 output
// channels (columns): per pixel it broadcasts 12 adjacent channels of one
// input pixel (or of two, where the 12 rows cross from one tap to the next)
// and loads 32 channels of the pixel's grad_output row as they are. Nothing
// is packed and no rows are wasted on padding the output channels to 12
// (with 64 of them, a 12-row tile over oc wasted 11%). Each thread sums its
// pixels into its own [K][OC] tile; the sums are added and transposed into
// gw at the end.
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <memory>
#include <utility>
#include <vector>

#include "conv_driver.h"
#include "gemm/microkernel.h"
#include "output_cache.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include "conv_tile_avx512.h"

namespace fastnn::cpu::conv {
namespace {

using tile::kRows;              // window values per micro-tile
using tile::kCols;              // output channels per micro-tile
constexpr int64_t kPixelBlock = 256;   // pixels whose window pointers are set up at once

// c[i][0..cols) (+)= sum over kc pixels k of a_i(k) * gy[k*ldg + 0..cols), for rows i < krows,
// where a_i(k) = pa[k][ca + i] for i < SPLIT and pb[k][i - SPLIT] from there on.
template <int SPLIT>
FASTNN_AVX512 void window_x_grad_12x32(int64_t kc, const float* const* pa, int64_t ca, const float* const* pb,
                                       const float* gy, int64_t ldg, float* c, int64_t ldc, bool load_c, int cols,
                                       int krows) {
  __m512 acc0[kRows], acc1[kRows];
#pragma GCC unroll 12
  for (int i = 0; i < kRows; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  const __mmask16 m0 = tile::low_lanes(cols), m1 = tile::high_lanes(cols);
  for (int64_t k = 0; k < kc; ++k) {
    const float* a = pa[k] + ca;
    const float* b = SPLIT < kRows ? pb[k] : a;
    const __m512 g0 = _mm512_maskz_loadu_ps(m0, gy + k * ldg), g1 = _mm512_maskz_loadu_ps(m1, gy + k * ldg + 16);
#pragma GCC unroll 12
    for (int i = 0; i < kRows; ++i) {
      const __m512 v = _mm512_set1_ps(i < SPLIT ? a[i] : b[i - SPLIT]);
      acc0[i] = _mm512_fmadd_ps(v, g0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(v, g1, acc1[i]);
    }
  }
  tile::store(acc0, acc1, c, ldc, load_c, cols, krows);
}

using TileFn = void (*)(int64_t, const float* const*, int64_t, const float* const*, const float*, int64_t, float*,
                        int64_t, bool, int, int);
template <int... S>
constexpr std::array<TileFn, sizeof...(S)> tile_fns(std::integer_sequence<int, S...>) {
  return {&window_x_grad_12x32<S + 1>...};
}
// kTile[split - 1]: the kernel whose first `split` rows come from the first tap (split 1..12)
constexpr auto kTile = tile_fns(std::make_integer_sequence<int, kRows>{});

}  // namespace

bool nhwc_direct_grad_weight_f32(const Geom& g, int64_t groups, int64_t Ctot, int64_t OCtot, const float* x,
                                 const float* gy, float* gw, float* gb) {
  // 12 adjacent window values span at most two taps only with 12+ channels per group
  const int64_t T = g.KH * g.KW, C = g.C, K = T * C;
  if (!use_avx512() || C < kRows || T > 64) return false;
  const int64_t Mtot = g.N * g.P(), img_stride = g.H * g.W * Ctot;
  const int64_t strips = ceil_div(g.OC, kCols), ldc = strips * kCols, kstrips = ceil_div(K, kRows);
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), Mtot / kPixelBlock));
  // per-thread partial sums over its pixels: [K, ldc] window-by-channel tile (+ OC bias sums)
  const int64_t part = K * ldc + g.OC;
  std::shared_ptr<void> partial_buf = cached_block(static_cast<size_t>(threads * part) * sizeof(float));
  float* partial = static_cast<float*>(partial_buf.get());
  const std::vector<float> zeros(static_cast<size_t>(std::max<int64_t>(C, kRows)), 0.0f);

  for (int64_t gi = 0; gi < groups; ++gi) {
    const float* xg = x + gi * C;
    const float* gyg = gy + gi * g.OC;
    at::parallel_for(0, threads, 1, [&](int64_t tb, int64_t te) {
      // ptr[t][k]: the input pixel under tap t of pixel k; slot T: zeros (rows past K)
      std::vector<const float*> ptr(static_cast<size_t>((T + 1) * kPixelBlock), zeros.data());
      for (int64_t th = tb; th < te; ++th) {
        float* out = partial + th * part;
        float* bsum = out + K * ldc;
        std::fill(out, out + part, 0.0f);
        const int64_t p0 = Mtot * th / threads, p1 = Mtot * (th + 1) / threads;
        for (int64_t pb = p0; pb < p1; pb += kPixelBlock) {
          const int64_t kc = std::min(kPixelBlock, p1 - pb);
          PixelCursor pc(pb, g.OH, g.OW);
          for (int64_t k = 0; k < kc; ++k, pc.next()) {
            const float* img = xg + pc.n * img_stride;
            const int64_t ih0 = pc.oh * g.sh - g.ph, iw0 = pc.ow * g.sw - g.pw;
            for (int64_t kh = 0, t = 0; kh < g.KH; ++kh)
              for (int64_t kw = 0; kw < g.KW; ++kw, ++t) {
                const int64_t ih = ih0 + kh * g.dh, iw = iw0 + kw * g.dw;
                const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
                ptr[t * kPixelBlock + k] = inside ? img + (ih * g.W + iw) * Ctot : zeros.data();
              }
            vadd(bsum, gyg + (pb + k) * OCtot, g.OC);
          }
          const float* gyb = gyg + pb * OCtot;
          for (int64_t ks = 0; ks < kstrips; ++ks) {
            const int64_t k0 = ks * kRows, tap = k0 / C, c0 = k0 % C;
            const int krows = static_cast<int>(std::min<int64_t>(kRows, K - k0));
            // rows [0, split) from this tap; the rest from the next one (zeros past the last)
            const int split = static_cast<int>(std::min<int64_t>(krows, C - c0));
            const float* const* pa = ptr.data() + tap * kPixelBlock;
            const float* const* pn = ptr.data() + std::min(tap + 1, T) * kPixelBlock;
            for (int64_t s = 0; s < strips; ++s)
              kTile[split - 1](kc, pa, c0, pn, gyb + s * kCols, OCtot, out + k0 * ldc + s * kCols, ldc, pb > p0,
                               static_cast<int>(std::min<int64_t>(kCols, g.OC - s * kCols)), krows);
          }
        }
      }
    });
    // gw[oc, k] = sum over threads of partial[k][oc]; gb likewise
    at::parallel_for(0, g.OC, 16, [&](int64_t b, int64_t e) {
      for (int64_t oc = b; oc < e; ++oc) {
        if (gw) {
          float* dst = gw + (gi * g.OC + oc) * K;
          for (int64_t k = 0; k < K; ++k) {
            float v = 0.0f;
            for (int64_t th = 0; th < threads; ++th) v += partial[th * part + k * ldc + oc];
            dst[k] = v;
          }
        }
        if (gb) {
          float v = 0.0f;
          for (int64_t th = 0; th < threads; ++th) v += partial[th * part + K * ldc + oc];
          gb[gi * g.OC + oc] = v;
        }
      }
    });
  }
  return true;
}

}  // namespace fastnn::cpu::conv

#else

namespace fastnn::cpu::conv {
bool nhwc_direct_grad_weight_f32(const Geom&, int64_t, int64_t, int64_t, const float*, const float*, float*, float*) {
  return false;
}
}  // namespace fastnn::cpu::conv

#endif
