// The per-step GEMM of the recurrent kernels on one worker's slice of a
// pre-packed weight: C[M, N] (+)= A[M, K] @ B (+ bias). Batches of 1-8 rows
// run a small-M AVX-512 kernel on the packed panels (the general micro-kernel
// computes a full MR-row tile, wasting most of its work on a batch of 1); larger
// batches, other ISAs and float64 use gemm_packed on the calling thread.
#pragma once

#include <cstdint>

#include "gemm/gemm.h"

namespace fastnn::cpu::rnn {

// backwards: walk the weight panels in reverse order. Alternating the
// direction from one step to the next (serpentine) lets a weight slice a bit
// larger than L2 still hit the cache for most of the walk, where a cyclic
// walk would miss on every panel.
// a_packed (optional): A already packed by pack_a_panels against b, used by
// the larger batches' gemm_packed (an A shared by several weight slices is
// then packed once).
template <typename T>
void step_gemm(int64_t M, const T* a, int64_t lda, const PackedB<T>& b, T* c, int64_t ldc, const T* bias,
               bool accumulate, bool backwards = false, const T* a_packed = nullptr);

}  // namespace fastnn::cpu::rnn
