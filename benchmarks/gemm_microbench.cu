// Standalone timing of fastnn's CUDA GEMM kernels and their tile configurations, on a GPU,
// without torch (the kernel headers need only CUDA):
//
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Icsrc benchmarks/gemm_microbench.cu -o /tmp/gemm_mb
//   /tmp/gemm_mb
//
// Every configuration is checked against the SIMT kernel (same bf16 inputs, float32 sums) before
// it is timed; a mismatch prints WRONG. Layouts: A and B K-major (the forward product), B N-major
// (the input gradient), both MN-major (the weight gradient). TFLOP/s from CUDA events over 10 calls.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "cuda/gemm_operands.cuh"
#include "cuda/gemm_simt.cuh"
#include "cuda/gemm_tc.cuh"
#include "cuda/gemm_wgmma.cuh"

using namespace fastnn::cuda;
using T = __nv_bfloat16;

#define CHECK(x)                                                                      \
  do {                                                                                \
    cudaError_t e = (x);                                                              \
    if (e != cudaSuccess) {                                                           \
      std::printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e), __FILE__, __LINE__); \
      std::exit(1);                                                                   \
    }                                                                                 \
  } while (0)

__global__ void fill(T* p, size_t n, uint32_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = __float2bfloat16(float(h & 0xFFFF) / 32768.f - 1.f);
  }
}

struct Shape {
  int M, N, K;
};

// A is [M][K] when K-major, else [K][M]; B is [N][K] when K-major, else [K][N].
template <bool KA, bool KB>
struct Operands {
  StridedOperand<T, KA> a;
  StridedOperand<T, KB> b;
  Operands(const T* A, const T* B, Shape s)
      : a{A, KA ? s.K : 1, KA ? 1 : s.M, s.M, s.K}, b{B, KB ? s.K : 1, KB ? 1 : s.N, s.N, s.K} {}
};

template <typename Launch>
float time_ms(Launch launch, int iters = 10) {
  launch();
  CHECK(cudaDeviceSynchronize());
  cudaEvent_t e0, e1;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  CHECK(cudaEventRecord(e0));
  for (int i = 0; i < iters; ++i) launch();
  CHECK(cudaEventRecord(e1));
  CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, e0, e1));
  CHECK(cudaGetLastError());
  return ms / iters;
}

std::vector<float> to_host(const T* d, size_t n) {
  std::vector<T> h(n);
  CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = __bfloat162float(h[i]);
  return f;
}

// Largest |x - ref| / (|ref| + 1) over the outputs: a few bf16 ulps (< 0.02) is a match.
double mismatch(const std::vector<float>& x, const std::vector<float>& ref) {
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::fabs(double(x[i]) - ref[i]) / (std::fabs(ref[i]) + 1.0));
  return worst;
}

template <bool KA, bool KB>
std::vector<float> reference(const T* A, const T* B, T* C, Shape s) {
  Operands<KA, KB> o(A, B, s);
  Epilogue<T> ep;
  ep.out = C;
  ep.ld_out = s.N;
  dim3 grid((s.M + simt::BM - 1) / simt::BM, (s.N + simt::BN - 1) / simt::BN, 1);
  gemm_simt_kernel<T><<<grid, simt::THREADS>>>(o.a, o.b, s.M, s.N, s.K, s.K, ep, nullptr, nullptr);
  CHECK(cudaDeviceSynchronize());
  return to_host(C, size_t(s.M) * s.N);
}

void report(const char* name, const char* layout, Shape s, float ms, double err) {
  const double tflops = 2.0 * s.M * s.N * s.K / (ms * 1e-3) / 1e12;
  std::printf("%-34s %-6s %5dx%5dx%5d  %8.3f ms  %6.1f TFLOP/s  %s (%.2g)\n", name, layout, s.M, s.N, s.K, ms,
              tflops, err < 0.02 ? "ok" : "WRONG", err);
}

template <class Cfg, bool KA, bool KB>
void run_tc(const char* name, const T* A, const T* B, T* C, Shape s, const std::vector<float>& ref) {
  Operands<KA, KB> o(A, B, s);
  Epilogue<T> ep;
  ep.out = C;
  ep.ld_out = s.N;
  constexpr auto kernel = gemm_tc_kernel<T, Cfg, StridedOperand<T, KA>, StridedOperand<T, KB>>;
  constexpr size_t smem = Cfg::template smem_bytes<T, StridedOperand<T, KA>, StridedOperand<T, KB>>();
  CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  const unsigned tiles = unsigned(((s.M + Cfg::BM - 1) / Cfg::BM) * ((s.N + Cfg::BN - 1) / Cfg::BN));
  CHECK(cudaMemset(C, 0, size_t(s.M) * s.N * sizeof(T)));
  auto launch = [&] { kernel<<<tiles, Cfg::THREADS, smem>>>(o.a, o.b, s.M, s.N, s.K, s.K, ep, nullptr, nullptr); };
  const float ms = time_ms(launch);
  report(name, KA ? (KB ? "KK" : "KN") : (KB ? "MK" : "MN"), s, ms, mismatch(to_host(C, size_t(s.M) * s.N), ref));
}

