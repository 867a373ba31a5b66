// Which way a sequence's recurrence runs where neither always wins, forward and backward:
// - team: the recurrence split over two workers (rnn_fused.h; from batch 8 the batch's two halves,
//   recurrence_splits_batch), with the GEMM that feeds or follows it (forward: the input projection
//   before; backward: the input gradient after) on both threads;
// - beside: the recurrence on one worker, that GEMM on the other thread at the same time (forward:
//   the steps ahead of the recurrence, rnn_forward.cpp; backward: the steps behind it,
//   pipelined_input_grad in rnn_backward.cpp).
//
// Measured in one process, 2 threads, 100 steps, I = H, beside against the team (its split of hidden
// units: the figures at batch 8+ predate recurrence_splits_batch, which the trials now time instead):
// - forward, LSTM: H=128 batch 4 +15%, batch 16 +15%, batch 1 -1%; H=192 batch 4 +13%, batch 1
//   -8%; H=256 batch 4 +4%, batch 8 +4%, but batch 3 -13%, batch 6 -9%, batch 12 -6%, and
//   I = H/2 or 2H -14%; GRU H=256 batch 4 +10%, batch 1 -15%; RNN H=256 batch 4 +29%;
// - backward (op level), LSTM: H=128 batch 1-64 +6% to +16%; H=192 batch 2 +2%, batch 16 +8%;
//   H=256 batch 16 +3%, batch 32 -1%, batch 1-2 -6% to -11%, I = 2H -8%; GRU H=128 batch 16 +20%.
// Beside wins where one thread's GEMM and one worker's recurrence take about as long, which
// depends on how the batch fills the step kernels' 4-row passes: no simple rule fits. So the
// first calls of a shape time both paths (as cudnn.benchmark does) and later calls take the
// faster.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../rnn.h"

namespace fastnn::cpu::rnn {

// How the choice is made: Auto times both paths on a shape's first calls; Team and Beside force
// one (FASTNN_RNN_PATH=auto|team|beside, or set_path_mode). Under torch's deterministic mode
// (torch.use_deterministic_algorithms) each pass keeps its fixed rule (forward: the team;
// backward: beside for batch 4-12 and 50+ steps): the two paths sum the hidden products in
// different orders, so their results differ in the last bits.
enum class PathMode { Auto, Team, Beside };
void set_path_mode(const std::string& mode);  // "auto", "team" or "beside"
std::string path_mode();

enum class Pass { Forward, Backward };

// The path of one call. `trial` >= 0 when this call is timed for the choice (record its time).
struct PathPick {
  bool beside = false;
  int64_t trial = -1;
};

// candidate: both paths can run this call (the pass's own conditions, rnn_forward.cpp and
// rnn_backward.cpp); otherwise, and under deterministic mode, `fixed` (the pass's fixed rule) is
// the answer.
PathPick pick_path(Pass pass, const RnnDims& d, int64_t elem_bytes, bool candidate, bool fixed);

// The time of a trial call, in seconds (nothing for a call that is not a trial).
void record_trial(const PathPick& pick, double seconds);

// The shapes timed so far, one line each ("forward lstm float32 B=4 I=256 H=256 T>=64: team 1.61
// ms, beside 1.39 ms -> beside"), for a user who wants to know what ran.
std::vector<std::string> path_choices();

// The common conditions of both passes' candidates: exactly two threads (the measured case) and
// a W_hh of at most 1 MiB (beyond, one worker's W_hh leaves its L2: forward H=384 -28%, H=512 -39%).
bool two_threads_small_w_hh(const RnnDims& d, int64_t elem_bytes);

}  // namespace fastnn::cpu::rnn
