// AVX-512 float32 activations and their gradients (vector math in vec_math_avx512.h).
#include "activation.h"
#include "microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include "vec_math_avx512.h"

namespace fastnn::cpu::detail {
namespace {

using namespace vec;

FASTNN_AVX512_INLINE __m512 act_ps(Act act, __m512 x) {
  switch (act) {
    case Act::None: return x;
    case Act::ReLU: return _mm512_max_ps(x, _mm512_setzero_ps());
    case Act::GELU:
      return _mm512_mul_ps(_mm512_mul_ps(v(0.5f), x),
                           _mm512_add_ps(v(1.0f), erf_ps(_mm512_mul_ps(x, v(0.70710678118654752f)))));
    case Act::SiLU: return _mm512_mul_ps(x, sigmoid_ps(x));
    case Act::Tanh: return tanh_ps(x);
    case Act::Sigmoid: return sigmoid_ps(x);
  }
  return x;
}

FASTNN_AVX512_INLINE __m512 grad_ps(Act act, __m512 g, __m512 s) {
  const __m512 one = v(1.0f);
  switch (act) {
    case Act::None: return g;
    case Act::ReLU:
      return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(s, _mm512_setzero_ps(), _CMP_GT_OQ), g);
    case Act::GELU: {
      const __m512 cdf =
          _mm512_mul_ps(v(0.5f), _mm512_add_ps(one, erf_ps(_mm512_mul_ps(s, v(0.70710678118654752f)))));
      const __m512 pdf = _mm512_mul_ps(exp_ps(_mm512_mul_ps(v(-0.5f), _mm512_mul_ps(s, s))),
                                       v(0.3989422804014327f));
      return _mm512_mul_ps(g, _mm512_fmadd_ps(s, pdf, cdf));
    }
    case Act::SiLU: {
      const __m512 sg = sigmoid_ps(s);
      return _mm512_mul_ps(_mm512_mul_ps(g, sg), _mm512_fmadd_ps(s, _mm512_sub_ps(one, sg), one));
    }
    case Act::Tanh: return _mm512_mul_ps(g, _mm512_fnmadd_ps(s, s, one));
    case Act::Sigmoid: return _mm512_mul_ps(_mm512_mul_ps(g, s), _mm512_sub_ps(one, s));
  }
  return g;
}

FASTNN_AVX512 void apply_impl(Act act, float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, act_ps(act, _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(x + i, m, act_ps(act, _mm512_maskz_loadu_ps(m, x + i)));
  }
}

FASTNN_AVX512 void grad_impl(Act act, const float* g, const float* s, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, grad_ps(act, _mm512_loadu_ps(g + i), _mm512_loadu_ps(s + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(out + i, m,
                          grad_ps(act, _mm512_maskz_loadu_ps(m, g + i), _mm512_maskz_loadu_ps(m, s + i)));
  }
}

// One pass of bias and activation over a tile; A is a template argument so that each activation
// gets its own loop (a switch per vector, or a call per row, cost as much as the bias add itself).
template <Act A>
FASTNN_AVX512_INLINE __m512 bias_act_ps(__m512 y, const float* bias_n, __mmask16 m, const float* bias_m) {
  if (bias_n) y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(m, bias_n));
  if (bias_m) y = _mm512_add_ps(y, _mm512_set1_ps(*bias_m));
  return act_ps(A, y);
}

template <Act A>
FASTNN_AVX512 void bias_act_tile(float* tile, int64_t ld, int64_t rows, int64_t n, const float* bias_n,
                                 const float* bias_m) {
  for (int64_t r = 0; r < rows; ++r) {
    float* x = tile + r * ld;
    const float* bm = bias_m ? bias_m + r : nullptr;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      _mm512_storeu_ps(x + i, bias_act_ps<A>(_mm512_loadu_ps(x + i), bias_n ? bias_n + i : nullptr, 0xFFFF, bm));
    if (i < n) {
      const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
      _mm512_mask_storeu_ps(x + i, m,
                            bias_act_ps<A>(_mm512_maskz_loadu_ps(m, x + i), bias_n ? bias_n + i : nullptr, m, bm));
    }
  }
}

}  // namespace

bool bias_act_tile_f32_avx512(Act act, float* tile, int64_t ld, int64_t m, int64_t n, const float* bias_n,
                              const float* bias_m) {
  if (!use_avx512()) return false;
  switch (act) {
    case Act::None: bias_act_tile<Act::None>(tile, ld, m, n, bias_n, bias_m); break;
    case Act::ReLU: bias_act_tile<Act::ReLU>(tile, ld, m, n, bias_n, bias_m); break;
    case Act::GELU: bias_act_tile<Act::GELU>(tile, ld, m, n, bias_n, bias_m); break;
    case Act::SiLU: bias_act_tile<Act::SiLU>(tile, ld, m, n, bias_n, bias_m); break;
    case Act::Tanh: bias_act_tile<Act::Tanh>(tile, ld, m, n, bias_n, bias_m); break;
    case Act::Sigmoid: bias_act_tile<Act::Sigmoid>(tile, ld, m, n, bias_n, bias_m); break;
  }
  return true;
}

bool apply_act_f32_avx512(Act act, float* x, int64_t n) {
  if (!use_avx512()) return false;
  apply_impl(act, x, n);
  return true;
}

bool act_grad_f32_avx512(Act act, const float* grad, const float* saved, float* out, int64_t n) {
  if (!use_avx512()) return false;
  grad_impl(act, grad, saved, out, n);
  return true;
}

}  // namespace fastnn::cpu::detail

#else

namespace fastnn::cpu::detail {
bool apply_act_f32_avx512(Act, float*, int64_t) { return false; }
bool bias_act_tile_f32_avx512(Act, float*, int64_t, int64_t, int64_t, const float*, const float*) { return false; }
bool act_grad_f32_avx512(Act, const float*, const float*, float*, int64_t) { return false; }
}  // namespace fastnn::cpu::detail

#endif
