// AVX-512 float32 depthwise kernels (groups == in == out channels). The
// generic loops in conv_depthwise.cpp call these first; they return false
// where they do not apply (no AVX-512; NCHW rows need stride 1).
//   NCHW: 16 output columns per register, all KH*KW taps accumulated in
//         registers, border lanes by masked loads.
//   NHWC: 16 channels per register, taps accumulated in registers.
#include <ATen/Parallel.h>

#include <vector>

#include "conv_common.h"
#include "gemm/microkernel.h"  // use_avx512

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12, inside its intrinsics headers
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))

namespace fastnn::cpu::conv::avx512 {
namespace {

constexpr int64_t kMaxTaps = 64;  // register/stack accumulators for grad_weight

// Lanes j < 16 with 0 <= off + j < W and j < n.
FASTNN_AVX512 inline __mmask16 row_mask(int64_t off, int64_t W, int64_t n) {
  const int64_t lo = std::max<int64_t>(0, -off), hi = std::min<int64_t>({16, W - off, n});
  if (hi <= lo) return 0;
  return static_cast<__mmask16>(((1u << hi) - 1) & ~((1u << lo) - 1));
}

constexpr int64_t kMaxKW = 16;  // masks precomputed per (kw, register)

// Load masks of a 64-column block at ow0: mk[kw*4 + j] covers the input
// columns read by tap kw for output register j (zero lanes are padding).
FASTNN_AVX512 inline void block_masks(const Geom& g, int64_t ow0, __mmask16* mk) {
  for (int64_t kw = 0; kw < g.KW; ++kw)
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t c0 = ow0 + 16 * j, n = std::max<int64_t>(0, std::min<int64_t>(16, g.OW - c0));
      mk[kw * 4 + j] = row_mask(c0 + kw * g.dw - g.pw, g.W, n);
    }
}

// NV registers of 16 output columns of NCHW row oh, starting at ow0; NV is a
// compile-time constant so the accumulators stay in registers.
template <int NV>
FASTNN_AVX512 inline void dw_cols_nchw(const Geom& g, const float* xp, const float* wc, float b, float* yr,
                                       int64_t oh, int64_t ow0, const __mmask16* mk) {
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) acc[j] = _mm512_set1_ps(b);
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
    if (ih < 0 || ih >= g.H) continue;
    const float* xr = xp + ih * g.W + ow0 - g.pw;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const __m512 wv = _mm512_set1_ps(wc[kh * g.KW + kw]);
      const float* xs = xr + kw * g.dw;  // masked-off lanes are never read
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j)
        acc[j] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mk[kw * 4 + j], xs + 16 * j), acc[j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) {
    const int64_t n = std::min<int64_t>(16, g.OW - ow0 - 16 * j);
    _mm512_mask_storeu_ps(yr + ow0 + 16 * j, static_cast<__mmask16>((1u << n) - 1), acc[j]);
  }
}

// One NCHW plane (stride-1 columns): y = bias + sum_taps w * x, 4 registers
// (independent FMA chains) per step.
FASTNN_AVX512 void dw_plane_nchw(const Geom& g, const float* xp, const float* wc, float b, float* yp) {
  __mmask16 mk[kMaxKW * 4];
  for (int64_t ow0 = 0; ow0 < g.OW; ow0 += 64) {
    block_masks(g, ow0, mk);
    const int64_t nv = std::min<int64_t>(4, ceil_div(g.OW - ow0, 16));
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      float* yr = yp + oh * g.OW;
      switch (nv) {
        case 4: dw_cols_nchw<4>(g, xp, wc, b, yr, oh, ow0, mk); break;
        case 3: dw_cols_nchw<3>(g, xp, wc, b, yr, oh, ow0, mk); break;
        case 2: dw_cols_nchw<2>(g, xp, wc, b, yr, oh, ow0, mk); break;
        default: dw_cols_nchw<1>(g, xp, wc, b, yr, oh, ow0, mk); break;
      }
    }
  }
}

