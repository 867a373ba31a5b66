// The math of one recurrent cell step (fastnn::rnn_cell and its backward),
// in ONE parallel region per pass, instead of a fork/join per GEMM, gate pass
// and bias sum. Part p of the team (rnn_team.h) owns:
//   - a block of gate rows of the weights (RowSplit): the rows its products use,
//     the same rows in the forward and the backward;
//   - a slice of the hidden units (UnitSplit): the gate math needs all gates of
//     a unit, which lie in different row blocks.
// Forward: x W_ih[rows]^T + h W_hh[rows]^T (+ biases) for its rows, one flag
// wait, then the gate math of its units. At batch 24-64 with weights up to
// 2 MiB (split_batch) the two workers split the batch rows instead: every gate
// row and the gate math of half the batch each, with no exchange and no wait.
// Backward: gate gradients of its units, one wait, partial dx = dG[:, rows] @
// W_ih[rows] and dh likewise, its rows of the weight and bias gradients, a
// second wait, then each part sums the partials over its own columns. With two
// parts and every gradient wanted, the work after the wait is split by task
// instead: dx and dh on one worker, the weight and bias gradients on the other;
// where the forward split the batch, each worker takes the gate gradients, dx and
// dh of its half of the batch, one wait, then its gate rows of the weight and
// bias gradients.
// Measured (benchmarks/kernel_changes_2026-11-28.md): LSTMCell 8,128->128
// fwd+bwd about 20% faster than the per-GEMM fork/joins, larger cells unchanged.
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
