// AVX-512 float32 vector math shared by the activation kernels and the
// recurrent gate kernels: exp by range reduction + Cephes polynomial (about
// 1 ulp), sigmoid, tanh, erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7).
// Include only from x86-64 GCC/Clang translation units.
#pragma once

#include <immintrin.h>

#define FASTNN_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#define FASTNN_AVX512_INLINE static inline __attribute__((always_inline)) FASTNN_AVX512

namespace fastnn::cpu::vec {

FASTNN_AVX512_INLINE __m512 v(float x) { return _mm512_set1_ps(x); }

// exp(x) for x clamped to [-87.3, 88.3] (2^-126 .. 2^127: the result is
// always a normal float). n = round(x / ln 2) comes from adding a magic
// constant (its low mantissa bits then hold n + 127), and 2^n from shifting
// those bits into the exponent field: cheaper than roundscale + scalef.
FASTNN_AVX512_INLINE __m512 exp_ps(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, v(-87.3f)), v(88.3f));
  const __m512 magic = v(12582912.0f + 127.0f);  // 1.5 * 2^23 + exponent bias
  const __m512 t = _mm512_fmadd_ps(x, v(1.44269504088896341f), magic);
  const __m512 n = _mm512_sub_ps(t, magic);
  __m512 r = _mm512_fnmadd_ps(n, v(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, v(-2.12194440e-4f), r);
  __m512 p = v(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, v(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, v(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, v(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, v(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, v(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), v(1.0f));
  const __m512 pow2n = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23));
  return _mm512_mul_ps(y, pow2n);
}

// 1/x for x >= 1 (all callers): rcp14 refined by one Newton step (about 1
// ulp). A vector divide takes ~16 cycles per instruction and dominated the
// recurrent gate math.
FASTNN_AVX512_INLINE __m512 recip_ps(__m512 x) {
  const __m512 r = _mm512_rcp14_ps(x);
  return _mm512_mul_ps(r, _mm512_fnmadd_ps(x, r, v(2.0f)));
}

FASTNN_AVX512_INLINE __m512 sigmoid_ps(__m512 x) {
  return recip_ps(_mm512_add_ps(v(1.0f), exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// tanh(|x|) = 1 - 2 / (exp(2|x|) + 1), sign restored; small |x| uses the odd
// Taylor polynomial to keep relative accuracy near zero.
FASTNN_AVX512_INLINE __m512 tanh_ps(__m512 x) {
  const __m512 ax = _mm512_abs_ps(x);
  const __m512 e = exp_ps(_mm512_add_ps(ax, ax));
  __m512 big = _mm512_fnmadd_ps(v(2.0f), recip_ps(_mm512_add_ps(e, v(1.0f))), v(1.0f));  // 1 - 2 / (e + 1)
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
  const __m512 t = recip_ps(_mm512_fmadd_ps(v(0.3275911f), ax, v(1.0f)));
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

}  // namespace fastnn::cpu::vec
