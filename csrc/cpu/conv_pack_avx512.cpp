// AVX-512 float32 fast paths of the implicit-im2col packers (see
// conv_pack_nchw.cpp / conv_pack_nhwc.cpp for the generic code and layouts).
// Compiled for the baseline ISA with target attributes; each entry returns
// false when it does not apply (no AVX-512, other panel width), and the
// caller then runs the generic packer.
#include <vector>

#include "conv_common.h"
#include "gemm/microkernel.h"  // use_avx512

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include "transpose16_avx512.h"
// GCC 12 flags the _mm512_undefined_* inside its own intrinsics headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))

namespace fastnn::cpu::conv::avx512 {
namespace {

struct Run {
  int64_t n, oh, ow0, len, pos;
};

// 8x8 transpose of r[0..7] (rows) in place.
FASTNN_AVX512 inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Lanes [lo, hi) of a 32-lane row as a bit mask.
inline uint32_t lane_mask(int64_t lo, int64_t hi) {
  if (hi <= lo) return 0;
  const uint64_t m = (hi >= 64 ? ~uint64_t(0) : ((uint64_t(1) << hi) - 1)) & ~((uint64_t(1) << lo) - 1);
  return static_cast<uint32_t>(m);
}

}  // namespace

// NCHW implicit im2col, 32-wide strips (the AVX-512 micro-kernel's NR): each
// (c, kh, kw) row of a strip is two zmm registers assembled from masked
// loads (stride 1) or masked gathers (strided), zero where the window is padding.
FASTNN_AVX512 bool nchw_im2col_f32(const Geom& g, const float* x, int64_t r0, int64_t rc, int64_t k0, int64_t kc,
                                   int64_t width, float* dst) {
  if (width != 32 || !use_avx512()) return false;
  const int64_t HW = g.H * g.W, KK = g.KH * g.KW, P = g.P();
  thread_local std::vector<uint32_t> masks;
  thread_local std::vector<int64_t> offs;
  Run runs[32];
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  for (int64_t s0 = 0; s0 < rc; s0 += 32) {
    const int64_t rows = std::min<int64_t>(32, rc - s0);
    float* d = dst + (s0 / 32) * kc * 32;
    int nrun = 0;
    for (int64_t pos = 0, t = r0 + s0; pos < rows;) {
      const int64_t p = t % P, oh = p / g.OW, ow = p % g.OW, len = std::min(g.OW - ow, rows - pos);
      runs[nrun++] = {0, oh, ow, len, pos};
      pos += len;
      t += len;
    }
    // per (run, kw): valid lanes and the input column that lane 0 maps to
    masks.resize(static_cast<size_t>(nrun * g.KW));
    offs.resize(static_cast<size_t>(nrun * g.KW));
    __m512i idx0[32], idx1[32];
    for (int i = 0; i < nrun; ++i) {
      const Run& r = runs[i];
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        int64_t lo, hi;
        g.valid_range(r.ow0, r.len, kw * g.dw - g.pw, &lo, &hi);
        masks[i * g.KW + kw] = lane_mask(r.pos + lo, r.pos + hi);
        // column of lane l: (ow0 + l - pos)*sw + kw*dw - pw
        offs[i * g.KW + kw] = r.ow0 * g.sw + kw * g.dw - g.pw - (g.sw == 1 ? r.pos : 0);
      }
      if (g.sw != 1) {
        const __m512i pos = _mm512_set1_epi32(static_cast<int>(r.pos)), sw = _mm512_set1_epi32(static_cast<int>(g.sw));
        idx0[i] = _mm512_mullo_epi32(_mm512_sub_epi32(iota, pos), sw);
        idx1[i] = _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_add_epi32(iota, _mm512_set1_epi32(16)), pos), sw);
      }
    }
    int64_t c = k0 / KK, kk = k0 % KK, kh = kk / g.KW, kw = kk % g.KW;
    for (int64_t k = 0; k < kc; ++k) {
      __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
      const float* xc = x + c * HW;
      for (int i = 0; i < nrun; ++i) {
        const int64_t ih = runs[i].oh * g.sh + kh * g.dh - g.ph;
        if (ih < 0 || ih >= g.H) continue;
        const uint32_t m = masks[i * g.KW + kw];
        // masked-off lanes are never read, so the base may point before the row
        const float* base = xc + ih * g.W + offs[i * g.KW + kw];
        if (g.sw == 1) {
          v0 = _mm512_mask_loadu_ps(v0, static_cast<__mmask16>(m), base);
          v1 = _mm512_mask_loadu_ps(v1, static_cast<__mmask16>(m >> 16), base + 16);
        } else {
          v0 = _mm512_mask_i32gather_ps(v0, static_cast<__mmask16>(m), idx0[i], base, 4);
          v1 = _mm512_mask_i32gather_ps(v1, static_cast<__mmask16>(m >> 16), idx1[i], base, 4);
        }
      }
      _mm512_storeu_ps(d + k * 32, v0);
      _mm512_storeu_ps(d + k * 32 + 16, v1);
      if (++kw == g.KW) {
        kw = 0;
        if (++kh == g.KH) kh = 0, ++c;
      }
    }
  }
  return true;
}

