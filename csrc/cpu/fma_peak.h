#pragma once

namespace fastnn::cpu {
// float32 FMA GFLOP/s summed over torch's threads, each timed for `seconds`.
double fma_peak_gflops(double seconds);
}  // namespace fastnn::cpu
