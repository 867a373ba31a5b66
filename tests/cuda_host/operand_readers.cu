// Host-side check of the CUDA GEMM's operand readers (csrc/cuda/gemm_operands.cuh): the
// address each chunk() returns, for many convolution geometries, against a mapping built
// the other way round (by walking the convolution forward). Needs nvcc, no GPU; run by
// tests/test_cuda_operand_readers.py. Prints "ok <cases>" or the first mismatch, exit 1.
#include <cstdio>
#include <map>
#include <random>
#include <vector>

#include "cuda/gemm_operands.cuh"

using namespace fastnn::cuda;
using T = float;  // the readers' arithmetic does not depend on the element type

namespace {

int failures = 0;

void fail(const char* what, const ConvGeom& g, long a, long b, long got, long want) {
  if (++failures > 5) return;
  std::printf("MISMATCH %s at (%ld, %ld): got %ld want %ld; N=%d C=%d H=%d W=%d OC=%d k=%dx%d s=%d,%d p=%d,%d d=%d,%d Cg=%d OCg=%d\n",
              what, a, b, got, want, g.N, g.C, g.H, g.W, g.OC, g.KH, g.KW, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.Cg, g.OCg);
}

long offset(const T* p, const T* base) { return p ? long(p - base) : -1; }

// Walks the convolution forward: for each output pixel and tap, the input pixel it reads (or none).
void check_geometry(const ConvGeom& g, int group, const std::vector<T>& x, const std::vector<T>& gy) {
  const int out_pixels = g.N * g.OH * g.OW, in_pixels = g.N * g.H * g.W;
  const int kdim_x = g.KH * g.KW * g.Cg, kdim_y = g.KH * g.KW * g.OCg;
  const T* xg = x.data() + group * g.Cg;
  const T* gyg = gy.data() + group * g.OCg;
  const Im2colOperand<T, true> cols{xg, g, out_pixels, kdim_x};
  const Im2colOperand<T, false> cols_t{xg, g, out_pixels, kdim_x};
  const DgradOperand<T> gather{gyg, g, in_pixels, kdim_y};
  std::map<std::pair<long, long>, long> feeds;  // (input pixel, tap * OCg + oc) -> offset into gy
  for (int n = 0; n < g.N; ++n)
    for (int oh = 0; oh < g.OH; ++oh)
      for (int ow = 0; ow < g.OW; ++ow) {
        const int p = (n * g.OH + oh) * g.OW + ow;
        for (int kh = 0; kh < g.KH; ++kh)
          for (int kw = 0; kw < g.KW; ++kw) {
            const int ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;
            const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            const int tap = kh * g.KW + kw;
            for (int c = 0; c < g.Cg; ++c) {
              const long want = inside ? long(((n * g.H + ih) * g.W + iw) * g.C + group * g.Cg + c) : -1;
              const int kidx = tap * g.Cg + c;
              const long got = offset(cols.chunk(p, kidx), x.data());
              if (got != want) fail("im2col", g, p, kidx, got, want);
              const long got_t = offset(cols_t.chunk(kidx, p), x.data());
              if (got_t != want) fail("im2col^T", g, kidx, p, got_t, want);
            }
            if (inside)
              for (int oc = 0; oc < g.OCg; ++oc)
                feeds[{long((n * g.H + ih) * g.W + iw), long(tap * g.OCg + oc)}] =
                    long(((n * g.OH + oh) * g.OW + ow) * g.OC + group * g.OCg + oc);
          }
      }
  for (int q = 0; q < in_pixels; ++q)
    for (int k = 0; k < kdim_y; ++k) {
      const auto it = feeds.find({q, k});
      const long want = it == feeds.end() ? -1 : it->second;
      const long got = offset(gather.chunk(q, k), gy.data());
      if (got != want) fail("dgrad gather", g, q, k, got, want);
    }
  // Outside the operand: nothing.
  if (cols.chunk(out_pixels, 0) || cols.chunk(0, kdim_x) || gather.chunk(in_pixels, 0) || gather.chunk(0, kdim_y))
    fail("bounds", g, 0, 0, 0, -1);
}

int out_size(int in, int k, int s, int p, int d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

}  // namespace

int main() {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  int cases = 0;
  while (cases < 300) {
    ConvGeom g{};
    g.N = pick(1, 2);
    g.H = pick(1, 9);
    g.W = pick(1, 9);
    g.KH = pick(1, 4);
    g.KW = pick(1, 4);
    g.sh = pick(1, 3);
    g.sw = pick(1, 3);
    g.dh = pick(1, 2);
    g.dw = pick(1, 2);
    g.ph = pick(0, 2);
    g.pw = pick(0, 2);
    const int groups = pick(1, 3);
    g.Cg = pick(1, 4);
    g.OCg = pick(1, 4);
    g.C = g.Cg * groups;
    g.OC = g.OCg * groups;
    g.OH = out_size(g.H, g.KH, g.sh, g.ph, g.dh);
    g.OW = out_size(g.W, g.KW, g.sw, g.pw, g.dw);
    if (g.OH < 1 || g.OW < 1) continue;  // kernel larger than the padded input: rejected by the op
    std::vector<T> x(size_t(g.N) * g.H * g.W * g.C), gy(size_t(g.N) * g.OH * g.OW * g.OC);
    for (int group = 0; group < groups; ++group) check_geometry(g, group, x, gy);
    ++cases;
  }
  if (failures) {
    std::printf("%d mismatches\n", failures);
    return 1;
  }
  std::printf("ok %d geometries\n", cases);
  return 0;
}
