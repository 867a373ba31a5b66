// Small-M GEMM without packing: C[i, n] = sum_k A[i, k] * Bt[n, k] with both
// operands contiguous along k (Linear forward: x @ W^T with W in its natural
// [out, in] layout). When M is small every element of W is used only M
// times, so packing W would cost as much as the product; dot products read
// it once instead.
#pragma once

#include <cstdint>

#include "gemm.h"

namespace fastnn::cpu {

// The operands of a small-M product over one or two K ranges, summed:
//   C[i, n] = sum over segments s of  sum_k a_s[i, k] * bt_s[n, k]   (k < K_s)
// each with its own A and Bt (k contiguous, rows lda_s / ldb_s apart). Two segments are a
// recurrent cell's x W_ih^T + h W_hh^T: one pass over C, the sum kept in registers.
struct DotOperands {
  struct Segment {
    const float* a;
    int64_t lda;
    const float* bt;
    int64_t ldb;
    int64_t K;
  };
  Segment seg[2];
  int count = 1;

  static DotOperands one(const float* a, int64_t lda, const float* bt, int64_t ldb, int64_t K) {
    DotOperands d;
    d.seg[0] = {a, lda, bt, ldb, K};
    return d;
  }
  static DotOperands two(const Segment& first, const Segment& second) {
    DotOperands d;
    d.seg[0] = first;
    d.seg[1] = second;
    d.count = 2;
    return d;
  }
  int64_t total_k() const { return count == 2 ? seg[0].K + seg[1].K : seg[0].K; }
};

// Computes rows [0, M) and columns [n0, n1) of C; returns false (nothing
// done) when the CPU lacks AVX-512. Epilogue as in gemm().
bool gemm_dot_f32(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                  const Epilogue<float>& ep);

// Rows of A the quad broadcast kernel takes (gemm_bcast_quad_avx512.cpp). Measured against the
// dot-product tiles, one thread, K 128-2048: 3 rows +19%, 4 even, 6-12 rows +5-27%, and against
// the one-k broadcast kernel's 16x16 tiles at 14-16 rows +23-32%; at 1-2 rows the dot-product
// tiles stay ahead (the quad kernel would leave half or more of its lanes empty).
constexpr int64_t kQuadMinM = 3;
constexpr int64_t kQuadMaxM = 16;
inline bool bcast_quad_takes(int64_t M) { return M >= kQuadMinM && M <= kQuadMaxM; }

// Vectors of 16 rows per k step of the quad kernel's panel (4 k per vector; its tiles by rows: 1-4, 5-8,
// 9-12, 13-16) and of the broadcast kernel's panel (one k per vector: 17-32, 33-48, 49-64 rows).
inline int quad_vectors(int64_t M) { return M <= 4 ? 1 : M <= 8 ? 2 : M <= 12 ? 3 : 4; }
inline int bcast_vectors(int64_t M) { return M <= 32 ? 2 : M <= 48 ? 3 : 4; }

// Bytes of the A panel the small-M kernels stream past every tile of columns, for M rows and K
// (0 for the dot-product tiles, which read A in place).
inline int64_t dot_panel_bytes(int64_t M, int64_t K) {
  if (bcast_quad_takes(M)) return (K + 3) / 4 * quad_vectors(M) * 64;
  if (M >= kQuadMaxM + 1) return K * bcast_vectors(M) * 64;
  return 0;
}

// The same product with 4 k per vector: columns [n0, n0 + done) of C for the rows
// bcast_quad_takes(M), returns done (a whole number of its tiles; 0 when it does not apply).
int64_t gemm_bcast_quad_f32(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                            const Epilogue<float>& ep);

// Rows from which the one-k broadcast kernel takes over from the quad kernel.
constexpr int64_t kBcastMinM = kQuadMaxM + 1;
// Where it also beats packing the weight (the GEMM's path beyond 32 rows):
// 8 x 48 tiles for 33-48 rows (5-16% faster on 512-1024 x 1024-2048
// weights) and 6 x 64 tiles for 57-64 rows (9-15%); at 50 rows a 64-row tile
// was 8% slower, so 49-56 rows are left to the packed GEMM.
constexpr int64_t kBcastMaxM = 64;
inline bool bcast_takes(int64_t M) { return M >= kBcastMinM && (M <= 48 || (M > 56 && M <= kBcastMaxM)); }

// The same product by broadcasting Bt (gemm_bcast_avx512.cpp), for
// the rows bcast_takes(M): computes the columns [n0, n0 + done) and returns done
// (a whole number of its tiles; 0 when it does not apply). gemm_dot_f32 calls
// the broadcast kernels first and finishes the remaining columns itself.
int64_t gemm_bcast_f32(int64_t M, int64_t n0, int64_t n1, const DotOperands& ops, float* c, int64_t ldc,
                       const Epilogue<float>& ep);

}  // namespace fastnn::cpu
