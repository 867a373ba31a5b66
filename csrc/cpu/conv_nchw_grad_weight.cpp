// Weight gradient of an NCHW float32 convolution without im2col packing (AVX-512).
//
//   gw[oc, k] = sum over pixels p of gy[oc, p] * x[k-th window value of p],  k = (c, kh, kw)
//
// The packed path builds a transposed im2col panel (32 window values per
// pixel, gathered from 32 different rows of the image) for every block of
// pixels. Here the 12-row micro-tile runs over k instead of oc: its 12 window
// values per pixel are read straight from 12 image rows (broadcasts; along an
// output row, pixel j of row k sits j*sw further on), and only grad_output is
// packed: [pixel][32 oc] panels, by fast 8x8 transposes of its contiguous rows.
// The image is first copied with a zero border, so no window value needs a
// bounds check. Each thread sums its pixels into its own [K][OC] tile; the
// sums are added and transposed into gw at the end.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "conv_driver.h"
#include "gemm/microkernel.h"
#include "gemm/pack_x86.h"
#include "output_cache.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include "conv_tile_avx512.h"

namespace fastnn::cpu::conv {
namespace {

using tile::kRows;                          // window values (k) per micro-tile
using tile::kCols;                          // output channels per micro-tile
constexpr int64_t kBlockPixels = 256;              // about this many output pixels per packed panel
constexpr int64_t kMaxPaddedFloats = int64_t(1) << 25;  // 128 MiB: beyond that, the packed path

// c[i][0..32) += sum over output rows r < nrows and columns j < ncols of
// a[i][r*row_step + j*sw] * b[r*ncols + j][0..32), for rows i < krows.
FASTNN_AVX512 void window_x_grad_12x32(const float* const* a, int krows, int64_t nrows, int64_t ncols,
                                       int64_t row_step, int64_t sw, const float* b, float* c, int64_t ldc,
                                       int cols) {
  __m512 acc0[kRows], acc1[kRows];
#pragma GCC unroll 12
  for (int i = 0; i < kRows; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
  const float *a6 = a[6], *a7 = a[7], *a8 = a[8], *a9 = a[9], *a10 = a[10], *a11 = a[11];
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t j = 0, o = r * row_step; j < ncols; ++j, o += sw) {
      const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
      b += kCols;
      FASTNN_TILE_12_ROWS(a, o)
    }
  }
  tile::store(acc0, acc1, c, ldc, /*load_c=*/true, cols, krows);
}

}  // namespace

