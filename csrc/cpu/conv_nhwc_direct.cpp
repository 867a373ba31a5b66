// Convolution without im2col packing (float32, AVX-512), for channels_last and
// NCHW inputs alike.
//
// The implicit-GEMM path packs an im2col panel of A for every block of output
// pixels; with out_channels of 64-128 each packed value feeds only that many
// multiply-adds, so packing cost a fifth of the forward. Here the micro-kernel
// reads A straight from the image: for 12 output pixels it is given, per
// window tap, 12 pointers to the input pixels' channel vectors (or to a zero
// row where the tap falls into the padding) and walks the channels. Only the
// weights are packed, once per call. An NCHW image is first copied
// channels_last (8x8 register transposes) when its channel count is a
// multiple of 4, and otherwise read in place, its channels H*W apart; the
// output tile goes into the channel planes. (The weight gradients are in
// conv_nhwc_grad_weight.cpp and conv_nchw_grad_weight.cpp.)
//
//   Y[t, oc] = act(sum_{tap, c} X[pixel(t, tap), c] * W[oc, tap, c] + bias[oc])
#include <ATen/Parallel.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "conv_driver.h"
#include "gemm/activation.h"
#include "gemm/microkernel.h"
#include "gemm/pack_x86.h"
#include "output_cache.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include "conv_tile_avx512.h"
#include "transpose16_avx512.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12, inside its intrinsics headers (transposes)

namespace fastnn::cpu::conv {
namespace {

using tile::kCols;  // output channels per micro-tile (two zmm)
using tile::kRows;  // output pixels per micro-tile
constexpr int64_t kTargetKC = 512;  // reduction length per weight block (taps * C)
constexpr int64_t kMaxZeroFloats = int64_t(1) << 22;  // see direct_conv_forward_f32
constexpr int64_t kMaxCopyFloats = int64_t(1) << 26;  // 256 MiB: larger images are read in place

// c[0..12) rows x 32 columns (+)= sum over `taps` taps and C channels of
// a[tap][i][c] * b[tap*C + c][j], where a[tap][i][c] = ptrs[tap*12 + i][c*cs]
// (cs: channel stride of the image, 1 for NHWC, H*W for NCHW); `cols` < 32
// masks the last strip. Without load_c the sums start from `bias` (32 values, or zeros).
FASTNN_AVX512 void kernel_12x32(int64_t taps, int64_t C, int64_t cs, const float* const* ptrs, const float* b,
                                float* c, int64_t ldc, bool load_c, int cols, const float* bias) {
  __m512 acc0[kRows], acc1[kRows];
  __m512 init0 = _mm512_setzero_ps(), init1 = _mm512_setzero_ps();
  if (bias && !load_c) {
    init0 = _mm512_maskz_loadu_ps(tile::low_lanes(cols), bias);
    init1 = _mm512_maskz_loadu_ps(tile::high_lanes(cols), bias + 16);
  }
#pragma GCC unroll 12
  for (int i = 0; i < kRows; ++i) {
    acc0[i] = init0;
    acc1[i] = init1;
  }
  for (int64_t t = 0; t < taps; ++t) {
    const float* const* p = ptrs + t * kRows;
    const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4], *p5 = p[5];
    const float *p6 = p[6], *p7 = p[7], *p8 = p[8], *p9 = p[9], *p10 = p[10], *p11 = p[11];
#pragma GCC unroll 2
    for (int64_t ci = 0, o = 0; ci < C; ++ci, o += cs) {
      const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
      b += kCols;
      FASTNN_TILE_12_ROWS(p, o)
    }
  }
  tile::store(acc0, acc1, c, ldc, load_c, cols);
}

// The same for 6 pixels x 64 output channels (ptrs[tap * ptr_stride + i], i < 6):
// per multiply step 4 weight vectors and 6 broadcasts feed 24 FMAs, where the
// 12 x 32 tile loads 2 + 12 for its 24; and with 64+ output channels each
// input value is read once per 64 of them instead of once per 32.
FASTNN_AVX512 void kernel_6x64(int64_t taps, int64_t C, int64_t cs, const float* const* ptrs, int64_t ptr_stride,
                               const float* b, float* c, int64_t ldc, bool load_c, int cols, const float* bias) {
  constexpr int kPx = 6;
  __mmask16 m[4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) m[j] = tile::low_lanes(std::clamp(cols - 16 * j, 0, 16));
  __m512 acc[kPx][4];
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    const __m512 init = bias && !load_c ? _mm512_maskz_loadu_ps(m[j], bias + 16 * j) : _mm512_setzero_ps();
#pragma GCC unroll 6
    for (int i = 0; i < kPx; ++i) acc[i][j] = init;
  }
  for (int64_t t = 0; t < taps; ++t) {
    const float* const* p = ptrs + t * ptr_stride;
    const float *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3], *p4 = p[4], *p5 = p[5];
#pragma GCC unroll 2
    for (int64_t ci = 0, o = 0; ci < C; ++ci, o += cs) {
      const __m512 w0 = _mm512_load_ps(b), w1 = _mm512_load_ps(b + 16);
      const __m512 w2 = _mm512_load_ps(b + 32), w3 = _mm512_load_ps(b + 48);
      b += 64;
#define FASTNN_PX(i, P)                                \
  {                                                    \
    const __m512 v_ = _mm512_set1_ps(P[o]);            \
    acc[i][0] = _mm512_fmadd_ps(v_, w0, acc[i][0]);    \
    acc[i][1] = _mm512_fmadd_ps(v_, w1, acc[i][1]);    \
    acc[i][2] = _mm512_fmadd_ps(v_, w2, acc[i][2]);    \
    acc[i][3] = _mm512_fmadd_ps(v_, w3, acc[i][3]);    \
  }
      FASTNN_PX(0, p0) FASTNN_PX(1, p1) FASTNN_PX(2, p2) FASTNN_PX(3, p3) FASTNN_PX(4, p4) FASTNN_PX(5, p5)
#undef FASTNN_PX
    }
  }