// NV registers of 16 channels from cb of NHWC output pixel (n, oh, ow).
template <int NV>
FASTNN_AVX512 inline void dw_pixel_nhwc(const Geom& g, int64_t CH, int64_t n, int64_t oh, int64_t ow, int64_t cb,
                                        const float* x, const float* wt, const float* bias, float* yo) {
  __mmask16 m[NV];
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) {
    const int64_t c = cb + 16 * j;
    m[j] = static_cast<__mmask16>(CH - c >= 16 ? 0xFFFF : (1u << (CH - c)) - 1);
    acc[j] = bias ? _mm512_maskz_loadu_ps(m[j], bias + c) : _mm512_setzero_ps();
  }
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t iw = ow * g.sw + kw * g.dw - g.pw;
      if (iw < 0 || iw >= g.W) continue;
      const float* xs = x + ((n * g.H + ih) * g.W + iw) * CH + cb;
      const float* ws = wt + (kh * g.KW + kw) * CH + cb;
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j)
        acc[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[j], ws + 16 * j), _mm512_maskz_loadu_ps(m[j], xs + 16 * j),
                                 acc[j]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < NV; ++j) _mm512_mask_storeu_ps(yo + cb + 16 * j, m[j], acc[j]);
}

// One NHWC output row (n, oh), all channels: wt is [KH*KW, C]; 128 channels
// (8 independent FMA chains) per step, taps inside.
FASTNN_AVX512 void dw_row_nhwc(const Geom& g, int64_t CH, int64_t n, int64_t oh, const float* x, const float* wt,
                               const float* bias, float* y) {
  for (int64_t ow = 0; ow < g.OW; ++ow) {
    float* yo = y + ((n * g.OH + oh) * g.OW + ow) * CH;
    for (int64_t cb = 0; cb < CH; cb += 128) {
      switch (std::min<int64_t>(8, ceil_div(CH - cb, 16))) {
        case 8: dw_pixel_nhwc<8>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
        case 7: dw_pixel_nhwc<7>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
        case 6: dw_pixel_nhwc<6>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
        case 5: dw_pixel_nhwc<5>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
        case 4: dw_pixel_nhwc<4>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
        case 3: dw_pixel_nhwc<3>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
        case 2: dw_pixel_nhwc<2>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
        default: dw_pixel_nhwc<1>(g, CH, n, oh, ow, cb, x, wt, bias, yo); break;
      }
    }
  }
}

// Stride 1, dilation 1, KW taps wide, channels a multiple of 16: 8 output
// pixels x 16 channels from (oh, ow0) per call. Each input vector is loaded
// once per window row and serves up to KW outputs; the per-pixel loop above
// loads every input KW times (and a weight per FMA) and is bound by its loads.
// EDGE: some of the columns ow0 - pw .. + 8 + KW - 2 fall into the padding.
template <int KW, bool EDGE>
FASTNN_AVX512 inline void dw_8px_nhwc(const Geom& g, int64_t CH, const float* xn, int64_t oh, int64_t ow0, int64_t c,
                                      const float* wt, const float* bias, float* yrow) {
  constexpr int kPx = 8, kIn = kPx + KW - 1;
  __m512 acc[kPx];
  const __m512 b = bias ? _mm512_loadu_ps(bias + c) : _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int o = 0; o < kPx; ++o) acc[o] = b;
  const int64_t iw0 = ow0 - g.pw;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh - g.ph + kh;
    if (ih < 0 || ih >= g.H) continue;
    const float* xr = xn + (ih * g.W + iw0) * CH + c;
    __m512 xv[kIn];
#pragma GCC unroll 16
    for (int j = 0; j < kIn; ++j)
      xv[j] = !EDGE || (iw0 + j >= 0 && iw0 + j < g.W) ? _mm512_loadu_ps(xr + j * CH) : _mm512_setzero_ps();
    const float* wr = wt + kh * KW * CH + c;
#pragma GCC unroll 8
    for (int kw = 0; kw < KW; ++kw) {
      const __m512 w = _mm512_loadu_ps(wr + kw * CH);
#pragma GCC unroll 8
      for (int o = 0; o < kPx; ++o) acc[o] = _mm512_fmadd_ps(w, xv[o + kw], acc[o]);
    }
  }
