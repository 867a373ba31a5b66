// Gate math of the recurrent cells, one step, one batch row at a time, on
// rows that the GEMM has just written (cache-hot). Shared by the forward and
// backward sequence kernels. Gate orders follow torch: LSTM i,f,g,o; GRU r,z,n.
#pragma once

#include <algorithm>
#include <cstdint>

#include "gemm/activation.h"

namespace fastnn::cpu::rnn {

// LSTM forward. g: [4H] pre-activations (in), activated i,f,g,o (out), followed
// by c (out) at g[4H..5H). c_state: c_prev (in), c (out). h: o * tanh(c).
template <typename T>
inline void lstm_forward_row(int64_t H, T* g, T* c_state, T* h) {
  sigmoid_inplace(g, 2 * H);
  tanh_inplace(g + 2 * H, H);
  sigmoid_inplace(g + 3 * H, H);
  const T *gi = g, *gf = g + H, *gg = g + 2 * H, *go = g + 3 * H;
  T* c = g + 4 * H;
  for (int64_t j = 0; j < H; ++j) c[j] = gf[j] * c_state[j] + gi[j] * gg[j];
  std::copy(c, c + H, c_state);
  std::copy(c, c + H, h);
  tanh_inplace(h, H);
  for (int64_t j = 0; j < H; ++j) h[j] *= go[j];
}

// LSTM backward. ws: [5H] saved i,f,g,o,c. dh: grad of h (in, length H),
// dc: grad of c (in) -> grad of c_prev (out). tanh_c: scratch [H] (out: tanh(c)).
// dg: [4H] gate pre-activation grads (out).
template <typename T>
inline void lstm_backward_row(int64_t H, const T* ws, const T* c_prev, const T* dh, T* dc, T* tanh_c,
                              T* dg) {
  const T *gi = ws, *gf = ws + H, *gg = ws + 2 * H, *go = ws + 3 * H, *c = ws + 4 * H;
  std::copy(c, c + H, tanh_c);
  tanh_inplace(tanh_c, H);
  T *di = dg, *df = dg + H, *dgg = dg + 2 * H, *dout = dg + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    const T tc = tanh_c[j];
    const T dcj = dc[j] + dh[j] * go[j] * (T(1) - tc * tc);
    dout[j] = dh[j] * tc * go[j] * (T(1) - go[j]);
    di[j] = dcj * gg[j] * gi[j] * (T(1) - gi[j]);
    df[j] = dcj * c_prev[j] * gf[j] * (T(1) - gf[j]);
    dgg[j] = dcj * gi[j] * (T(1) - gg[j] * gg[j]);
    dc[j] = dcj * gf[j];
  }
}

// GRU forward. gx: [3H] input projection (+ b_ih), gh: [3H] hidden projection
// (+ b_hh), h_prev: [H]. ws: [4H] out r, z, n, hn. h: out.
template <typename T>
inline void gru_forward_row(int64_t H, const T* gx, const T* gh, const T* h_prev, T* ws, T* h) {
  for (int64_t j = 0; j < 2 * H; ++j) ws[j] = gx[j] + gh[j];
  sigmoid_inplace(ws, 2 * H);
  const T *r = ws, *z = ws + H;
  T *n = ws + 2 * H, *hn = ws + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
    hn[j] = gh[2 * H + j];
    n[j] = gx[2 * H + j] + r[j] * hn[j];
  }
  tanh_inplace(n, H);
  for (int64_t j = 0; j < H; ++j) h[j] = n[j] + z[j] * (h_prev[j] - n[j]);
}

// GRU backward. dh: grad of h (in). dgx, dgh: [3H] grads of the input and
// hidden projections (out). dh_direct: dh * z, the part of grad h_prev that
// does not go through W_hh (out).
template <typename T>
inline void gru_backward_row(int64_t H, const T* ws, const T* h_prev, const T* dh, T* dgx, T* dgh,
                             T* dh_direct) {
  const T *r = ws, *z = ws + H, *n = ws + 2 * H, *hn = ws + 3 * H;
  for (int64_t j = 0; j < H; ++j) {
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
