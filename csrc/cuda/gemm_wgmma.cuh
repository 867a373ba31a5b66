// Tensor-core GEMM for Hopper (sm_90a): warpgroup MMA (wgmma) reading both
// operands from shared memory. Used for large products whose operands are both
// K-major (Linear forward, convolution forward); everything else runs
// gemm_tc.cuh's mma.sync kernel.
//
// CTA tile 128 x BN x 64 (WgConfig; default BN = 128), two warpgroups of 64 x BN
// (BN / 2 float accumulators per thread). Tiles stream global -> shared with
// 16-byte cp.async into the 128-byte-swizzled layout wgmma reads (16-byte chunk
// j of row r stored at chunk j ^ (r % 8) of its 128-byte row; tile bases
// 1024-byte aligned), in a ring of STAGES tiles loaded STAGES - 2 ahead, while
// one wgmma batch runs and the previous one drains (wgmma.wait_group 1).
//
// Compiled only for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL); wgmma_enabled()
// (gemm_wgmma.cu) reports whether this binary has it, and the host never
// launches it otherwise.
#pragma once

#include "gemm_tc.cuh"

namespace fastnn::cuda {

namespace wg {

// CTA tile 128 x BN x 64 (BN = 128 or 256), a ring of STAGES tiles, loads LEAD tiles ahead.
template <int BN_, int STAGES_>
struct WgConfig {
  static constexpr int BM = 128, BN = BN_, BK = 64, STAGES = STAGES_, THREADS = 256, LEAD = STAGES - 2;
  static constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
  static constexpr size_t SMEM_BYTES = size_t(STAGES) * STAGE_BYTES + 1024;  // + slack to align the ring
  static_assert(BN == 128 || BN == 256, "wgmma tile width");
};
// 128 x 128 in 4 stages: on an H200, 242 TFLOP/s at 8192 x 4096 x 4096 against 216 for
// 128 x 256, and within 3% of it at 8192^3 (benchmarks/gemm_microbench.cu).
using WgDefault = WgConfig<128, 4>;

// Shared-memory matrix descriptor: K-major, 128-byte swizzle, 8-row groups 1024 B apart.
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr) {
  uint64_t d = uint64_t((addr & 0x3FFFF) >> 4);
  d |= uint64_t(16 >> 4) << 16;    // leading byte offset (unused by swizzled K-major layouts)
  d |= uint64_t(1024 >> 4) << 32;  // stride byte offset
  d |= uint64_t(1) << 62;          // 128-byte swizzle
  return d;
}

// One ROWS x 64 K-major tile into the swizzled layout at `base` (1024-byte aligned).
template <typename T, class Op, int ROWS>
__device__ __forceinline__ void load_tile(const Op& op, uint32_t base, int r0, int k0, int tid) {
  constexpr int THREADS = 256;
#pragma unroll
  for (int i = 0; i < ROWS * 8 / THREADS; ++i) {
    const int c = tid + i * THREADS, r = c / 8, j = c % 8;
    const T* src = op.chunk(r0 + r, k0 + j * 8);
    tc::cp_async16(base + r * 128 + ((j ^ (r % 8)) * 16), src ? src : op.ptr, src != nullptr);
  }
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void fence_operands() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// d[64 x BN per warpgroup] += A(desc_a) B(desc_b)^T over 16 of K (BN = 128 or 256), both
// operands K-major in shared memory, scale 1, accumulating.
#define FASTNN_WGMMA_M64N128K16(TYPE)                                                        \
  asm volatile("{\n"                                                                       \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE " "                  \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "  \
               "%64, %65, 1, 1, 1, 0, 0;\n"                                             \
               "}\n"                                                                       \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
      "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
      "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
      "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
      "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]) \
               : "l"(desc_a), "l"(desc_b))

#define FASTNN_WGMMA_M64N256K16(TYPE)                                                        \
  asm volatile("{\n"                                                                       \
               "wgmma.mma_async.sync.aligned.m64n256k16.f32." TYPE "." TYPE " "                  \
               "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127}, "  \
               "%128, %129, 1, 1, 1, 0, 0;\n"                                             \
               "}\n"                                                                       \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), \
      "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), \
      "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), \
      "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), \
      "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), \
      "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
      "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]), \
      "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]), \
      "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), \
      "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), \
      "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), \
      "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), \
      "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]), \
      "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), \
      "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127]) \
               : "l"(desc_a), "l"(desc_b))