#pragma GCC unroll 8
  for (int o = 0; o < kPx; ++o) _mm512_storeu_ps(yrow + (ow0 + o) * CH + c, acc[o]);
}

// One NHWC output row (n, oh) through dw_8px_nhwc; the last OW % 8 pixels per pixel.
template <int KW>
FASTNN_AVX512 void dw_row_nhwc_s1(const Geom& g, int64_t CH, int64_t n, int64_t oh, const float* x, const float* wt,
                                  const float* bias, float* y) {
  const float* xn = x + n * g.H * g.W * CH;
  float* yrow = y + (n * g.OH + oh) * g.OW * CH;
  const int64_t full = g.OW / 8 * 8;
  for (int64_t ow0 = 0; ow0 < full; ow0 += 8) {
    const bool edge = ow0 - g.pw < 0 || ow0 - g.pw + 8 + KW - 1 > g.W;
    for (int64_t c = 0; c < CH; c += 16) {
      if (edge)
        dw_8px_nhwc<KW, true>(g, CH, xn, oh, ow0, c, wt, bias, yrow);
      else
        dw_8px_nhwc<KW, false>(g, CH, xn, oh, ow0, c, wt, bias, yrow);
    }
  }
  for (int64_t ow = full; ow < g.OW; ++ow)
    for (int64_t c = 0; c < CH; c += 16) dw_pixel_nhwc<1>(g, CH, n, oh, ow, c, x, wt, bias, yrow + ow * CH);
}

// NHWC grad_weight/grad_bias partial sums over output rows [r0, r1) (row =
// n*OH + oh), all channels, into gwt [KK, C] and gb [C] (accumulated in L1).
FASTNN_AVX512 void dw_grad_weight_rows_nhwc(const Geom& g, int64_t CH, int64_t r0, int64_t r1, const float* gy,
                                            const float* x, float* gwt, float* gb) {
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t n = row / g.OH, oh = row % g.OH;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const float* go = gy + (row * g.OW + ow) * CH;
      for (int64_t c = 0; c < CH; c += 16) {
        const __mmask16 m = static_cast<__mmask16>(CH - c >= 16 ? 0xFFFF : (1u << (CH - c)) - 1);
        _mm512_mask_storeu_ps(gb + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, gb + c), _mm512_maskz_loadu_ps(m, go + c)));
      }
      if (!gwt) continue;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t iw = ow * g.sw + kw * g.dw - g.pw;
          if (iw < 0 || iw >= g.W) continue;
          const float* xs = x + ((n * g.H + ih) * g.W + iw) * CH;
          float* acc = gwt + (kh * g.KW + kw) * CH;
          for (int64_t c = 0; c < CH; c += 16) {
            const __mmask16 m = static_cast<__mmask16>(CH - c >= 16 ? 0xFFFF : (1u << (CH - c)) - 1);
            const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, go + c), _mm512_maskz_loadu_ps(m, xs + c),
                                             _mm512_maskz_loadu_ps(m, acc + c));
            _mm512_mask_storeu_ps(acc + c, m, v);
          }
        }
      }
    }
  }
}

// Same for a fixed window (3x3, 5x5): 16 channels at a time with every tap's
// accumulator in a register, instead of a load, FMA and store of an
// accumulator in memory per tap and pixel (the loop above is bound by those
// stores). Rows go in bands of kBandRows so that a band's input and
// grad_output stay in L2 while the channel blocks sweep it.
constexpr int64_t kBandRows = 4;

