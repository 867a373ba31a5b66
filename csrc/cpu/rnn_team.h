// A team of threads that runs a whole sequence inside ONE parallel region:
// each worker owns a slice of the hidden units (its gate columns of W_hh,
// packed once into its own cache) and the workers meet at a spin barrier once
// per time step, instead of a fork/join per GEMM and per gate pass.
#pragma once

#include <ATen/Parallel.h>

#include <atomic>
#include <cstdint>
#include <thread>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace fastnn::cpu::rnn {

// Barrier counted in "parts": a worker that runs several parts (fewer
// threads than parts) arrives with their number as weight, so it works for
// any chunking at::parallel_for chooses, including a single worker.
class SpinBarrier {
 public:
  explicit SpinBarrier(int64_t parts) : parts_(parts) {}
  void wait(int64_t weight) {
    if (weight >= parts_) return;
    const int64_t gen = gen_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(weight, std::memory_order_acq_rel) + weight == parts_) {
      arrived_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    // spin briefly (the other worker is usually microseconds away), then yield
    // so an oversubscribed machine still makes progress
    for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      if (spins < 1000) {
#if defined(__x86_64__)
        _mm_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  const int64_t parts_;
  std::atomic<int64_t> arrived_{0};
  std::atomic<int64_t> gen_{0};
};

// Split of H hidden units into parts of w units (multiples of 16 where possible).
struct UnitSplit {
  int64_t parts = 1, chunk = 0, H = 0;
  UnitSplit(int64_t hidden, int64_t work_per_step) : H(hidden) {
    int64_t p = at::in_parallel_region() ? 1 : at::get_num_threads();
    p = std::min<int64_t>(p, std::max<int64_t>(1, hidden / 32));
    if (work_per_step < 16384) p = 1;  // a tiny step is cheaper on one thread than a barrier
    chunk = (hidden + p - 1) / p;
    if (p > 1) chunk = std::min(hidden, (chunk + 15) / 16 * 16);
    parts = (hidden + chunk - 1) / chunk;
  }
  int64_t begin(int64_t part) const { return part * chunk; }
  int64_t width(int64_t part) const { return std::min(H, (part + 1) * chunk) - part * chunk; }
};

// Runs fn(part_begin, part_end, barrier) on parts [0, parts) in one parallel
// region; fn must call barrier.wait(part_end - part_begin) the same number
// of times in every worker and must not throw.
template <typename F>
void run_team(int64_t parts, const F& fn) {
  SpinBarrier barrier(parts);
  if (parts == 1) return fn(int64_t(0), int64_t(1), barrier);
  at::parallel_for(0, parts, 1, [&](int64_t b, int64_t e) { fn(b, e, barrier); });
}

}  // namespace fastnn::cpu::rnn