#pragma GCC unroll 6
  for (int i = 0; i < kPx; ++i) {
    float* ci = c + i * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      if (load_c) acc[i][j] = _mm512_add_ps(acc[i][j], _mm512_maskz_loadu_ps(m[j], ci + 16 * j));
      _mm512_mask_storeu_ps(ci + 16 * j, m[j], acc[i][j]);
    }
  }
}

// A 12 x cols tile (rows: 12 consecutive pixels of one output row, ld floats
// apart; columns: output channels) into NCHW channel planes: channel j's 12
// values go to plane + j*P, side by side.
FASTNN_AVX512 void store_tile_to_planes(const float* tile, int64_t ld, int cols, float* plane, int64_t P) {
  for (int h = 0; h * 16 < cols; ++h) {
    __m512 r[16];
    for (int i = 0; i < kRows; ++i) r[i] = _mm512_load_ps(tile + i * ld + 16 * h);
    for (int i = kRows; i < 16; ++i) r[i] = _mm512_setzero_ps();
    transpose16(r);
    const int n = std::min(16, cols - 16 * h);
    for (int j = 0; j < n; ++j) _mm512_mask_storeu_ps(plane + (16 * h + j) * P, __mmask16((1u << kRows) - 1), r[j]);
  }
}

// out[j] for the pixels j in [0, len) (len <= 16) of a run: the pixel at
// element offset off + j*step from `row` for j in [lo, hi), `zeros` elsewhere.
// Offsets outside [lo, hi) may point outside the image: they are computed as
// integers and never kept.
FASTNN_AVX512 inline void fill_run(const float** out, int64_t len, int64_t lo, int64_t hi, const float* row, int64_t off,
                                   int64_t step, const float* zeros) {
  const auto bits = [](int64_t n) { return n <= 0 ? 0u : n >= 16 ? 0xFFFFu : (1u << n) - 1u; };
  const unsigned keep = hi > lo ? bits(hi) & ~bits(lo) : 0u, valid = bits(len);
  const __m512i base = _mm512_set1_epi64(static_cast<long long>(reinterpret_cast<intptr_t>(row)) +
                                         static_cast<long long>(off * 4));
  const __m512i stride = _mm512_set1_epi64(step * 4), zero = _mm512_set1_epi64(reinterpret_cast<intptr_t>(zeros));
  const __m512i lane = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
  for (int half = 0; half < 2; ++half) {
    const __m512i j = _mm512_add_epi64(lane, _mm512_set1_epi64(8 * half));
    const __m512i p = _mm512_add_epi64(base, _mm512_mullo_epi64(j, stride));
    const __m512i v = _mm512_mask_blend_epi64(static_cast<__mmask8>(keep >> (8 * half)), zero, p);
    _mm512_mask_storeu_epi64(out + 8 * half, static_cast<__mmask8>(valid >> (8 * half)), v);
  }
}

}  // namespace

