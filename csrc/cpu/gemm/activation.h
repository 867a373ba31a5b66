// Element-wise activations and their derivatives, used by the GEMM epilogue,
// the Linear/Conv backward passes and the recurrent gate math. float32 runs
// AVX-512 vector code where the CPU has it; other types use the scalar path.
#pragma once

#include <cstdint>

#include "gemm.h"

namespace fastnn::cpu {

// x[i] = act(x[i]) for i < n.
template <typename T>
void apply_act(Act act, T* x, int64_t n);

// out[i] = grad[i] * act'(.), where `saved` is the layer output y for
// relu/tanh/sigmoid and the pre-activation z for gelu/silu (see
// act_grad_needs_preact). `out` may alias `grad`.
template <typename T>
void act_grad(Act act, const T* grad, const T* saved, T* out, int64_t n);

inline bool act_grad_needs_preact(Act act) { return act == Act::GELU || act == Act::SiLU; }

// Vector sigmoid/tanh for the recurrent cells: y[i] = f(x[i]).
template <typename T>
void sigmoid_inplace(T* x, int64_t n);
template <typename T>
void tanh_inplace(T* x, int64_t n);

namespace detail {
// AVX-512 float32 paths (activation_avx512.cpp); return false when the CPU lacks AVX-512.
bool apply_act_f32_avx512(Act act, float* x, int64_t n);
bool act_grad_f32_avx512(Act act, const float* grad, const float* saved, float* out, int64_t n);
// The GEMM's tile epilogue in one pass: tile[i*ld + j] = act(tile[i*ld + j] + bias_n[j] + bias_m[i])
// for i < m, j < n (bias_n, bias_m optional).
bool bias_act_tile_f32_avx512(Act act, float* tile, int64_t ld, int64_t m, int64_t n, const float* bias_n,
                              const float* bias_m);
}  // namespace detail

}  // namespace fastnn::cpu