template <class Cfg>
void run_wg(const char* name, const T* A, const T* B, T* C, Shape s, const std::vector<float>& ref) {
  Operands<true, true> o(A, B, s);
  Epilogue<T> ep;
  ep.out = C;
  ep.ld_out = s.N;
  constexpr auto kernel = gemm_wgmma_kernel<T, Cfg, StridedOperand<T, true>, StridedOperand<T, true>>;
  CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(Cfg::SMEM_BYTES)));
  const unsigned tiles = unsigned(((s.M + Cfg::BM - 1) / Cfg::BM) * ((s.N + Cfg::BN - 1) / Cfg::BN));
  CHECK(cudaMemset(C, 0, size_t(s.M) * s.N * sizeof(T)));
  auto launch = [&] { kernel<<<tiles, Cfg::THREADS, Cfg::SMEM_BYTES>>>(o.a, o.b, s.M, s.N, s.K, ep); };
  const float ms = time_ms(launch);
  report(name, "KK", s, ms, mismatch(to_host(C, size_t(s.M) * s.N), ref));
}

using Tc128x128k32s4 = tc::TcConfig<128, 128, 32, 4, 2, 4, 2>;
using Tc128x128k64s3 = tc::TcConfig<128, 128, 64, 3, 2, 4, 2>;
using Tc128x128k32s5 = tc::TcConfig<128, 128, 32, 5, 2, 4, 2>;
using Tc128x256k32s3 = tc::TcConfig<128, 256, 32, 3, 2, 4, 1>;
using Tc128x256k32s4 = tc::TcConfig<128, 256, 32, 4, 2, 4, 1>;
using Tc256x128k32s3 = tc::TcConfig<256, 128, 32, 3, 4, 2, 1>;
using Tc128x256k64s3 = tc::TcConfig<128, 256, 64, 3, 2, 4, 1>;

template <bool KA, bool KB>
void run_layout(const T* A, const T* B, T* C, Shape s, bool all) {
  const std::vector<float> ref = reference<KA, KB>(A, B, C, s);
  run_tc<Tc128x128k32s4, KA, KB>("mma.sync 128x128x32 s4", A, B, C, s, ref);
  run_tc<Tc128x128k64s3, KA, KB>("mma.sync 128x128x64 s3 (default)", A, B, C, s, ref);
  run_tc<Tc128x128k32s5, KA, KB>("mma.sync 128x128x32 s5", A, B, C, s, ref);
  run_tc<Tc128x256k32s3, KA, KB>("mma.sync 128x256x32 s3 w64x64", A, B, C, s, ref);
  run_tc<Tc128x256k32s4, KA, KB>("mma.sync 128x256x32 s4 w64x64", A, B, C, s, ref);
  run_tc<Tc256x128k32s3, KA, KB>("mma.sync 256x128x32 s3 w64x64", A, B, C, s, ref);
  run_tc<Tc128x256k64s3, KA, KB>("mma.sync 128x256x64 s3 w64x64", A, B, C, s, ref);
  if constexpr (KA && KB) {
    if (all) {
      run_wg<wg::WgConfig<256, 4>>("wgmma 128x256x64 s4", A, B, C, s, ref);
      run_wg<wg::WgConfig<128, 4>>("wgmma 128x128x64 s4 (default)", A, B, C, s, ref);
      run_wg<wg::WgConfig<128, 6>>("wgmma 128x128x64 s6", A, B, C, s, ref);
    }
  }
}

int main() {
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, %d SMs, bf16 inputs and outputs, float32 accumulation\n", prop.name, prop.multiProcessorCount);
  const Shape shapes[] = {{8192, 8192, 8192}, {8192, 4096, 4096}, {1000, 1300, 264}};
  size_t max_elems = 0;
  for (const Shape& s : shapes)
    max_elems = std::max({max_elems, size_t(s.M) * s.K, size_t(s.N) * s.K, size_t(s.M) * s.N});
  T *A, *B, *C;
  CHECK(cudaMalloc(&A, max_elems * sizeof(T)));
  CHECK(cudaMalloc(&B, max_elems * sizeof(T)));
  CHECK(cudaMalloc(&C, max_elems * sizeof(T)));
  fill<<<1024, 256>>>(A, max_elems, 1);
  fill<<<1024, 256>>>(B, max_elems, 2);
  CHECK(cudaDeviceSynchronize());
  for (const Shape& s : shapes) {
    run_layout<true, true>(A, B, C, s, true);
    if (s.M % 8 || s.N % 8) continue;  // MN-major chunks need rows in multiples of 8 (as tc_layout checks)
    run_layout<true, false>(A, B, C, s, false);
    run_layout<false, false>(A, B, C, s, false);
  }
  return 0;
}