// NCHW transposed im2col for grad_weight (rows = (c, kh, kw) + ones row,
// inner = pixels): each row's pixels are contiguous in the image, so rows are
// staged with masked loads and the panel is written by 16x16 transposes.
FASTNN_AVX512 bool nchw_im2col_t_f32(const Geom& g, const float* x, int64_t x_img, int64_t t0, bool ones_row,
                                     int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, float* dst) {
  if (width != 32 || g.sw != 1 || !use_avx512()) return false;
  const int64_t HW = g.H * g.W, KK = g.KH * g.KW, K = g.K(), P = g.P();
  const int64_t kpad = (kc + 15) / 16 * 16;
  thread_local std::vector<Run> runs;
  thread_local std::vector<float> stage;  // [32][kpad]
  runs.clear();
  for (int64_t pos = 0, t = t0 + k0; pos < kc;) {
    const int64_t n = t / P, p = t % P, oh = p / g.OW, ow = p % g.OW, len = std::min(g.OW - ow, kc - pos);
    runs.push_back({n, oh, ow, len, pos});
    pos += len;
    t += len;
  }
  stage.resize(static_cast<size_t>(32 * kpad));
  for (int64_t s0 = 0; s0 < rc; s0 += 32) {
    const int64_t rows = std::min<int64_t>(32, rc - s0);
    float* d = dst + (s0 / 32) * kc * 32;
    for (int64_t r = 0; r < 32; ++r) {
      float* sr = stage.data() + r * kpad;
      const int64_t row = r0 + s0 + r;
      if (r >= rows || row > K || (row == K && !ones_row)) {
        std::fill(sr, sr + kpad, 0.f);
        continue;
      }
      if (row == K) {
        std::fill(sr, sr + kc, 1.f);
        std::fill(sr + kc, sr + kpad, 0.f);
        continue;
      }
      std::fill(sr + kc, sr + kpad, 0.f);
      const int64_t c = row / KK, kh = (row % KK) / g.KW, kw = row % g.KW, off = kw * g.dw - g.pw;
      for (const Run& s : runs) {
        float* o = sr + s.pos;
        const int64_t ih = s.oh * g.sh + kh * g.dh - g.ph;
        if (ih < 0 || ih >= g.H) {
          std::fill(o, o + s.len, 0.f);
          continue;
        }
        int64_t lo, hi;
        g.valid_range(s.ow0, s.len, off, &lo, &hi);
        const float* src = x + s.n * x_img + c * HW + ih * g.W + s.ow0 + off;
        for (int64_t j = 0; j < s.len; j += 16) {  // masked copy, zeros outside [lo, hi)
          const int64_t e = std::min<int64_t>(16, s.len - j);
          const uint32_t m = lane_mask(std::max<int64_t>(lo - j, 0), std::min<int64_t>(hi - j, e)) & 0xFFFF;
          const __m512 v = _mm512_maskz_loadu_ps(static_cast<__mmask16>(m), src + j);
          _mm512_mask_storeu_ps(o + j, static_cast<__mmask16>(lane_mask(0, e)), v);
        }
      }
    }
    for (int64_t kb = 0; kb < kc; kb += 16) {
      const int64_t e = std::min<int64_t>(16, kc - kb);
      for (int half = 0; half < 2; ++half) {
        __m512 v[16];
        for (int i = 0; i < 16; ++i) v[i] = _mm512_loadu_ps(stage.data() + (half * 16 + i) * kpad + kb);
        transpose16(v);
        for (int64_t i = 0; i < e; ++i) _mm512_storeu_ps(d + (kb + i) * 32 + half * 16, v[i]);
      }
    }
  }
  return true;
}

