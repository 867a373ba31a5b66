// A team of threads that runs a whole sequence inside ONE parallel region:
// each worker owns a slice of the hidden units (its gate columns of W_hh,
// packed once into its own cache) and the workers exchange progress once per
// time step (StepFlags), instead of a fork/join per GEMM and per gate pass.
#pragma once

#include <ATen/Parallel.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace fastnn::cpu::rnn {

// Spins until done() holds: briefly with pause (the other worker is usually
// microseconds away), then yielding so an oversubscribed machine still makes progress.
template <typename Done>
inline void spin_until(const Done& done) {
  for (int spins = 0; !done(); ++spins) {
    if (spins < 1000) {
#if defined(__x86_64__)
      _mm_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

// Progress of each part of a team: a worker publishes how many steps its parts
// have finished, and waits for the OTHER parts only right before it reads
// their results. Unlike a barrier, the wait can sit in the middle of a step
// (after the work that needs only the worker's own data), so a partner that
// is a little late costs nothing.
class StepFlags {
 public:
  explicit StepFlags(int64_t parts) : done_(static_cast<size_t>(parts)) {}
  // parts [pb, pe) have finished `steps` steps
  void publish(int64_t pb, int64_t pe, int64_t steps) {
    for (int64_t p = pb; p < pe; ++p) done_[p].steps.store(steps, std::memory_order_release);
  }
  // waits until every part outside [pb, pe) has finished `steps` steps
  void wait_others(int64_t pb, int64_t pe, int64_t steps) const {
    for (int64_t q = 0; q < static_cast<int64_t>(done_.size()); ++q) {
      if (q >= pb && q < pe) continue;
      spin_until([&] { return done_[q].steps.load(std::memory_order_acquire) >= steps; });
    }
  }

 private:
  struct alignas(64) Slot {  // one cache line each: no false sharing between workers
    std::atomic<int64_t> steps{0};
  };
  std::vector<Slot> done_;
};

// Asks for rows x len values at p (row stride ld) to be brought into this
// core's cache at once: data another core has just written would otherwise
// arrive one cache line per miss as a GEMM walks along it.
template <typename T>
inline void prefetch_rows(const T* p, int64_t rows, int64_t len, int64_t ld) {
#if defined(__x86_64__)
  const int64_t per_line = 64 / static_cast<int64_t>(sizeof(T));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < len; k += per_line) _mm_prefetch(reinterpret_cast<const char*>(p + r * ld + k), _MM_HINT_T0);
#endif
}

// Split of H hidden units into parts of w units (multiples of 16 where possible).
struct UnitSplit {
  int64_t parts = 1, chunk = 0, H = 0;
  UnitSplit(int64_t hidden, int64_t work_per_step) : H(hidden) {
    int64_t p = at::in_parallel_region() ? 1 : at::get_num_threads();
    p = std::min<int64_t>(p, std::max<int64_t>(1, hidden / 32));
    if (work_per_step < 16384) p = 1;  // a tiny step is cheaper on one thread than a cross-core wait
    chunk = (hidden + p - 1) / p;
    if (p > 1) chunk = std::min(hidden, (chunk + 15) / 16 * 16);
    parts = (hidden + chunk - 1) / chunk;
  }
  int64_t begin(int64_t part) const { return part * chunk; }
  int64_t width(int64_t part) const { return std::min(H, (part + 1) * chunk) - part * chunk; }
};

// Runs produce() and consume() side by side on two threads, where consume() waits on `progress`
// for produce()'s results (a recurrence beside the GEMM that feeds it or follows it). produce() is
// part 0: a region run by one thread calls it first, so consume() never waits on itself. If
// produce() throws, progress is set to `total` first, releasing consume(), then the error is
// reported.
template <typename Produce, typename Consume>
void run_beside(std::atomic<int64_t>& progress, int64_t total, const Produce& produce, const Consume& consume) {
  at::parallel_for(0, 2, 1, [&](int64_t b, int64_t e) {
    for (int64_t part = b; part < e; ++part) {
      if (part == 1) {
        consume();
        continue;
      }
      try {
        produce();
      } catch (...) {
        progress.store(total, std::memory_order_release);
        throw;
      }
      progress.store(total, std::memory_order_release);
    }
  });
}

// Runs fn(part_begin, part_end, flags) on parts [0, parts) in one parallel
// region, all workers at once (UnitSplit makes no more parts than threads);
// fn must not throw.
template <typename F>
void run_team(int64_t parts, const F& fn) {
  StepFlags flags(parts);
  if (parts == 1) return fn(int64_t(0), int64_t(1), flags);
  at::parallel_for(0, parts, 1, [&](int64_t b, int64_t e) { fn(b, e, flags); });
}

}  // namespace fastnn::cpu::rnn
