// The recurrences of rnn_layer (no projection) run by a team of workers, each
// owning a slice of the hidden units for the whole sequence (rnn_team.h):
// per step, each worker multiplies the full h_prev by ITS gate rows of W_hh
// (packed once, kept in its cache) and runs the gate math for its units.
// Backward is the mirror image: gate grads for own units, then own columns of
// dh_prev = dgates @ W_hh.
//
// The weight slices are cut by K into pieces, one per part of the hidden
// units (SlicePieces). A worker multiplies the pieces of its OWN units first,
// and waits for the other workers' step only before their pieces: the wait
// hides behind half the step's GEMM instead of idling at a barrier.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "../rnn.h"
#include "gemm/gemm.h"
#include "gemm/microkernel.h"
#include "rnn_small_gemm.h"
#include "rnn_steps.h"
#include "rnn_team.h"

namespace fastnn::cpu::rnn {

// One worker's slice of a weight used once per step: C (+)= A @ Bt^T (+ bias).
template <typename T>
struct SliceGemm {
  RowSource<T> bt;
  int64_t N = 0, K = 0;
  std::optional<PackedB<T>> packed;

  // rows: the batch. Up to 8 rows the step kernels (32-wide panels) run;
  // beyond, the GEMM's own kernel and panel width.
  void prepare(bool pack, int64_t rows) {
    if (pack) packed = pack_b(bt, N, K, rows <= 8 ? narrow_microkernel<T>().nr : 0);
  }
  // Packs A (M rows, this slice's K) for operator()'s a_packed, into buf; returns
  // nullptr where the product will not use it (no packed weight, or the
  // small-batch step kernel, which reads A in place).
  const T* pack_a(int64_t M, const T* a, int64_t lda, std::vector<T>& buf) const {
    if (!packed || M <= 8 || K > packed->kc) return nullptr;
    buf.resize(static_cast<size_t>(a_panel_floats<T>(M, K)));
    pack_a_panels(RowSource<T>::view(a, lda, 1), M, K, *packed, buf.data());
    return buf.data();
  }
  // a_packed: A packed by pack_a (optional, see step_gemm).
  void operator()(int64_t M, const T* a, int64_t lda, T* c, int64_t ldc, const T* bias, bool acc,
                  bool backwards = false, const T* a_packed = nullptr) const {
    if (M <= 0) return;
    if (packed) return step_gemm(M, a, lda, *packed, c, ldc, bias, acc, backwards, a_packed);
    Epilogue<T> ep;
    ep.bias_n = bias;
    ep.accumulate = acc;
    gemm(M, N, K, RowSource<T>::view(a, lda, 1), bt, {c, ldc, 1}, ep, /*parallel=*/false);
  }
};

// A worker's weight slices, cut by K into one piece per part of the hidden
// units: pieces(p, g, q) is part p's slice of gate block g restricted to the
// K range of part q. Cutting fixes the order of the walk (own pieces first),
// which undoes most of the serpentine's reuse (see step_gemm) when a slice is
// as large as L2, so slices over 1 MiB (LSTM H = 512: 2 MiB per worker) stay
// whole: one piece, q = 0, after the wait.
template <typename T>
struct SlicePieces {
  int64_t parts, gates, kparts;
  std::vector<int64_t> k_begin, k_width;  // K range of piece q
  std::vector<SliceGemm<T>> all;

  SlicePieces(const UnitSplit& split, int64_t gates_, int64_t slice_bytes)
      : parts(split.parts), gates(gates_), kparts(slice_bytes <= (int64_t(1) << 20) ? split.parts : 1) {
    for (int64_t q = 0; q < kparts; ++q) {
      k_begin.push_back(kparts == 1 ? 0 : split.begin(q));
      k_width.push_back(kparts == 1 ? split.H : split.width(q));
    }
    all.resize(parts * gates * kparts);
  }
  SliceGemm<T>& operator()(int64_t p, int64_t g, int64_t q) { return all[(p * gates + g) * kparts + q]; }
  const SliceGemm<T>& operator()(int64_t p, int64_t g, int64_t q) const { return all[(p * gates + g) * kparts + q]; }
  void prepare(int64_t p, bool pack, int64_t rows) {
    for (int64_t i = p * gates * kparts; i < (p + 1) * gates * kparts; ++i) all[i].prepare(pack, rows);
  }

