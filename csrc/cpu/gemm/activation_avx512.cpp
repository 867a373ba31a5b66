// AVX-512 float32 activations: exp by range reduction + Cephes polynomial
// (about 1 ulp), erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7).
#include "activation.h"
#include "microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#define FASTNN_AVX512_INLINE static inline __attribute__((always_inline)) FASTNN_AVX512

namespace fastnn::cpu::detail {
namespace {

FASTNN_AVX512_INLINE __m512 v(float x) { return _mm512_set1_ps(x); }

FASTNN_AVX512_INLINE __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, v(-104.0f)), v(88.72f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, v(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, v(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, v(-2.12194440e-4f), r);
  __m512 p = v(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, v(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, v(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, v(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, v(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, v(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), v(1.0f));
  return _mm512_scalef_ps(y, n);
}

FASTNN_AVX512_INLINE __m512 sigmoid_ps(__m512 x) {
  return _mm512_div_ps(v(1.0f), _mm512_add_ps(v(1.0f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// tanh(|x|) = 1 - 2 / (exp(2|x|) + 1), sign restored; small |x| uses the odd
// Taylor polynomial to keep relative accuracy near zero.
FASTNN_AVX512_INLINE __m512 tanh_ps(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 e = exp_ps(_mm512_add_ps(ax, ax));
  __m512 big = _mm512_sub_ps(v(1.0f), _mm512_div_ps(v(2.0f), _mm512_add_ps(e, v(1.0f))));
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = v(-17.0f / 315.0f);
  p = _mm512_fmadd_ps(p, x2, v(2.0f / 15.0f));
  p = _mm512_fmadd_ps(p, x2, v(-1.0f / 3.0f));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, x2), ax, ax);
  const __mmask16 is_small = _mm512_cmp_ps_mask(ax, v(0.0625f), _CMP_LT_OQ);
  big = _mm512_mask_blend_ps(is_small, big, small);
  // copy the sign of x
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x80000000));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), sign));
}

FASTNN_AVX512_INLINE __m512 erf_ps(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 t = _mm512_div_ps(v(1.0f), _mm512_fmadd_ps(v(0.3275911f), ax, v(1.0f)));
  __m512 p = v(1.061405429f);
  p = _mm512_fmadd_ps(p, t, v(-1.453152027f));
  p = _mm512_fmadd_ps(p, t, v(1.421413741f));
  p = _mm512_fmadd_ps(p, t, v(-0.284496736f));
  p = _mm512_fmadd_ps(p, t, v(0.254829592f));
  p = _mm512_mul_ps(p, t);
  const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(ax, ax)));
  const __m512 r = _mm512_fnmadd_ps(p, e, v(1.0f));
  const __m512i sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x80000000));
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(r), sign));
}

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

}  // namespace

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
bool act_grad_f32_avx512(Act, const float*, const float*, float*, int64_t) { return false; }
}  // namespace fastnn::cpu::detail

#endif
