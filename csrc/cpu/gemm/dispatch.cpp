// Run-time choice of the micro-kernel for this CPU.
#include <cstdlib>
#include <cstring>

#include "gemm.h"
#include "microkernel.h"

namespace fastnn::cpu {
namespace {

enum class Isa { Portable, Avx2, Avx512 };

Isa detect_isa() {
  Isa best = Isa::Portable;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::Avx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
    best = Isa::Avx512;
#endif
  // FASTNN_ISA may only narrow the choice (to test the other kernels here).
  if (const char* want = std::getenv("FASTNN_ISA")) {
    if (std::strcmp(want, "portable") == 0) best = Isa::Portable;
    if (std::strcmp(want, "avx2") == 0 && best == Isa::Avx512) best = Isa::Avx2;
  }
  return best;
}

Isa isa() {
  static const Isa chosen = detect_isa();
  return chosen;
}

}  // namespace

bool use_avx512() { return isa() == Isa::Avx512; }

template <>
const MicroKernel<float>& best_microkernel<float>() {
  static const MicroKernel<float> k = [] {
    switch (isa()) {
      case Isa::Avx512: return microkernel_f32_avx512();
      case Isa::Avx2: return microkernel_f32_avx2();
      default: return microkernel_f32_portable();
    }
  }();
  return k;
}

template <>
const MicroKernel<double>& best_microkernel<double>() {
  static const MicroKernel<double> k =
      isa() == Isa::Avx512 ? microkernel_f64_avx512() : microkernel_f64_portable();
  return k;
}

template <>
const MicroKernel<float>& narrow_microkernel<float>() {
  static const MicroKernel<float> k = isa() == Isa::Avx512 ? microkernel_f32_avx512_narrow() : best_microkernel<float>();
  return k;
}

template <>
const MicroKernel<double>& narrow_microkernel<double>() {
  return best_microkernel<double>();
}

template <typename T>
const MicroKernel<T>& microkernel_for_width(int64_t nr) {
  const MicroKernel<T>& best = best_microkernel<T>();
  return nr == best.nr ? best : narrow_microkernel<T>();
}
template const MicroKernel<float>& microkernel_for_width<float>(int64_t);
template const MicroKernel<double>& microkernel_for_width<double>(int64_t);

const char* isa_name() { return best_microkernel<float>().name; }

bool parse_act(const std::string& name, Act* out) {
  static const struct { const char* name; Act act; } table[] = {
      {"none", Act::None}, {"relu", Act::ReLU}, {"gelu", Act::GELU},
      {"silu", Act::SiLU}, {"tanh", Act::Tanh}, {"sigmoid", Act::Sigmoid}};
  for (const auto& e : table) {
    if (name == e.name) {
      *out = e.act;
      return true;
    }
  }
  return false;
}

}  // namespace fastnn::cpu