  // The pieces part p multiplies, in order: those over units of the worker's
  // own parts [pb, pe) first (p's own first of all), which need no wait; then
  // the others'.
  struct Order {
    std::vector<int64_t> own, others;
    int64_t first() const { return own.empty() ? others.front() : own.front(); }
  };
  Order order(int64_t p, int64_t pb, int64_t pe) const {
    Order o;
    if (kparts == 1) {
      o.others.push_back(0);
      return o;
    }
    o.own.push_back(p);
    for (int64_t q = 0; q < kparts; ++q)
      if (q != p) (q >= pb && q < pe ? o.own : o.others).push_back(q);
    return o;
  }
};

// Multiply-adds per step for the team's split (UnitSplit), or 0 (one worker) for a W_hh of fewer
// than 48K elements (LSTM H <= 96, GRU H < 128, RNN H < 222): the workers' exchange every step
// then costs more than the second thread saves. Measured over 100 steps, 2 threads, one worker
// against two (forward / backward without dx): LSTM H=64 batch 1 +30% / +54%, batch 4 +26% /
// +48%, batch 16 +6% / +15%, batch 32 -7% / +8%; LSTM H=96 batch 1 +31% / +25%; GRU H=64 batch 4
// +24% / +36%; RNN H=128 batch 4 +7% / +5%. Two workers stay ahead from LSTM H=128 (forward 8-10%
// faster at batch 1-4), GRU H=128 (forward 17%) and RNN H=256 (12-21%).
inline int64_t recurrence_split_work(const RnnDims& d) {
  if (d.gates * d.H * d.H < 48 * 1024) return 0;
  return d.B * d.gates * d.H * d.H;
}

// With two threads and a recurrence on one worker (above), the other thread is free while it
// runs: it computes the input projection of the steps ahead (rnn_forward.cpp) and, backwards,
// the input gradient of the steps behind (rnn_backward.cpp). Only while input_size <= 2 hidden,
// so that one thread's GEMM keeps pace with the recurrence (LSTM 100,8,512->64 ran 17% slower
// forward with it).
inline bool recurrence_leaves_a_thread(const RnnDims& d) {
  return recurrence_split_work(d) == 0 && d.I <= 2 * d.H && !at::in_parallel_region() &&
         at::get_num_threads() == 2;
}

// Whether a recurrence that would run on the team splits the batch over the two threads instead:
// each runs the whole recurrence of half the batch on its own (reading all of W_hh), with no
// exchange or wait per step. From batch 8 (4 rows a worker), unpacked sequences, two threads.
// Measured in one process against the team, 2 threads (AMD EPYC Zen 4 VM): forward LSTM
// 50,32,256->256 -5%, GRU 50,32 -25%, LSTM 100,16,128->256 -8%, 100,8 -8% to -9%, 50,64 -9%,
// H=512 batch 8-32 -1% to +0.5%; fwd+bwd LSTM 50,32 -5%, GRU 50,32 -4%, LSTM 100,16,128->256
// -22%, 100,8 -8%, 50,64 -15%. At batch 4 the forward ran 17% slower (2 rows a worker). It also
// takes a small W_hh whose recurrence would run on one worker without the beside GEMM (input_size
// > 2 hidden): two threads against one there, not measured.
inline bool recurrence_splits_batch(const RnnDims& d) {
  return !d.packed && d.B >= 8 && !at::in_parallel_region() && at::get_num_threads() == 2;
}

// Runs fn(half, b0, i) on two threads, for the batch rows [b0, b0 + half.B) of each half i of an
// unpacked sequence: `half` is that part of the batch as a sequence of its own, with the same
// row numbering (row t * B + b).
template <typename F>
void for_batch_halves(const RnnDims& d, const F& fn) {
  const int64_t first = (d.B + 1) / 2;
  at::parallel_for(0, 2, 1, [&](int64_t pb, int64_t pe) {
    for (int64_t i = pb; i < pe; ++i) {
      const int64_t b0 = i * first, nb = std::min(d.B, b0 + first) - b0;
      RnnDims half = d;
      half.B = nb;
      for (int64_t t = 0; t < d.T; ++t) {
        half.batch_sizes[t] = nb;
        half.offsets[t] = d.offsets[t] + b0;
      }
      fn(half, b0, i);
    }
  });
}

// The rows [first, second) that hold the steps [s0, s1) of the processing order (`reverse` as in
// Steps): forwards in time a prefix of the rows grows, backwards a suffix.
inline std::pair<int64_t, int64_t> rows_of_steps(const RnnDims& d, bool reverse, int64_t s0, int64_t s1) {
  const Steps steps{d, reverse};
  const int64_t lo = std::min(steps.time(s0), steps.time(s1 - 1)), hi = std::max(steps.time(s0), steps.time(s1 - 1));
  return {d.offsets[lo], hi + 1 < d.T ? d.offsets[hi + 1] : d.rows};
}

// Calls fn(r0, r1, steps) for consecutive runs of steps in processing order: rows [r0, r1) hold
// the run's steps, `steps` counts the steps done with it. The first run covers 8+ rows (so that its
// consumer starts early), the others 32+ (a GEMM's worth).
template <typename F>
void for_step_chunks(const RnnDims& d, bool reverse, const F& fn) {
  const Steps steps{d, reverse};
  int64_t first = 0, rows = 0, min_rows = 8;
  for (int64_t s = 0; s < d.T; ++s) {
    rows += d.batch_sizes[steps.time(s)];
    if (rows < min_rows && s + 1 < d.T) continue;
    const auto [r0, r1] = rows_of_steps(d, reverse, first, s + 1);
    fn(r0, r1, s + 1);
    first = s + 1;
    rows = 0;
    min_rows = 32;
  }
}

// Whether the workers pack their W_hh slices (once per call) for the step kernels, or the
// steps read W_hh in place through the GEMM's small-M kernels (float32 on AVX-512: dot,
// quad and broadcast tiles forward, in-place B strips backward). Packing reads the cold weight
// from L3 and writes it again (about 50 us per MiB here); the packed step kernels win it back
// only over enough rows. Measured in one process, 2 threads, LSTM and GRU, H 64-512
// (benchmarks/kernel_changes_2026-11-28.md, "Eighth session"): up to 8 steps of at most 16 rows
// in all read in place ran -1% to +96% faster forward (all but one of 56 shapes faster); 16-24
// single-row steps were already mixed (-11% to +39%), and 100 steps of 4 rows 12-16% slower. This
// rule against packing always: forward 4-64% and forward+backward 5-23% faster at 8x1, 8x2, 4x4
// and 2x8 steps x batch.
template <typename T>
bool pack_recurrent_weight(const RnnDims& d) {
  const bool small_m_kernels = std::is_same_v<T, float> && use_avx512();
  return !(small_m_kernels && d.T <= 8 && d.rows <= 16);
}

// Forward recurrence. Before the call the input projections are in place:
// LSTM in ws's gate columns (ld 5H, both biases folded), RNN in out (ld H,
// both biases), GRU in xproj (ld 3H, b_ih; b_hh comes in here). hy starts as
// hx; cy starts as cx (LSTM).
// projected (optional): the number of steps, in processing order, whose input projections are in
// place; step s waits for it to pass s (another thread projects them meanwhile, rnn_forward.cpp).
template <typename T>
void fused_forward(const RnnDims& d, bool reverse, const at::Tensor& w_hh, const T* b_hh, const T* xproj, T* out,
                   T* ws, T* hy, T* cy, const std::atomic<int64_t>* projected = nullptr);

// Backward recurrence. dh_state starts as grad_hy and ends as grad_hx;
// dc_state likewise (LSTM). Writes the gate gradients of every row into dgx
// (and dgh for GRU, whose hidden-side n gradient differs).
// db_ih / db_hh (optional, [gates * H]): set to the column sums of dgx / dgh, the bias
// gradients, summed while each step's rows are still in the worker's L1 (a pass over all
// of dgx afterwards reads it back from L3: measured 90-100 us at LSTM 100,4,256->256).
// progress (optional): set to the number of steps whose gate gradients are written, after each
// step, for a thread that consumes them meanwhile (see rnn_backward.cpp).
template <typename T>
void fused_backward(const RnnDims& d, bool reverse, const at::Tensor& w_hh, const T* out, const T* ws,
                    const T* grad_out, const T* h_prev_all, const T* cx, T* dh_state, T* dc_state, T* dgx,
                    T* dgh, T* db_ih = nullptr, T* db_hh = nullptr, std::atomic<int64_t>* progress = nullptr);

}  // namespace fastnn::cpu::rnn
