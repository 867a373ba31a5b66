// The path choice of rnn_path_choice.h: a small table of shapes, each timed on its first calls.
#include "rnn_path_choice.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <tuple>

namespace fastnn::cpu::rnn {
namespace {

PathMode parse_mode(const std::string& s, const char* what) {
  if (s == "auto") return PathMode::Auto;
  if (s == "team") return PathMode::Team;
  if (s == "beside") return PathMode::Beside;
  TORCH_CHECK(false, what, " must be one of 'auto', 'team', 'beside', got '", s, "'");
}

std::atomic<int>& mode_slot() {
  static std::atomic<int> slot{[] {
    const char* env = std::getenv("FASTNN_RNN_PATH");
    return static_cast<int>(env ? parse_mode(env, "FASTNN_RNN_PATH") : PathMode::Auto);
  }()};
  return slot;
}

// A shape: steps in powers of two (a loop over sequences of varying length shares its choice).
struct Shape {
  int64_t pass, mode, elem_bytes, B, I, H, log2_T;
  bool packed;
  auto tie() const { return std::tie(pass, mode, elem_bytes, B, I, H, log2_T, packed); }
  bool operator==(const Shape& o) const { return tie() == o.tie(); }
};

// A shape's trials: call 0 warms up (untimed, the fixed rule's path: first-call allocations and
// cold caches), then pairs of calls alternate team and beside, and the second call of each pair
// is timed (the first moves the weights to where that path keeps them: both L2s for the team, one
// for beside); after kTrials timed calls the faster best time wins, the team on a tie within 1%.
// Ten: with six single alternating calls, LSTM 100,4,256->256 forward (paths 2-4% apart) went
// either way in the same machine state; with ten in pairs, 3 of 4 runs chose alike (where the
// paths are that close, either choice costs little).
constexpr int64_t kTrials = 10;
struct Entry {
  Shape shape;
  int64_t calls = 0, recorded = 0;
  double best[2] = {0, 0};  // team, beside (0: none yet)
  bool decided = false, beside = false;
};

// Bounded: shapes beyond the table keep their fixed rule without trials.
constexpr size_t kMaxShapes = 64;
std::mutex table_mutex;
std::vector<Entry>& table() {
  static std::vector<Entry> entries;
  return entries;
}

int64_t floor_log2(int64_t v) {
  int64_t r = 0;
  while (v > 1) {
    v >>= 1;
    ++r;
  }
  return r;
}

}  // namespace

void set_path_mode(const std::string& mode) {
  mode_slot().store(static_cast<int>(parse_mode(mode, "rnn path mode")));
}

std::string path_mode() {
  switch (static_cast<PathMode>(mode_slot().load())) {
    case PathMode::Team: return "team";
    case PathMode::Beside: return "beside";
    default: return "auto";
  }
}

bool two_threads_small_w_hh(const RnnDims& d, int64_t elem_bytes) {
  return d.gates * d.H * d.H * elem_bytes <= (int64_t(1) << 20) && !at::in_parallel_region() &&
         at::get_num_threads() == 2;
}

PathPick pick_path(Pass pass, const RnnDims& d, int64_t elem_bytes, bool candidate, bool fixed) {
  PathPick pick;
  pick.beside = fixed;
  if (!candidate) return pick;
  const auto mode = static_cast<PathMode>(mode_slot().load());
  if (mode != PathMode::Auto) {
    pick.beside = mode == PathMode::Beside;
    return pick;
  }
  if (at::globalContext().deterministicAlgorithms()) return pick;
  const Shape shape{static_cast<int64_t>(pass), static_cast<int64_t>(d.mode), elem_bytes, d.B, d.I, d.H,
                    floor_log2(d.T), d.packed};
  std::lock_guard<std::mutex> lock(table_mutex);
  auto& entries = table();
  size_t i = 0;
  while (i < entries.size() && !(entries[i].shape == shape)) ++i;
  if (i == entries.size()) {
    if (entries.size() >= kMaxShapes) return pick;
    entries.push_back(Entry{shape});
  }
  Entry& e = entries[i];
  if (e.decided) {
    pick.beside = e.beside;
    return pick;
  }
  const int64_t call = e.calls++;
  if (call == 0) return pick;               // warm-up
  pick.beside = (call - 1) / 2 % 2 == 1;    // 1, 2: team; 3, 4: beside; ...
  if ((call - 1) % 2 == 1) pick.trial = static_cast<int64_t>(i);
  return pick;
}

void record_trial(const PathPick& pick, double seconds) {
  if (pick.trial < 0) return;
  std::lock_guard<std::mutex> lock(table_mutex);
  Entry& e = table()[static_cast<size_t>(pick.trial)];
  double& best = e.best[pick.beside ? 1 : 0];
  if (best == 0 || seconds < best) best = seconds;
  if (++e.recorded >= kTrials && e.best[0] > 0 && e.best[1] > 0) {
    e.decided = true;
    e.beside = e.best[1] < 0.99 * e.best[0];
  }
}

std::vector<std::string> path_choices() {
  static const char* passes[] = {"forward", "backward"};
  static const char* modes[] = {"lstm", "gru", "rnn_tanh", "rnn_relu"};
  std::lock_guard<std::mutex> lock(table_mutex);
  std::vector<std::string> lines;
  for (const Entry& e : table()) {
    const Shape& s = e.shape;
    char buf[256];
    std::snprintf(buf, sizeof(buf), "%s %s%s %s B=%lld I=%lld H=%lld T>=%lld: team %.3f ms, beside %.3f ms -> %s",
                  passes[s.pass], modes[s.mode], s.packed ? " packed" : "", s.elem_bytes == 4 ? "float32" : "float64",
                  static_cast<long long>(s.B), static_cast<long long>(s.I), static_cast<long long>(s.H),
                  static_cast<long long>(int64_t(1) << s.log2_T), e.best[0] * 1e3, e.best[1] * 1e3,
                  e.decided ? (e.beside ? "beside" : "team") : "undecided");
    lines.emplace_back(buf);
  }
  return lines;
}

}  // namespace fastnn::cpu::rnn