template <typename T, int BN>
__device__ __forceinline__ void mma_m64k16(float (&d)[BN / 2], uint64_t desc_a, uint64_t desc_b) {
  constexpr bool kBf16 = std::is_same_v<T, __nv_bfloat16>;
  if constexpr (BN == 256 && kBf16) FASTNN_WGMMA_M64N256K16("bf16");
  else if constexpr (BN == 256) FASTNN_WGMMA_M64N256K16("f16");
  else if constexpr (kBf16) FASTNN_WGMMA_M64N128K16("bf16");
  else FASTNN_WGMMA_M64N128K16("f16");
}
#undef FASTNN_WGMMA_M64N128K16
#undef FASTNN_WGMMA_M64N256K16
#endif

}  // namespace wg

template <typename T, class Cfg, class OpA, class OpB>
__global__ void __launch_bounds__(Cfg::THREADS, 1)
    gemm_wgmma_kernel(OpA a, OpB b, int M, int N, int K, Epilogue<T> ep) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using namespace wg;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, STAGES = Cfg::STAGES, LEAD = Cfg::LEAD;
  constexpr int A_BYTES = Cfg::A_BYTES, STAGE_BYTES = Cfg::STAGE_BYTES;
  static_assert(OpA::kKMajor && OpB::kKMajor, "wgmma path: both operands K-major");
  extern __shared__ __align__(16) unsigned char wg_smem_raw[];
  const uint32_t ring = (tc::smem_addr(wg_smem_raw) + 1023u) & ~1023u;  // 1024-byte aligned for the swizzle

  const int tid = threadIdx.x, lane = tid % 32, warpgroup = tid / 128, warp_in_group = (tid % 128) / 32;
  const int tiles_m = (M + BM - 1) / BM, tiles_n = (N + BN - 1) / BN;
  const int per_group = 8 * tiles_n, group = blockIdx.x / per_group;
  const int first_m = group * 8, group_rows = min(tiles_m - first_m, 8);
  const int m0 = (first_m + (blockIdx.x % per_group) % group_rows) * BM;
  const int n0 = ((blockIdx.x % per_group) / group_rows) * BN;
  const int ktiles = (K + BK - 1) / BK;

  float d[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) d[i] = 0.f;

  auto load_stage = [&](int kt) {
    const uint32_t s = ring + (kt % STAGES) * STAGE_BYTES;
    load_tile<T, OpA, BM>(a, s, m0, kt * BK, tid);
    load_tile<T, OpB, BN>(b, s + A_BYTES, n0, kt * BK, tid);
  };

#pragma unroll
  for (int s = 0; s < LEAD; ++s) {
    if (s < ktiles) load_stage(s);
    tc::cp_async_commit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    tc::cp_async_wait<LEAD - 1>();  // tile kt has landed (later tiles may still be in flight)
    fence_proxy_async();            // make it visible to the tensor cores' (async proxy) reads
    __syncthreads();                // ... of every thread; and every wgmma of tile kt - 2 is done
    if (kt + LEAD < ktiles) load_stage(kt + LEAD);  // into tile kt - 2's stage
    tc::cp_async_commit();
    const uint32_t s = ring + (kt % STAGES) * STAGE_BYTES;
    fence_operands();
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk)
      mma_m64k16<T, BN>(d, smem_desc(s + warpgroup * 64 * 128 + kk * 32), smem_desc(s + A_BYTES + kk * 32));
    commit();
    wait<1>();
  }
  wait<0>();
  tc::cp_async_wait<0>();

  // Accumulator 4i + e: row 16 * warp + lane / 4 (+8 for e >= 2), column 8i + 2 (lane % 4) + e % 2.
  const int row = m0 + warpgroup * 64 + warp_in_group * 16 + lane / 4;
#pragma unroll
  for (int i = 0; i < BN / 8; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int m = row + (e >= 2 ? 8 : 0), n = n0 + 8 * i + 2 * (lane % 4) + (e % 2);
      if (m < M && n < N) ep.store(m, n, d[4 * i + e]);
    }
#endif
}

}  // namespace fastnn::cuda