template <int KH, int KW>
FASTNN_AVX512 void dw_grad_weight_rows_nhwc_fixed(const Geom& g, int64_t CH, int64_t r0, int64_t r1,
                                                  const float* gy, const float* x, float* gwt, float* gb) {
  for (int64_t band = r0; band < r1; band += kBandRows) {
    const int64_t band_end = std::min(r1, band + kBandRows);
    for (int64_t c = 0; c < CH; c += 16) {
      const __mmask16 m = static_cast<__mmask16>(CH - c >= 16 ? 0xFFFF : (1u << (CH - c)) - 1);
      __m512 acc[KH * KW];
#pragma GCC unroll 25
      for (int t = 0; t < KH * KW; ++t) acc[t] = _mm512_setzero_ps();
      __m512 bacc = _mm512_setzero_ps();
      for (int64_t row = band; row < band_end; ++row) {
        const int64_t n = row / g.OH, oh = row % g.OH;
        const float* gyr = gy + row * g.OW * CH + c;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const __m512 go = _mm512_maskz_loadu_ps(m, gyr + ow * CH);
          bacc = _mm512_add_ps(bacc, go);
#pragma GCC unroll 5
          for (int kh = 0; kh < KH; ++kh) {
            const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
            if (ih < 0 || ih >= g.H) continue;
            const float* xr = x + (n * g.H + ih) * g.W * CH + c;
#pragma GCC unroll 5
            for (int kw = 0; kw < KW; ++kw) {
              const int64_t iw = ow * g.sw + kw * g.dw - g.pw;
              if (iw < 0 || iw >= g.W) continue;
              acc[kh * KW + kw] = _mm512_fmadd_ps(go, _mm512_maskz_loadu_ps(m, xr + iw * CH), acc[kh * KW + kw]);
            }
          }
        }
      }
      _mm512_mask_storeu_ps(gb + c, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, gb + c), bacc));
      if (!gwt) continue;
#pragma GCC unroll 25
      for (int t = 0; t < KH * KW; ++t)
        _mm512_mask_storeu_ps(gwt + t * CH + c, m,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(m, gwt + t * CH + c), acc[t]));
    }
  }
}

// Stride 1, dilation 1, 3x3, channels a multiple of 16: NPX output pixels x
// 16 channels per step, pixels outer and channels inner so that memory is
// read in order. The fixed-window loop above sweeps a band once per channel
// block, reading one cache line in eight, which the hardware prefetchers do
// not follow; here the nine tap sums live in L1 (gwt) and are loaded and
// stored once per NPX pixels, and each input vector serves up to 3 taps.
template <int NPX, bool EDGE>
FASTNN_AVX512 inline void dw_gw_3x3_px_nhwc(const Geom& g, int64_t CH, const float* xn, int64_t oh, int64_t ow0,
                                            int64_t c, const float* gyr, float* gwt, float* gb) {
  constexpr int kIn = NPX + 2;
  __m512 go[NPX], acc[9];
  __m512 bsum = _mm512_loadu_ps(gb + c);
#pragma GCC unroll 8
  for (int o = 0; o < NPX; ++o) {
    go[o] = _mm512_loadu_ps(gyr + (ow0 + o) * CH + c);
    bsum = _mm512_add_ps(bsum, go[o]);
  }
  _mm512_storeu_ps(gb + c, bsum);
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) acc[t] = _mm512_loadu_ps(gwt + t * CH + c);
  const int64_t iw0 = ow0 - g.pw;
#pragma GCC unroll 3
  for (int kh = 0; kh < 3; ++kh) {
    const int64_t ih = oh - g.ph + kh;
    if (ih < 0 || ih >= g.H) continue;
    const float* xr = xn + (ih * g.W + iw0) * CH + c;
    __m512 xv[kIn];
#pragma GCC unroll 10
    for (int j = 0; j < kIn; ++j)
      xv[j] = !EDGE || (iw0 + j >= 0 && iw0 + j < g.W) ? _mm512_loadu_ps(xr + j * CH) : _mm512_setzero_ps();
#pragma GCC unroll 3
    for (int kw = 0; kw < 3; ++kw)
#pragma GCC unroll 8
      for (int o = 0; o < NPX; ++o) acc[kh * 3 + kw] = _mm512_fmadd_ps(go[o], xv[o + kw], acc[kh * 3 + kw]);
  }
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t) _mm512_storeu_ps(gwt + t * CH + c, acc[t]);
}

