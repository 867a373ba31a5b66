// Building blocks of the sequence kernels: the per-step hidden GEMM with a
// weight packed once per sequence, and step/row bookkeeping for packed
// (variable-length) sequences.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <optional>

#include "../rnn.h"
#include "gemm/gemm.h"
#include "gemm/microkernel.h"

namespace fastnn::cpu::rnn {

// C[M, N] (+)= A[M, K] @ B where B is given as N rows of length K (Bt). Packs
// Bt once when it will be used for several steps; a single use goes straight
// to the GEMM (which packs its own panels).
template <typename T>
class StepGemm {
 public:
  StepGemm(const RowSource<T>& bt, int64_t N, int64_t K, int64_t uses) : bt_(bt), N_(N), K_(K) {
    if (uses > 1) packed_ = pack_b(bt, N, K, narrow_microkernel<T>().nr);
  }
  void operator()(int64_t M, const T* a, int64_t lda, T* c, int64_t ldc, const Epilogue<T>& ep) const {
    if (M <= 0) return;
    const RowSource<T> as = RowSource<T>::view(a, lda, 1);
    if (packed_) {
      gemm_packed(M, as, *packed_, {c, ldc, 1}, ep);
    } else {
      gemm(M, N_, K_, as, bt_, {c, ldc, 1}, ep);
    }
  }

 private:
  RowSource<T> bt_;
  int64_t N_, K_;
  std::optional<PackedB<T>> packed_;
};

// Step order and row bookkeeping of one direction.
struct Steps {
  const RnnDims& d;
  bool reverse;
  // t of the s-th step in processing order.
  int64_t time(int64_t s) const { return reverse ? d.T - 1 - s : s; }
  // Global row of batch row b at the step processed just before t, or -1
  // when b starts at t (its previous state is hx / cx).
  int64_t prev_row(int64_t t, int64_t b) const {
    if (!reverse) return t > 0 ? d.offsets[t - 1] + b : -1;
    return t + 1 < d.T && b < d.batch_sizes[t + 1] ? d.offsets[t + 1] + b : -1;
  }
};

// Runs fn(b0, b1) over batch rows [0, n) in parallel blocks of about `work`
// elements per task (serially when small).
template <typename F>
inline void for_rows(int64_t n, int64_t row_elems, const F& fn) {
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(row_elems, 1));
  at::parallel_for(0, n, grain, fn);
}

// Weights as GEMM row sources (shared by the forward and backward passes).
template <typename T>
cpu::RowSource<T> rows_of(const at::Tensor& w) {  // a weight [N, K] as N rows of length K
  return cpu::RowSource<T>::view(w.data_ptr<T>(), w.stride(0), w.stride(1));
}
template <typename T>
cpu::RowSource<T> cols_of(const at::Tensor& w) {  // a weight [N, K] as K rows of length N (its transpose)
  return cpu::RowSource<T>::view(w.data_ptr<T>(), w.stride(1), w.stride(0));
}

// Two operands side by side along N, as one row source: Bt rows [0, n1) from a, rows
// [n1, n1 + n2) from b (both strided views). n1 must be a multiple of the strip width (every
// kernel's is a divisor of 64): then no strip holds rows of both.
template <typename T>
cpu::RowSource<T> concat_rows(const cpu::RowSource<T>& a, int64_t n1, const cpu::RowSource<T>& b) {
  return cpu::RowSource<T>::custom([a, n1, b](int64_t r0, int64_t rc, int64_t k0, int64_t kc, int64_t width, T* dst) {
    const int64_t in_a = std::clamp<int64_t>(n1 - r0, 0, rc);
    TORCH_INTERNAL_ASSERT(in_a % width == 0 || in_a == rc, "concat_rows: a strip would straddle the two operands");
    if (in_a > 0) cpu::pack_strided(a.data, a.rs, a.cs, r0, in_a, k0, kc, width, dst);
    if (rc > in_a) cpu::pack_strided(b.data, b.rs, b.cs, r0 + in_a - n1, rc - in_a, k0, kc, width, dst + in_a * kc);
  });
}

}  // namespace fastnn::cpu::rnn
