// AVX-512 float32 gate math of the LSTM and GRU cells (see rnn_gates.h for the
// layouts): one pass over 16 hidden units at a time, all gates in registers,
// instead of a pass per activation with the tensors re-read from memory.
#include "rnn_gates.h"

#include "gemm/microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include "gemm/vec_math_avx512.h"

namespace fastnn::cpu::rnn::detail {
namespace {

using namespace vec;

// Lanes of the 16-wide step starting at j of a row of w units (the last step is partial).
inline __mmask16 lanes(int64_t w, int64_t j) {
  return w - j >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (w - j)) - 1u);
}

FASTNN_AVX512_INLINE __m512 ld(__mmask16 m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
FASTNN_AVX512_INLINE void st(__mmask16 m, float* p, __m512 x) { _mm512_mask_storeu_ps(p, m, x); }
FASTNN_AVX512_INLINE __m512 one_minus(__m512 x) { return _mm512_sub_ps(v(1.0f), x); }

}  // namespace

FASTNN_AVX512 bool lstm_forward_f32(int64_t H, int64_t w, float* g, float* c_state, float* h) {
  if (!use_avx512()) return false;
  for (int64_t j = 0; j < w; j += 16) {
    const __mmask16 m = lanes(w, j);
    const __m512 i = sigmoid_ps(ld(m, g + j)), f = sigmoid_ps(ld(m, g + H + j));
    const __m512 gg = tanh_ps(ld(m, g + 2 * H + j)), o = sigmoid_ps(ld(m, g + 3 * H + j));
    const __m512 c = _mm512_fmadd_ps(f, ld(m, c_state + j), _mm512_mul_ps(i, gg));
    st(m, g + j, i);
    st(m, g + H + j, f);
    st(m, g + 2 * H + j, gg);
    st(m, g + 3 * H + j, o);
    st(m, g + 4 * H + j, c);
    st(m, c_state + j, c);
    st(m, h + j, _mm512_mul_ps(o, tanh_ps(c)));
  }
  return true;
}

FASTNN_AVX512 bool lstm_backward_f32(int64_t H, int64_t w, const float* ws, const float* c_prev, const float* dh,
                                     float* dc, float* tanh_c, float* dg) {
  if (!use_avx512()) return false;
  for (int64_t j = 0; j < w; j += 16) {
    const __mmask16 m = lanes(w, j);
    const __m512 i = ld(m, ws + j), f = ld(m, ws + H + j), gg = ld(m, ws + 2 * H + j), o = ld(m, ws + 3 * H + j);
    const __m512 tc = tanh_ps(ld(m, ws + 4 * H + j));
    const __m512 dhj = ld(m, dh + j);
    // dc_total = dc + dh * o * (1 - tanh(c)^2)
    const __m512 dct = _mm512_fmadd_ps(_mm512_mul_ps(dhj, o), _mm512_fnmadd_ps(tc, tc, v(1.0f)), ld(m, dc + j));
    st(m, tanh_c + j, tc);
    st(m, dg + 3 * H + j, _mm512_mul_ps(_mm512_mul_ps(dhj, tc), _mm512_mul_ps(o, one_minus(o))));
    st(m, dg + j, _mm512_mul_ps(_mm512_mul_ps(dct, gg), _mm512_mul_ps(i, one_minus(i))));
    st(m, dg + H + j, _mm512_mul_ps(_mm512_mul_ps(dct, ld(m, c_prev + j)), _mm512_mul_ps(f, one_minus(f))));
    st(m, dg + 2 * H + j, _mm512_mul_ps(_mm512_mul_ps(dct, i), _mm512_fnmadd_ps(gg, gg, v(1.0f))));
    st(m, dc + j, _mm512_mul_ps(dct, f));
  }
  return true;
}

FASTNN_AVX512 bool gru_forward_f32(int64_t H, int64_t w, const float* gx, const float* gh, int64_t sh,
                                   const float* h_prev, float* ws, float* h) {
  if (!use_avx512()) return false;
  for (int64_t j = 0; j < w; j += 16) {
    const __mmask16 m = lanes(w, j);
    const __m512 r = sigmoid_ps(_mm512_add_ps(ld(m, gx + j), ld(m, gh + j)));
    const __m512 z = sigmoid_ps(_mm512_add_ps(ld(m, gx + H + j), ld(m, gh + sh + j)));
    const __m512 hn = ld(m, gh + 2 * sh + j);
    const __m512 n = tanh_ps(_mm512_fmadd_ps(r, hn, ld(m, gx + 2 * H + j)));
    st(m, ws + j, r);
    st(m, ws + H + j, z);
    st(m, ws + 2 * H + j, n);
    st(m, ws + 3 * H + j, hn);
    st(m, h + j, _mm512_fmadd_ps(z, _mm512_sub_ps(ld(m, h_prev + j), n), n));
  }
  return true;
}

FASTNN_AVX512 bool gru_backward_f32(int64_t H, int64_t w, const float* ws, const float* h_prev, const float* dh,
                                    float* dgx, float* dgh, float* dh_direct) {
  if (!use_avx512()) return false;
  for (int64_t j = 0; j < w; j += 16) {
    const __mmask16 m = lanes(w, j);
    const __m512 r = ld(m, ws + j), z = ld(m, ws + H + j), n = ld(m, ws + 2 * H + j), hn = ld(m, ws + 3 * H + j);
    const __m512 dhj = ld(m, dh + j);
    const __m512 dn = _mm512_mul_ps(_mm512_mul_ps(dhj, one_minus(z)), _mm512_fnmadd_ps(n, n, v(1.0f)));
    const __m512 dz = _mm512_mul_ps(_mm512_mul_ps(dhj, _mm512_sub_ps(ld(m, h_prev + j), n)),
                                    _mm512_mul_ps(z, one_minus(z)));
    const __m512 dr = _mm512_mul_ps(_mm512_mul_ps(dn, hn), _mm512_mul_ps(r, one_minus(r)));
    st(m, dgx + j, dr);
    st(m, dgx + H + j, dz);
    st(m, dgx + 2 * H + j, dn);
    st(m, dgh + j, dr);
    st(m, dgh + H + j, dz);
    st(m, dgh + 2 * H + j, _mm512_mul_ps(dn, r));
    st(m, dh_direct + j, _mm512_mul_ps(dhj, z));
  }
  return true;
}

}  // namespace fastnn::cpu::rnn::detail

#else

namespace fastnn::cpu::rnn::detail {
bool lstm_forward_f32(int64_t, int64_t, float*, float*, float*) { return false; }
bool lstm_backward_f32(int64_t, int64_t, const float*, const float*, const float*, float*, float*, float*) {
  return false;
}
bool gru_forward_f32(int64_t, int64_t, const float*, const float*, int64_t, const float*, float*, float*) {
  return false;
}
bool gru_backward_f32(int64_t, int64_t, const float*, const float*, const float*, float*, float*, float*) {
  return false;
}
}  // namespace fastnn::cpu::rnn::detail

#endif
