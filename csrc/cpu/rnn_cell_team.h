// The math of one recurrent cell step (fastnn::rnn_cell and its backward),
// run by a team of workers that each own a slice of the hidden units
// (rnn_team.h's UnitSplit) in the forward AND the backward:
//
// - forward: a worker computes the gate rows of its units (x W_ih[own]^T +
//   h W_hh[own]^T + biases), then their gate math. No barrier at all.
// - backward: a worker computes the gate gradients of its units, then the
//   weight/bias gradient rows of its units and its partial dx = dG[:, own] @
//   W_ih[own], dh likewise; after one wait, each sums the partials over its
//   own columns.
//
// Every weight row is thus read by the same core in both passes: a cell runs
// again and again with the same weights, and a worker's rows (1 MiB for a
// 256->256 LSTM) stay in its own L2 from call to call instead of crossing
// between cores. One parallel region per pass replaces a fork/join per GEMM,
// gate pass and bias sum.
#pragma once

#include <ATen/ATen.h>

#include "../rnn_cell.h"

namespace fastnn::cpu::rnn {

// Tensors of one step; undefined tensors are absent (zero state, no bias).
struct CellTensors {
  at::Tensor x, h, c, w_ih, w_hh, b_ih, b_hh;  // x, h, c contiguous
};

// hy [B, H]; cy [B, H] starting as cx (LSTM, else unused); ws the workspace of rnn_cell.h.
template <typename T>
void cell_forward(const RnnCellDims& d, const CellTensors& in, T* hy, T* cy, T* ws);

// Gradients to fill (undefined: not wanted); w_hh / b_hh come with w_ih / b_ih.
struct CellGradTensors {
  at::Tensor input, hx, cx, w_ih, w_hh, b_ih, b_hh;
};

// grad_hy / grad_cy: contiguous, undefined for a zero gradient.
template <typename T>
void cell_backward(const RnnCellDims& d, const CellTensors& in, const at::Tensor& hy, const at::Tensor& ws,
                   const at::Tensor& grad_hy, const at::Tensor& grad_cy, CellGradTensors& g);

}  // namespace fastnn::cpu::rnn
