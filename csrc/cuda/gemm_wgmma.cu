// Whether the Hopper wgmma GEMM (gemm_wgmma.cuh) may run on the current device.
#include <cstdlib>
#include <cstring>

#include "cuda_common.cuh"
#include "elementwise.h"
#include "gemm_wgmma.cuh"

namespace fastnn::cuda {
namespace {

// Writes 1 when this binary's code for the device was compiled for sm_90a.
__global__ void wgmma_probe_kernel(int* out) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  *out = 1;
#else
  *out = 0;
#endif
}

}  // namespace

bool wgmma_enabled() {
  static int state[64] = {0};  // 0 unknown, 1 yes, 2 no
  const char* flag = std::getenv("FASTNN_CUDA_WGMMA");
  if (flag == nullptr || std::strcmp(flag, "1") != 0) return false;
  int device = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  if (device < 64 && state[device] != 0) return state[device] == 1;
  at::Tensor out = at::zeros({1}, at::TensorOptions().dtype(at::kInt).device(at::kCUDA, device));
  wgmma_probe_kernel<<<1, 1, 0, current_stream()>>>(out.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const bool yes = out.item<int>() == 1;
  if (device < 64) state[device] = yes ? 1 : 2;
  return yes;
}

}  // namespace fastnn::cuda