bool nchw_direct_grad_weight_f32(const Geom& g, int64_t groups, int64_t Ctot, int64_t OCtot, const float* x,
                                 const float* gy, float* gw) {
  const int64_t K = g.K(), P = g.P(), Hp = g.H + 2 * g.ph, Wp = g.W + 2 * g.pw;
  if (!use_avx512() || g.ph < 0 || g.pw < 0 || g.N * Ctot * Hp * Wp > kMaxPaddedFloats) return false;

  // the image with a zero border of the padding's width
  std::shared_ptr<void> xpad_buf = cached_block(static_cast<size_t>(g.N * Ctot * Hp * Wp) * sizeof(float));
  float* xpad = static_cast<float*>(xpad_buf.get());
  at::parallel_for(0, g.N * Ctot, 1, [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      float* dst = xpad + plane * Hp * Wp;
      const float* src = x + plane * g.H * g.W;
      std::memset(dst, 0, static_cast<size_t>(g.ph * Wp) * sizeof(float));
      for (int64_t ih = 0; ih < g.H; ++ih) {
        float* row = dst + (g.ph + ih) * Wp;
        std::fill(row, row + g.pw, 0.0f);
        std::memcpy(row + g.pw, src + ih * g.W, static_cast<size_t>(g.W) * sizeof(float));
        std::fill(row + g.pw + g.W, row + Wp, 0.0f);
      }
      std::memset(dst + (g.ph + g.H) * Wp, 0, static_cast<size_t>(g.ph * Wp) * sizeof(float));
    }
  });

  // work items: (image, block of output rows); each thread sums its items into [K][ldc]
  const int64_t rows_per_block = std::clamp<int64_t>(kBlockPixels / std::max<int64_t>(g.OW, 1), 1, g.OH);
  const int64_t blocks_per_image = ceil_div(g.OH, rows_per_block), items = g.N * blocks_per_image;
  const int64_t strips = ceil_div(g.OC, kCols), ldc = strips * kCols, kstrips = ceil_div(K, kRows);
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), items));
  const int64_t part = K * ldc;
  std::shared_ptr<void> partial_buf = cached_block(static_cast<size_t>(threads * part) * sizeof(float));
  float* partial = static_cast<float*>(partial_buf.get());
  const int64_t panel = rows_per_block * g.OW * kCols;  // floats of one packed strip
  const int64_t KHW = g.KH * g.KW;

  for (int64_t gi = 0; gi < groups; ++gi) {
    at::parallel_for(0, threads, 1, [&](int64_t tb, int64_t te) {
      std::shared_ptr<void> bbuf = cached_block(static_cast<size_t>(strips * panel) * sizeof(float));
      float* bpack = static_cast<float*>(bbuf.get());
      for (int64_t th = tb; th < te; ++th) {
        float* out = partial + th * part;
        std::fill(out, out + part, 0.0f);
        for (int64_t item = items * th / threads; item < items * (th + 1) / threads; ++item) {
          const int64_t n = item / blocks_per_image, oh0 = (item % blocks_per_image) * rows_per_block;
          const int64_t nrows = std::min(rows_per_block, g.OH - oh0), npix = nrows * g.OW;
          // grad_output of these pixels as [pixel][32 oc] panels (rows of gy are contiguous pixels)
          const float* gyb = gy + (n * OCtot + gi * g.OC) * P + oh0 * g.OW;
          for (int64_t s = 0; s < strips; ++s)
            pack_rowmajor_f32_x86(gyb + s * kCols * P, P, std::min<int64_t>(kCols, g.OC - s * kCols), npix, kCols,
                                  bpack + s * npix * kCols);
          const float* img = xpad + (n * Ctot + gi * g.C) * Hp * Wp + oh0 * g.sh * Wp;
          for (int64_t ks = 0; ks < kstrips; ++ks) {
            const int krows = static_cast<int>(std::min<int64_t>(kRows, K - ks * kRows));
            const float* a[kRows];
            for (int i = 0; i < kRows; ++i) {  // rows past K repeat the first (never stored)
              const int64_t k = ks * kRows + (i < krows ? i : 0), c = k / KHW, kh = k % KHW / g.KW, kw = k % g.KW;
              a[i] = img + c * Hp * Wp + kh * g.dh * Wp + kw * g.dw;
            }
            for (int64_t s = 0; s < strips; ++s)
              window_x_grad_12x32(a, krows, nrows, g.OW, g.sh * Wp, g.sw, bpack + s * npix * kCols,
                                  out + ks * kRows * ldc + s * kCols, ldc,
                                  static_cast<int>(std::min<int64_t>(kCols, g.OC - s * kCols)));
          }
        }
      }
    });
    // gw[oc, k] = sum over threads of partial[k][oc]
    at::parallel_for(0, g.OC, 16, [&](int64_t b, int64_t e) {
      for (int64_t oc = b; oc < e; ++oc) {
        float* dst = gw + (gi * g.OC + oc) * K;
        for (int64_t k = 0; k < K; ++k) {
          float v = 0.0f;
          for (int64_t th = 0; th < threads; ++th) v += partial[th * part + k * ldc + oc];
          dst[k] = v;
        }
      }
    });
  }
  return true;
}

}  // namespace fastnn::cpu::conv

#else

namespace fastnn::cpu::conv {
bool nchw_direct_grad_weight_f32(const Geom&, int64_t, int64_t, int64_t, const float*, const float*, float*) {
  return false;
}
}  // namespace fastnn::cpu::conv

#endif