// NHWC implicit im2col as the A operand (8-pixel strips, k = (kh, kw, c)):
// 8 source pointers per tap, channels moved 8 at a time through 8x8 transposes.
FASTNN_AVX512 bool nhwc_im2col_f32(const Geom& g, const float* x, int64_t xc, int64_t r0, int64_t rc, int64_t k0,
                                   int64_t kc, int64_t width, float* dst) {
  if (width > 16 || !use_avx512()) return false;
  thread_local std::vector<float> zeros;
  if (static_cast<int64_t>(zeros.size()) < g.KW * g.C) zeros.assign(static_cast<size_t>(g.KW * g.C), 0.f);
  const float* img[16];
  int64_t ih0[16], iw0[16];
  const float* src[16];
  const __mmask16 wmask = static_cast<__mmask16>((1u << width) - 1);
  const int64_t img_stride = g.H * g.W * xc;
  // Small windows (a network's first layer, e.g. C = 3, 3x3: K = 27): the 8
  // pixels' window rows lie in one 32-float span, so each window row of the
  // strip is one load plus permutes (index o -> float r*sw*C + j of the span).
  const int64_t row_len = g.KW * g.C, span = (width - 1) * g.sw * g.C + row_len;
  const bool small = k0 == 0 && kc == g.K() && xc == g.C && g.dw == 1 && span <= 32 && row_len * width <= 80;
  __m512i perm[5];
  if (small) {
    alignas(64) int32_t idx[80];
    for (int64_t o = 0; o < 80; ++o) {
      const int64_t j = o / width, r = o % width;
      idx[o] = static_cast<int32_t>(j < row_len ? r * g.sw * g.C + j : 0);
    }
    for (int v = 0; v < 5; ++v) perm[v] = _mm512_load_si512(idx + 16 * v);
  }
  for (int64_t s0 = 0; s0 < rc; s0 += width) {
    const int64_t rows = std::min<int64_t>(width, rc - s0);
    float* d = dst + (s0 / width) * kc * width;
    PixelCursor pc(r0 + s0, g.OH, g.OW);
    if (small && rows == width && pc.ow + width - 1 < g.OW) {
      const int64_t iw = pc.ow * g.sw - g.pw;
      if (iw >= 0 && iw + (width - 1) * g.sw + g.KW - 1 < g.W) {  // every window column inside the image
        const __mmask32 need = static_cast<__mmask32>(span >= 32 ? 0xFFFFFFFFu : (1u << span) - 1);
        for (int64_t kh = 0; kh < g.KH; ++kh) {
          const int64_t ih = pc.oh * g.sh - g.ph + kh * g.dh;
          float* dk = d + kh * row_len * width;  // k = kh*KW*C + j  ->  dk[j*width + r]
          __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
          if (ih >= 0 && ih < g.H) {
            const float* base = x + pc.n * img_stride + (ih * g.W + iw) * xc;
            lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>(need), base);
            hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>(need >> 16), base + 16);
          }
          const int64_t total = row_len * width;
          for (int v = 0; v * 16 < total; ++v) {
            const int64_t left = std::min<int64_t>(16, total - 16 * v);
            _mm512_mask_storeu_ps(dk + 16 * v, static_cast<__mmask16>(left >= 16 ? 0xFFFF : (1u << left) - 1),
                                  _mm512_permutex2var_ps(lo, perm[v], hi));
          }
        }
        continue;
      }
    }
    strip_window_origins(g, pc, x, img_stride, width, rows, img, ih0, iw0);
    TapCursor tc(g, k0);
    for (int64_t k = k0; k < k0 + kc;) {
      int64_t run = k0 + kc - k;
      for (int64_t r = 0; r < width; ++r) {
        int64_t len;
        src[r] = nhwc_tap(g, img[r], ih0[r], iw0[r], tc.kh, tc.kw, tc.c, xc, zeros.data(), &len);
        run = std::min(run, len);
      }
      float* dk = d + (k - k0) * width;
      int64_t j = 0;
      if (width == 8) {
        for (; j + 8 <= run; j += 8) {
          __m256 v[8];
          for (int r = 0; r < 8; ++r) v[r] = _mm256_loadu_ps(src[r] + j);
          transpose8(v);
          for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dk + (j + i) * 8, v[i]);
        }
      } else {
        // width rows x 16 channels through a 16x16 transpose (rows past width
        // are zero); the last partial block by masked loads
        for (; j < run; j += 16) {
          const int64_t cols = std::min<int64_t>(16, run - j);
          const __mmask16 cm = static_cast<__mmask16>(cols >= 16 ? 0xFFFF : (1u << cols) - 1);
          __m512 v[16];
          for (int r = 0; r < 16; ++r) v[r] = r < width ? _mm512_maskz_loadu_ps(cm, src[r] + j) : _mm512_setzero_ps();
          transpose16(v);
          for (int64_t i = 0; i < cols; ++i) _mm512_mask_storeu_ps(dk + (j + i) * width, wmask, v[i]);
        }
      }
      for (; j < run; ++j)
        for (int64_t r = 0; r < width; ++r) dk[j * width + r] = src[r][j];
      k += run;
      tc.advance(g, run);
    }
  }
  return true;
}