namespace {

// Read-only zeros standing in for input pixels in the padding: NCHW reads
// them at channel stride H*W, so the buffer grows to the largest C*H*W seen
// (kept, like the output cache; at most kMaxZeroFloats, 16 MiB).
const float* zero_row(int64_t n) {
  static std::mutex mu;
  static std::vector<float>* zeros = new std::vector<float>();
  std::lock_guard<std::mutex> lock(mu);
  if (static_cast<int64_t>(zeros->size()) < n) zeros->assign(static_cast<size_t>(n), 0.0f);
  return zeros->data();
}

}  // namespace

bool direct_conv_forward_f32(const Geom& g, bool nchw, int64_t groups, int64_t Ctot, int64_t OCtot, const float* x,
                             const float* wperm, const float* bias, Act act, float* y) {
  // Huge windows go to the packing path; so do NCHW images with few channels
  // (a network's first layer), whose per-plane output scatter would cost more
  // than the multiply-adds.
  const int64_t T = g.KH * g.KW, C = g.C, K = T * C, HW = g.H * g.W, P = g.P();
  if (!use_avx512() || T > 64 || (nchw && C < 8)) return false;
  // A few channels per pixel (a network's first layer): in a zero-bordered
  // copy of the image, the KW taps of a window row are KW*C adjacent floats,
  // so each window row becomes one tap of KW*C channels: a third of the
  // pointers and tap loop trips for a 3x3 window of 3 channels.
  if (!nchw && groups == 1 && C < 8 && g.KW > 1 && g.dw == 1 && g.ph >= 0 && g.pw >= 0 &&
      g.N * (g.H + 2 * g.ph) * (g.W + 2 * g.pw) * C <= kMaxCopyFloats) {
    Geom rows = g;
    rows.H = g.H + 2 * g.ph;
    rows.W = g.W + 2 * g.pw;
    rows.ph = rows.pw = 0;
    rows.C = g.KW * C;
    rows.KW = 1;
    std::shared_ptr<void> pad_buf = cached_block(static_cast<size_t>(g.N * rows.H * rows.W * C) * sizeof(float));
    float* xpad = static_cast<float*>(pad_buf.get());
    at::parallel_for(0, g.N * rows.H, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int64_t n = r / rows.H, ih = r % rows.H - g.ph;
        float* dst = xpad + r * rows.W * C;
        if (ih < 0 || ih >= g.H) {
          std::fill(dst, dst + rows.W * C, 0.0f);
          continue;
        }
        std::fill(dst, dst + g.pw * C, 0.0f);
        std::copy(x + (n * g.H + ih) * g.W * C, x + (n * g.H + ih + 1) * g.W * C, dst + g.pw * C);
        std::fill(dst + (g.pw + g.W) * C, dst + rows.W * C, 0.0f);
      }
    });
    // wperm [OC, KH, KW, C] is already [OC, KH, 1, KW*C]
    return direct_conv_forward_f32(rows, false, 1, C, OCtot, xpad, wperm, bias, act, y);
  }
  // An NCHW image is read channels_last when its channel count allows the
  // 8x8-transpose copy (a pass over the image, about a tenth of the 3x3 64-channel
  // forward): its channels H*W apart cost the kernel a quarter of its speed.
  // Otherwise its padding reads a zero image of C*H*W floats, kept between
  // calls: capped at 16 MiB.
  std::shared_ptr<void> x_nhwc;
  bool in_nchw = nchw;
  if (nchw && Ctot % 4 == 0 && g.N * HW * Ctot <= kMaxCopyFloats) {
    x_nhwc = cached_block(static_cast<size_t>(g.N * HW * Ctot) * sizeof(float));
    float* xt = static_cast<float*>(x_nhwc.get());
    const int64_t chunk = 256, per_image = ceil_div(HW, chunk);
    at::parallel_for(0, g.N * per_image, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t n = i / per_image, p0 = (i % per_image) * chunk, np = std::min(chunk, HW - p0);
        pack_rowmajor_f32_x86(x + n * Ctot * HW + p0, HW, Ctot, np, Ctot, xt + (n * HW + p0) * Ctot);
      }
    });
    x = xt;
    in_nchw = false;
  }
  if (in_nchw && C * HW > kMaxZeroFloats) return false;
  const int64_t tb_max = std::max<int64_t>(1, kTargetKC / C);
  const int64_t nkb = ceil_div(T, tb_max), tb = ceil_div(T, nkb);  // taps per weight block
  // output channels per strip: 64 (6 x 64 tiles, two per 12 pixels) from 64 of them on, else 32 (12 x 32)
  const int64_t width = g.OC >= 64 ? 64 : kCols;
  const int64_t strips = ceil_div(g.OC, width), Mtot = g.N * P;
  // where pixel (n, ih, iw) of this group starts, and the distance between its channels
  const int64_t cs = in_nchw ? HW : 1;
  auto pixel = [&](const float* xg, int64_t n, int64_t ih, int64_t iw) {
    return in_nchw ? xg + n * Ctot * HW + ih * g.W + iw : xg + ((n * g.H + ih) * g.W + iw) * Ctot;
  };
  const int64_t pix = in_nchw ? 1 : Ctot;  // from one input pixel to the next along a row

  // packed weights of one group: block kb holds taps [kb*tb, ...) as `strips`
  // panels of [kcb][32] (zero columns past OC)
  const size_t wsize = static_cast<size_t>(strips * width * K);
  std::shared_ptr<void> wbuf = cached_block(wsize * sizeof(float));
  float* wp = static_cast<float*>(wbuf.get());
  const float* zeros = zero_row(in_nchw ? C * HW : C);

  for (int64_t gi = 0; gi < groups; ++gi) {
    const float* wg = wperm + gi * g.OC * K;
    for (int64_t kb = 0; kb < nkb; ++kb) {
      const int64_t k0 = kb * tb * C, kcb = std::min(tb * C, K - k0);
      for (int64_t s = 0; s < strips; ++s)
        pack_strided(wg, K, 1, s * width, std::min<int64_t>(width, g.OC - s * width), k0, kcb, width,
                     wp + k0 * strips * width + s * kcb * width);
    }
    const float* xg = x + gi * C * cs;
    const float* bg = bias ? bias + gi * g.OC : nullptr;
    const int64_t tiles = ceil_div(Mtot, kRows);
    at::parallel_for(0, tiles, 4, [&](int64_t t0, int64_t t1) {
      const float* ptrs[64 * kRows];
      float* dst[kRows];  // NCHW: where each pixel's output plane entry of channel 0 of the group is
      alignas(64) float scratch[kRows * 64];
      for (int64_t tile = t0; tile < t1; ++tile) {
        const int64_t r0 = tile * kRows, rows = std::min<int64_t>(kRows, Mtot - r0);
        // the window pointers of the tile's pixels, tap-major, one run of
        // pixels on the same output row at a time: along a run, a tap's input
        // pixels are `step` apart, with the padding only at the run's ends
        bool one_run = false;  // all 12 pixels on one output row (NCHW: side by side in each plane)
        for (int64_t i = 0; i < kRows;) {
          if (i >= rows) {  // past the last pixel: zeros, never stored
            for (int64_t t = 0; t < T; ++t) std::fill(ptrs + t * kRows + i, ptrs + (t + 1) * kRows, zeros);
            break;
          }
          const PixelCursor pc(r0 + i, g.OH, g.OW);
          const int64_t len = std::min(rows - i, g.OW - pc.ow);
          one_run = len == kRows;
          if (nchw)
            for (int64_t j = 0; j < len; ++j) dst[i + j] = y + (pc.n * OCtot + gi * g.OC) * P + pc.oh * g.OW + pc.ow + j;
          for (int64_t kh = 0, t = 0; kh < g.KH; ++kh) {
            const int64_t ih = pc.oh * g.sh - g.ph + kh * g.dh;
            for (int64_t kw = 0; kw < g.KW; ++kw, ++t) {
              // pixel j reads column iw0 + j*sw: inside the image for j in [lo, hi)
              const int64_t iw0 = pc.ow * g.sw - g.pw + kw * g.dw;
              int64_t lo = 0, hi = 0;
              if (ih >= 0 && ih < g.H && iw0 < g.W) {
                lo = iw0 >= 0 ? 0 : g.sw == 1 ? -iw0 : ceil_div(-iw0, g.sw);
                hi = std::min(len, g.sw == 1 ? g.W - iw0 : (g.W - 1 - iw0) / g.sw + 1);
              }
              const float* first = pixel(xg, pc.n, std::clamp<int64_t>(ih, 0, g.H - 1), 0);
              fill_run(ptrs + t * kRows + i, len, lo, hi, first, iw0 * pix, g.sw * pix, zeros);
            }
          }
          i += len;
        }
        // NHWC: the tile's output rows are contiguous channel runs (straight into
        // y unless partial); NCHW: through scratch, then one value per plane
        const bool via_scratch = nchw || rows < kRows;
        for (int64_t s = 0; s < strips; ++s) {
          const int cols = static_cast<int>(std::min<int64_t>(width, g.OC - s * width));
          float* cdst = via_scratch ? scratch : y + r0 * OCtot + gi * g.OC + s * width;
          const int64_t ldc = via_scratch ? width : OCtot;
          for (int64_t kb = 0; kb < nkb; ++kb) {
            const int64_t k0 = kb * tb * C, kcb = std::min(tb * C, K - k0);
            const float* wb = wp + k0 * strips * width + s * kcb * width;
            const float* const* pk = ptrs + kb * tb * kRows;
            const float* bs = bg ? bg + s * width : nullptr;
            if (width == kCols) {
              kernel_12x32(kcb / C, C, cs, pk, wb, cdst, ldc, kb > 0, cols, bs);
            } else {
              kernel_6x64(kcb / C, C, cs, pk, kRows, wb, cdst, ldc, kb > 0, cols, bs);
              kernel_6x64(kcb / C, C, cs, pk + 6, kRows, wb, cdst + 6 * ldc, ldc, kb > 0, cols, bs);
            }
          }
          if (nchw) {  // activation on the tile, then into the channel planes
            if (act != Act::None)
              for (int64_t i = 0; i < rows; ++i) apply_act(act, scratch + i * width, cols);
            if (one_run) {
              store_tile_to_planes(scratch, width, cols, dst[0] + s * width * P, P);
            } else {
              for (int64_t i = 0; i < rows; ++i)
                for (int j = 0; j < cols; ++j) dst[i][(s * width + j) * P] = scratch[i * width + j];
            }
          } else if (via_scratch) {
            for (int64_t i = 0; i < rows; ++i)
              std::copy(scratch + i * width, scratch + i * width + cols, y + (r0 + i) * OCtot + gi * g.OC + s * width);
          }
        }
        if (nchw || act == Act::None) continue;
        // NHWC: activation on the finished rows (still in cache)
        for (int64_t i = 0; i < rows; ++i) apply_act(act, y + (r0 + i) * OCtot + gi * g.OC, g.OC);
      }
    });
  }
  return true;
}

}  // namespace fastnn::cpu::conv

#else

namespace fastnn::cpu::conv {
bool direct_conv_forward_f32(const Geom&, bool, int64_t, int64_t, int64_t, const float*, const float*, const float*,
                             Act, float*) {
  return false;
}
}  // namespace fastnn::cpu::conv

#endif
