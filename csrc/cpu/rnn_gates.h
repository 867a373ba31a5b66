// Gate math of the recurrent cells for one batch row and a range of w hidden
// units, on rows the GEMM has just written (cache-hot). Pointers are already
// offset to the first unit; `H` is the distance between gates (torch's gate
// orders: LSTM i,f,g,o; GRU r,z,n). Shared by forward and backward kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "gemm/activation.h"

namespace fastnn::cpu::rnn {

namespace detail {
// AVX-512 float32 versions (rnn_gates_avx512.cpp); false when the CPU lacks AVX-512.
bool lstm_forward_f32(int64_t H, int64_t w, float* g, float* c_state, float* h);
bool lstm_backward_f32(int64_t H, int64_t w, const float* ws, const float* c_prev, const float* dh, float* dc,
                       float* tanh_c, float* dg);
bool gru_forward_f32(int64_t H, int64_t w, const float* gx, const float* gh, int64_t sh, const float* h_prev,
                     float* ws, float* h);
bool gru_backward_f32(int64_t H, int64_t w, const float* ws, const float* h_prev, const float* dh, float* dgx,
                      float* dgh, float* dh_direct);
}  // namespace detail

// LSTM forward. g: 4 gate pre-activations (in) -> activated i,f,g,o (out),
// and c (out) at g + 4H. c_state: c_prev (in) -> c (out). h: o * tanh(c).
template <typename T>
inline void lstm_forward_units(int64_t H, int64_t w, T* g, T* c_state, T* h) {
  if constexpr (std::is_same_v<T, float>) {
    if (detail::lstm_forward_f32(H, w, g, c_state, h)) return;
  }
  sigmoid_inplace(g, w);
  sigmoid_inplace(g + H, w);
  tanh_inplace(g + 2 * H, w);
  sigmoid_inplace(g + 3 * H, w);
  const T *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
  T* c = g + 4 * H;
  for (int64_t j = 0; j < w; ++j) c[j] = gf[j] * c_state[j] + gi[j] * gg[j];
  std::copy(c, c + w, c_state);
  std::copy(c, c + w, h);
  tanh_inplace(h, w);
  for (int64_t j = 0; j < w; ++j) h[j] *= go[j];
}

// LSTM backward. ws: saved i,f,g,o,c. dh: grad of h (in). dc: grad of c (in)
// -> grad of c_prev (out). tanh_c: scratch (out: tanh(c)). dg: gate grads (out).
template <typename T>
inline void lstm_backward_units(int64_t H, int64_t w, const T* ws, const T* c_prev, const T* dh, T* dc,
                                T* tanh_c, T* dg) {
  if constexpr (std::is_same_v<T, float>) {
    if (detail::lstm_backward_f32(H, w, ws, c_prev, dh, dc, tanh_c, dg)) return;
  }
  const T *gi = ws, *gf = ws + H, *gg = ws + 2 * H, *go = ws + 3 * H, *c = ws + 4 * H;
  std::copy(c, c + w, tanh_c);
  tanh_inplace(tanh_c, w);
  T *di = dg, *df = dg + H, *dgg = dg + 2 * H, *dout = dg + 3 * H;
  for (int64_t j = 0; j < w; ++j) {
    const T tc = tanh_c[j];
    const T dcj = dc[j] + dh[j] * go[j] * (T(1) - tc * tc);
    dout[j] = dh[j] * tc * go[j] * (T(1) - go[j]);
    di[j] = dcj * gg[j] * gi[j] * (T(1) - gi[j]);
    df[j] = dcj * c_prev[j] * gf[j] * (T(1) - gf[j]);
    dgg[j] = dcj * gi[j] * (T(1) - gg[j] * gg[j]);
    dc[j] = dcj * gf[j];
  }
}

// GRU forward. gx: input projection (+ b_ih, gate stride H); gh: hidden
// projection (+ b_hh, gate stride sh); h_prev. ws: out r, z, n, hn (stride H). h: out.
template <typename T>
inline void gru_forward_units(int64_t H, int64_t w, const T* gx, const T* gh, int64_t sh, const T* h_prev, T* ws,
                              T* h) {
  if constexpr (std::is_same_v<T, float>) {
    if (detail::gru_forward_f32(H, w, gx, gh, sh, h_prev, ws, h)) return;
  }
  T *r = ws, *z = ws + H, *n = ws + 2 * H, *hn = ws + 3 * H;
  for (int64_t j = 0; j < w; ++j) {
    r[j] = gx[j] + gh[j];
    z[j] = gx[H + j] + gh[sh + j];
  }
  sigmoid_inplace(r, w);
  sigmoid_inplace(z, w);
  for (int64_t j = 0; j < w; ++j) {
    hn[j] = gh[2 * sh + j];
    n[j] = gx[2 * H + j] + r[j] * hn[j];
  }
  tanh_inplace(n, w);
  for (int64_t j = 0; j < w; ++j) h[j] = n[j] + z[j] * (h_prev[j] - n[j]);
}

// GRU backward. dh: grad of h (in). dgx, dgh: grads of the input and hidden
// projections (out, gate stride H). dh_direct: dh * z, the part of grad h_prev
// that does not go through W_hh (out).
template <typename T>
inline void gru_backward_units(int64_t H, int64_t w, const T* ws, const T* h_prev, const T* dh, T* dgx, T* dgh,
                               T* dh_direct) {
  if constexpr (std::is_same_v<T, float>) {
    if (detail::gru_backward_f32(H, w, ws, h_prev, dh, dgx, dgh, dh_direct)) return;
  }
  const T *r = ws, *z = ws + H, *n = ws + 2 * H, *hn = ws + 3 * H;
  for (int64_t j = 0; j < w; ++j) {
    const T dn = dh[j] * (T(1) - z[j]) * (T(1) - n[j] * n[j]);
    const T dz = dh[j] * (h_prev[j] - n[j]) * z[j] * (T(1) - z[j]);
    const T dr = dn * hn[j] * r[j] * (T(1) - r[j]);
    dgx[j] = dr;
    dgx[H + j] = dz;
    dgx[2 * H + j] = dn;
    dgh[j] = dr;
    dgh[H + j] = dz;
    dgh[2 * H + j] = dn * r[j];
    dh_direct[j] = dh[j] * z[j];
  }
}

// Column sums of a [rows, n] matrix (row stride ld) into out[n], parallel over column blocks.
template <typename T>
void column_sums(const T* m, int64_t rows, int64_t n, int64_t ld, T* out);

}  // namespace fastnn::cpu::rnn