// NHWC transposed im2col for grad_weight (rows = (kh, kw, c) + ones row,
// inner = pixels): per pixel, 32 consecutive k indices are runs of channels,
// copied with masked 16-lane moves.
FASTNN_AVX512 bool nhwc_im2col_t_f32(const Geom& g, const float* x, int64_t xc, int64_t t0, bool ones_row, int64_t r0,
                                     int64_t rc, int64_t k0, int64_t kc, int64_t width, float* dst) {
  if (width != 32 || !use_avx512()) return false;
  const int64_t K = g.K(), img_stride = g.H * g.W * xc;
  thread_local std::vector<float> zeros;
  if (static_cast<int64_t>(zeros.size()) < g.KW * g.C) zeros.assign(static_cast<size_t>(g.KW * g.C), 0.f);
  for (int64_t s0 = 0; s0 < rc; s0 += 32) {
    const int64_t rows = std::min<int64_t>(32, rc - s0);
    const int64_t real = std::max<int64_t>(0, std::min(rows, K - (r0 + s0)));  // rows that are k indices
    float* d = dst + (s0 / 32) * kc * 32;
    const TapCursor first(g, std::min(r0 + s0, K));
    // the ones row (grad_bias) and padding rows are the same for every pixel
    alignas(64) float tail[32] = {};
    if (ones_row && K >= r0 + s0 && K < r0 + s0 + rows) tail[K - (r0 + s0)] = 1.f;
    const __m512 tail0 = _mm512_load_ps(tail), tail1 = _mm512_load_ps(tail + 16);
    PixelCursor pc(t0 + k0, g.OH, g.OW);
    for (int64_t k = 0; k < kc; ++k, pc.next()) {
      const int64_t ih0 = pc.oh * g.sh - g.ph, iw0 = pc.ow * g.sw - g.pw;
      const float* im = x + pc.n * img_stride;
      float* dk = d + k * 32;
      _mm512_storeu_ps(dk, tail0);
      _mm512_storeu_ps(dk + 16, tail1);
      TapCursor tc = first;
      for (int64_t r = 0; r < real;) {
        int64_t len;
        const float* src = nhwc_tap(g, im, ih0, iw0, tc.kh, tc.kw, tc.c, xc, zeros.data(), &len);
        const int64_t run = std::min(len, real - r);
        for (int64_t j = 0; j < run; j += 16) {
          const __mmask16 m = static_cast<__mmask16>(run - j >= 16 ? 0xFFFF : (1u << (run - j)) - 1);
          _mm512_mask_storeu_ps(dk + r + j, m, _mm512_maskz_loadu_ps(m, src + j));
        }
        r += run;
        tc.advance(g, run);
      }
    }
  }
  return true;
}

// NCHW grad_output rows for grad_weight (rows = 8 output channels, inner =
// pixels over the batch): 8x8 transposes of 8 channels x 8 pixels.
FASTNN_AVX512 bool nchw_grad_rows_f32(const float* gy, int64_t P, int64_t y_img, int64_t t0, int64_t r0, int64_t rc,
                                      int64_t k0, int64_t kc, int64_t width, float* dst) {
  if (width > 16 || !use_avx512()) return false;
  const __mmask16 wmask = static_cast<__mmask16>((1u << width) - 1);
  for (int64_t s0 = 0; s0 < rc; s0 += width) {
    const int64_t rows = std::min(width, rc - s0);
    float* d = dst + (s0 / width) * kc * width;
    for (int64_t k = 0, t = t0 + k0; k < kc;) {
      const int64_t n = t / P, p = t % P, len = std::min(P - p, kc - k);
      const float* src = gy + n * y_img + (r0 + s0) * P + p;
      int64_t j = 0;
      for (; j + 16 <= len; j += 16) {  // rows x 16 pixels -> 16 k-rows of `width`
        __m512 v[16];
        for (int r = 0; r < 16; ++r) v[r] = r < rows ? _mm512_loadu_ps(src + r * P + j) : _mm512_setzero_ps();
        transpose16(v);
        for (int i = 0; i < 16; ++i) _mm512_mask_storeu_ps(d + (k + j + i) * width, wmask, v[i]);
      }
      for (; j < len; ++j)
        for (int64_t r = 0; r < width; ++r) d[(k + j) * width + r] = r < rows ? src[r * P + j] : 0.f;
      k += len;
      t += len;
    }
  }
  return true;
}

}  // namespace fastnn::cpu::conv::avx512

#else

namespace fastnn::cpu::conv::avx512 {
bool nchw_im2col_f32(const Geom&, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, float*) { return false; }
bool nchw_im2col_t_f32(const Geom&, const float*, int64_t, int64_t, bool, int64_t, int64_t, int64_t, int64_t,
                       int64_t, float*) {
  return false;
}
bool nhwc_im2col_f32(const Geom&, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*) {
  return false;
}
bool nhwc_im2col_t_f32(const Geom&, const float*, int64_t, int64_t, bool, int64_t, int64_t, int64_t, int64_t, int64_t,
                       float*) {
  return false;
}
bool nchw_grad_rows_f32(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float*) {
  return false;
}
}  // namespace fastnn::cpu::conv::avx512

#endif
