// The recurrences of rnn_layer (no projection) run by a team of workers, each
// owning a slice of the hidden units for the whole sequence (rnn_team.h):
// per step, each worker multiplies the full h_prev by ITS gate rows of W_hh
// (packed once, kept in its cache), runs the gate math for its units, and
// meets the others at one barrier. Backward is the mirror image: gate grads
// for own units, one barrier, then own columns of dh_prev = dgates @ W_hh.
#pragma once

#include <ATen/ATen.h>

#include <optional>

#include "../rnn.h"
#include "gemm/gemm.h"
#include "rnn_small_gemm.h"

namespace fastnn::cpu::rnn {

// One worker's slice of a weight used once per step: C (+)= A @ Bt^T (+ bias).
template <typename T>
struct SliceGemm {
  RowSource<T> bt;
  int64_t N = 0, K = 0;
  std::optional<PackedB<T>> packed;

  void prepare(bool pack) {
    if (pack) packed = pack_b(bt, N, K);
  }
  void operator()(int64_t M, const T* a, int64_t lda, T* c, int64_t ldc, const T* bias, bool acc,
                  bool backwards = false) const {
    if (M <= 0) return;
    if (packed) return step_gemm(M, a, lda, *packed, c, ldc, bias, acc, backwards);
    Epilogue<T> ep;
    ep.bias_n = bias;
    ep.accumulate = acc;
    gemm(M, N, K, RowSource<T>::view(a, lda, 1), bt, {c, ldc, 1}, ep, /*parallel=*/false);
  }
};

// Forward recurrence. Before the call the input projections are in place:
// LSTM in ws's gate columns (ld 5H, both biases folded), RNN in out (ld H,
// both biases), GRU in xproj (ld 3H, b_ih; b_hh comes in here). hy starts as
// hx; cy starts as cx (LSTM).
template <typename T>
void fused_forward(const RnnDims& d, bool reverse, const at::Tensor& w_hh, const T* b_hh, const T* xproj, T* out,
                   T* ws, T* hy, T* cy);

// Backward recurrence. dh_state starts as grad_hy and ends as grad_hx;
// dc_state likewise (LSTM). Writes the gate gradients of every row into dgx
// (and dgh for GRU, whose hidden-side n gradient differs).
template <typename T>
void fused_backward(const RnnDims& d, bool reverse, const at::Tensor& w_hh, const T* out, const T* ws,
                    const T* grad_out, const T* h_prev_all, const T* cx, T* dh_state, T* dc_state, T* dgx,
                    T* dgh);

}  // namespace fastnn::cpu::rnn