// Output rows [r0, r1) through dw_gw_3x3_px_nhwc (see there), into gwt [9, C] and gb [C].
FASTNN_AVX512 void dw_grad_weight_rows_nhwc_3x3_s1(const Geom& g, int64_t CH, int64_t r0, int64_t r1, const float* gy,
                                                   const float* x, float* gwt, float* gb) {
  const int64_t full = g.OW / 8 * 8;
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t n = row / g.OH, oh = row % g.OH;
    const float* xn = x + n * g.H * g.W * CH;
    const float* gyr = gy + row * g.OW * CH;
    for (int64_t ow0 = 0; ow0 < full; ow0 += 8) {
      const bool edge = ow0 - g.pw < 0 || ow0 - g.pw + 10 > g.W;
      for (int64_t c = 0; c < CH; c += 16) {
        if (edge)
          dw_gw_3x3_px_nhwc<8, true>(g, CH, xn, oh, ow0, c, gyr, gwt, gb);
        else
          dw_gw_3x3_px_nhwc<8, false>(g, CH, xn, oh, ow0, c, gyr, gwt, gb);
      }
    }
    for (int64_t ow = full; ow < g.OW; ++ow)
      for (int64_t c = 0; c < CH; c += 16) dw_gw_3x3_px_nhwc<1, true>(g, CH, xn, oh, ow, c, gyr, gwt, gb);
  }
}

// grad_weight / grad_bias of one NCHW channel over the batch (stride-1 columns).
FASTNN_AVX512 void dw_grad_weight_nchw(const Geom& g, int64_t CH, int64_t c, const float* gy, const float* x,
                                       float* gw, float* gb) {
  const int64_t KK = g.KH * g.KW, HW = g.H * g.W, P = g.P();
  __m512 acc[kMaxTaps];  // KK <= kMaxTaps (checked by the callers)
  for (int64_t t = 0; t < KK; ++t) acc[t] = _mm512_setzero_ps();
  __m512 bacc = _mm512_setzero_ps();
  std::vector<__mmask16> masks(static_cast<size_t>(ceil_div(g.OW, 64) * kMaxKW * 4));
  for (int64_t ow0 = 0; ow0 < g.OW; ow0 += 64) block_masks(g, ow0, masks.data() + (ow0 / 64) * kMaxKW * 4);
  for (int64_t n = 0; n < g.N; ++n) {
    const float* gp = gy + (n * CH + c) * P;
    const float* xp = x + (n * CH + c) * HW;
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const float* gr = gp + oh * g.OW;
      for (int64_t ow0 = 0; ow0 < g.OW; ow0 += 64) {
        const __mmask16* mk = masks.data() + (ow0 / 64) * kMaxKW * 4;
        for (int64_t j = 0; j < 4 && ow0 + 16 * j < g.OW; ++j) {
          const int64_t nn = std::min<int64_t>(16, g.OW - ow0 - 16 * j);
          const __m512 gv = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << nn) - 1), gr + ow0 + 16 * j);
          bacc = _mm512_add_ps(bacc, gv);
          if (!gw) continue;
          for (int64_t kh = 0; kh < g.KH; ++kh) {
            const int64_t ih = oh * g.sh + kh * g.dh - g.ph;
            if (ih < 0 || ih >= g.H) continue;
            const float* xs = xp + ih * g.W + ow0 + 16 * j - g.pw;
            for (int64_t kw = 0; kw < g.KW; ++kw)
              acc[kh * g.KW + kw] = _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(mk[kw * 4 + j], xs + kw * g.dw),
                                                    acc[kh * g.KW + kw]);
          }
        }
      }
    }
  }
  if (gw)
    for (int64_t t = 0; t < KK; ++t) gw[c * KK + t] = _mm512_reduce_add_ps(acc[t]);
  if (gb) gb[c] = _mm512_reduce_add_ps(bacc);
}

}  // namespace

