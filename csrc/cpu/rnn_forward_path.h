// Which way a forward sequence runs where neither always wins: the recurrence split over a team of
// two workers after the input projection (rnn_fused.h), or the recurrence on one worker with the
// other thread projecting the steps ahead of it (rnn_forward.cpp, as recurrence_leaves_a_thread).
//
// Measured in one process, 2 threads, LSTM forward 100 steps, I = H (one worker beside against
// the team): H=128 batch 4 +15%, batch 16 +15%, batch 1 -1%; H=192 batch 4 +13%, batch 1 -8%;
// H=256 batch 4 +4%, batch 8 +4%, but batch 3 -13%, batch 6 -9%, batch 12 -6%, and I = H/2 or 2H
// -14%; GRU H=256 batch 4 +10%, batch 1 -15%; RNN H=256 batch 4 +29%. The beside path wins where
// one thread's projection and one worker's recurrence take about as long, which depends on how
// the batch fills the step kernels' 4-row passes: no simple rule fits. So the first calls of a
// shape time both paths (as cudnn.benchmark does) and later calls take the faster.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../rnn.h"

namespace fastnn::cpu::rnn {

// How the choice is made: Auto times both paths on a shape's first calls; Team and Beside force
// one (FASTNN_RNN_FORWARD=auto|team|beside, or set_forward_path_mode). torch's deterministic
// mode (torch.use_deterministic_algorithms) always takes the team: the two paths sum the hidden
// products in different orders, so their outputs differ in the last bits.
enum class ForwardPathMode { Auto, Team, Beside };
void set_forward_path_mode(const std::string& mode);  // "auto", "team" or "beside"
std::string forward_path_mode();

// The path of one call. `trial` >= 0 when this call is timed for the choice (record it).
struct ForwardPath {
  bool beside = false;
  int64_t trial = -1;
};

// For a sequence whose recurrence would split over two workers (recurrence_split_work > 0) with
// W_hh of at most 1 MiB, input_size <= 2 hidden, 16+ steps and exactly two threads; anything else
// keeps the team (beyond 1 MiB the single worker's W_hh leaves its L2: H=384 -28%, H=512 -39%).
ForwardPath pick_forward_path(const RnnDims& d, int64_t elem_bytes);

// The shapes timed so far, one line each ("lstm B=4 I=256 H=256 T>=64: team 1.90 ms, beside 1.85 ms
// -> beside"), for a user who wants to know what ran.
std::vector<std::string> forward_path_choices();

// The time of a trial call (pick_forward_path's trial), in seconds.
void record_forward_trial(const ForwardPath& path, double seconds);

}  // namespace fastnn::cpu::rnn
