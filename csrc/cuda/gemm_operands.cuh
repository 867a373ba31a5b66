// How the CUDA GEMM reads its operands.
//
// The GEMM computes C[M][N] = sum_k A(m, k) B(k, n). It sees A as M rows of
// depth K and B as N rows of depth K (rows of B are output columns). Each
// operand type says which of its two dimensions is contiguous in memory
// (kKMajor: along K) and answers:
//   chunk(r, k): address of 8 consecutive elements along the contiguous
//                dimension, starting at (r, k), or nullptr where the chunk is
//                outside the operand or in convolution padding (read as zeros).
//                Used by the tensor-core kernel, which the host picks only when
//                the contiguous extent is a multiple of 8 and 16-byte aligned.
//   at(r, k):    one element, zero outside (the SIMT kernel, any layout).
// `ptr` is a valid device address of the operand (cp.async's dummy source).
// chunk() is also a host function: tests/cuda_host/operand_readers.cu checks the
// address arithmetic on the CPU, against a brute-force mapping.
#pragma once

#include "cuda_math.cuh"

namespace fastnn::cuda {

// A strided matrix: element (r, k) at ptr[r * rs + k * ks].
template <typename T, bool KMajor>
struct StridedOperand {
  static constexpr bool kKMajor = KMajor;
  const T* ptr;
  int64_t rs, ks;
  int rows, depth;

  __host__ __device__ __forceinline__ const T* chunk(int r, int k) const {
    if (r >= rows || k >= depth) return nullptr;
    return ptr + r * rs + k * ks;
  }
  __device__ __forceinline__ acc_t<T> at(int r, int k) const {
    return (r < rows && k < depth) ? to_acc(ptr[r * rs + k * ks]) : acc_t<T>(0);
  }
};

// Convolution geometry, NHWC activations. Cg / OCg: channels per group.
struct ConvGeom {
  int N, H, W, C, OH, OW, OC, KH, KW, sh, sw, ph, pw, dh, dw, Cg, OCg;
};

// Implicit im2col of the input x (NHWC, `ptr` at the group's first channel):
// element (output pixel p, kidx = (kh * KW + kw) * Cg + c). The forward pass
// reads it as A (KMajor: rows = pixels, depth = kidx); the weight gradient as B
// (rows = kidx, depth = pixels, contiguous along the channels).
template <typename T, bool KMajor>
struct Im2colOperand {
  static constexpr bool kKMajor = KMajor;
  const T* ptr;
  ConvGeom g;
  int pixels, kdim;

  __host__ __device__ __forceinline__ const T* address(int p, int kidx) const {
    if (p >= pixels || kidx >= kdim) return nullptr;
    const int ow = p % g.OW, t = p / g.OW, oh = t % g.OH, n = t / g.OH;
    const int c = kidx % g.Cg, tap = kidx / g.Cg, kw = tap % g.KW, kh = tap / g.KW;
    const int ih = oh * g.sh - g.ph + kh * g.dh, iw = ow * g.sw - g.pw + kw * g.dw;
    if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return nullptr;
    return ptr + ((int64_t(n) * g.H + ih) * g.W + iw) * g.C + c;
  }
  __host__ __device__ __forceinline__ const T* chunk(int r, int k) const {
    return KMajor ? address(r, k) : address(k, r);
  }
  __device__ __forceinline__ acc_t<T> at(int r, int k) const {
    const T* p = chunk(r, k);
    return p ? to_acc(*p) : acc_t<T>(0);
  }
};

// The input gradient as a gather over the output gradient gy (NHWC, `ptr` at
// the group's first output channel): element (input pixel, kidx = (kh * KW +
// kw) * OCg + oc) is gy at the output pixel that tap (kh, kw) of that input
// pixel feeds, or zero where none does (stride, padding, borders).
template <typename T>
struct DgradOperand {
  static constexpr bool kKMajor = true;
  const T* ptr;
  ConvGeom g;
  int pixels, kdim;

  __host__ __device__ __forceinline__ const T* chunk(int r, int k) const {
    if (r >= pixels || k >= kdim) return nullptr;
    const int iw = r % g.W, t = r / g.W, ih = t % g.H, n = t / g.H;
    const int oc = k % g.OCg, tap = k / g.OCg, kw = tap % g.KW, kh = tap / g.KW;
    const int hs = ih + g.ph - kh * g.dh, ws = iw + g.pw - kw * g.dw;
    if (hs < 0 || ws < 0 || hs % g.sh != 0 || ws % g.sw != 0) return nullptr;
    const int oh = hs / g.sh, ow = ws / g.sw;
    if (oh >= g.OH || ow >= g.OW) return nullptr;
    return ptr + ((int64_t(n) * g.OH + oh) * g.OW + ow) * g.OC + oc;
  }
  __device__ __forceinline__ acc_t<T> at(int r, int k) const {
    const T* p = chunk(r, k);
    return p ? to_acc(*p) : acc_t<T>(0);
  }
};

}  // namespace fastnn::cuda