bool depthwise_forward_f32(const Geom& g, int64_t CH, bool nhwc, const float* x, const float* w, const float* bias,
                           float* y) {
  if (!use_avx512() || (!nhwc && (g.sw != 1 || g.KW > kMaxKW))) return false;
  const int64_t KK = g.KH * g.KW, HW = g.H * g.W, P = g.P();
  if (!nhwc) {
    at::parallel_for(0, g.N * CH, 1, [&](int64_t b, int64_t e) {
      for (int64_t plane = b; plane < e; ++plane) {
        const int64_t c = plane % CH;
        dw_plane_nchw(g, x + plane * HW, w + c * KK, bias ? bias[c] : 0.f, y + plane * P);
      }
    });
    return true;
  }
  std::vector<float> wt(static_cast<size_t>(KK * CH));
  for (int64_t c = 0; c < CH; ++c)
    for (int64_t t = 0; t < KK; ++t) wt[t * CH + c] = w[c * KK + t];
  // the 8-pixel blocks: stride 1, no dilation, whole vectors of channels, 3/5/7 wide
  using RowFn = void (*)(const Geom&, int64_t, int64_t, int64_t, const float*, const float*, const float*, float*);
  RowFn row_fn = dw_row_nhwc;
  if (g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && CH % 16 == 0) {
    if (g.KW == 3) row_fn = dw_row_nhwc_s1<3>;
    if (g.KW == 5) row_fn = dw_row_nhwc_s1<5>;
    if (g.KW == 7) row_fn = dw_row_nhwc_s1<7>;
  }
  at::parallel_for(0, g.N * g.OH, 1, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) row_fn(g, CH, row / g.OH, row % g.OH, x, wt.data(), bias, y);
  });
  return true;
}

bool depthwise_grad_weight_bias_f32(const Geom& g, int64_t CH, bool nhwc, const float* gy, const float* x,
                                    float* gw, float* gb) {
  const int64_t KK = g.KH * g.KW;
  if (!use_avx512() || (!nhwc && (g.sw != 1 || g.KW > kMaxKW)) || KK > kMaxTaps) return false;
  if (!nhwc) {
    at::parallel_for(0, CH, 1, [&](int64_t b, int64_t e) {
      for (int64_t c = b; c < e; ++c) dw_grad_weight_nchw(g, CH, c, gy, x, gw, gb);
    });
    return true;
  }
  // rows of the batch split over threads, one [KK + 1, C] partial sum each
  const int64_t rows = g.N * g.OH, chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), rows));
  std::vector<float> part(static_cast<size_t>(chunks * (KK + 1) * CH), 0.f);
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t ch = b; ch < e; ++ch) {
      float* p = part.data() + ch * (KK + 1) * CH;
      const int64_t a = rows * ch / chunks, b2 = rows * (ch + 1) / chunks;
      const bool unit = g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
      if (g.KH == 3 && g.KW == 3 && unit && CH % 16 == 0 && gw) {
        dw_grad_weight_rows_nhwc_3x3_s1(g, CH, a, b2, gy, x, p, p + KK * CH);
      } else if (g.KH == 3 && g.KW == 3) {
        dw_grad_weight_rows_nhwc_fixed<3, 3>(g, CH, a, b2, gy, x, gw ? p : nullptr, p + KK * CH);
      } else if (g.KH == 5 && g.KW == 5) {
        dw_grad_weight_rows_nhwc_fixed<5, 5>(g, CH, a, b2, gy, x, gw ? p : nullptr, p + KK * CH);
      } else {
        dw_grad_weight_rows_nhwc(g, CH, a, b2, gy, x, gw ? p : nullptr, p + KK * CH);
      }
    }
  });
  for (int64_t ch = 1; ch < chunks; ++ch) vadd(part.data(), part.data() + ch * (KK + 1) * CH, (KK + 1) * CH);
  for (int64_t c = 0; c < CH; ++c) {
    if (gw)
      for (int64_t t = 0; t < KK; ++t) gw[c * KK + t] = part[t * CH + c];
    if (gb) gb[c] = part[KK * CH + c];
  }
  return true;
}

}  // namespace fastnn::cpu::conv::avx512

#else

namespace fastnn::cpu::conv::avx512 {
bool depthwise_forward_f32(const Geom&, int64_t, bool, const float*, const float*, const float*, float*) {
  return false;
}
bool depthwise_grad_weight_bias_f32(const Geom&, int64_t, bool, const float*, const float*, float*, float*) {
  return false;
}
}  // namespace fastnn::cpu::conv::avx512

#endif
