// Element-wise activation gradients and column sums for the CUDA backward passes.
#include "cuda_common.cuh"
#include "elementwise.h"
#include "gemm_epilogue.cuh"

namespace fastnn::cuda {

int sm_count() {
  static int counts[64] = {0};
  int device = 0;
  C10_CUDA_CHECK(cudaGetDevice(&device));
  if (device < 64 && counts[device] > 0) return counts[device];
  int value = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&value, cudaDevAttrMultiProcessorCount, device));
  if (device < 64) counts[device] = value;
  return value;
}

namespace {
thread_local std::string last_path;
}  // namespace

void note_gemm_path(const char* kernel, bool split_k) {
  last_path = kernel;
  if (split_k) last_path += "+split-k";
}

std::string last_gemm_path() { return last_path; }

namespace {

template <typename T>
__global__ void activation_grad_kernel(const T* grad, const T* saved, T* out, int64_t n, int act) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = from_acc<T>(act_backward(act, to_acc(grad[i]), to_acc(saved[i])));
}

// partial[chunk][n] = sum of rows [chunk * rows_per_chunk, ...) of column n.
template <typename T>
__global__ void column_partials_kernel(const T* m, int64_t rows, int N, int64_t rows_per_chunk, acc_t<T>* partial) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= N) return;
  const int64_t r0 = blockIdx.y * rows_per_chunk, r1 = min(rows, r0 + rows_per_chunk);
  acc_t<T> v = 0;
  for (int64_t r = r0; r < r1; ++r) v += to_acc(m[r * N + n]);
  partial[int64_t(blockIdx.y) * N + n] = v;
}

}  // namespace

at::Tensor activation_grad(const at::Tensor& grad, const at::Tensor& saved, int act) {
  TORCH_INTERNAL_ASSERT(grad.is_contiguous() && saved.is_contiguous() && grad.sizes() == saved.sizes());
  at::Tensor out = at::empty_like(grad);
  const int64_t n = grad.numel();
  if (n == 0) return out;
  const int64_t blocks = std::min<int64_t>(ceil_div(n, 256), int64_t(sm_count()) * 16);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "fastnn_activation_grad", [&] {
    using T = typename CudaType<scalar_t>::type;
    activation_grad_kernel<T><<<unsigned(blocks), 256, 0, current_stream()>>>(
        reinterpret_cast<const T*>(grad.data_ptr()), reinterpret_cast<const T*>(saved.data_ptr()),
        reinterpret_cast<T*>(out.data_ptr()), n, act);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

void column_sums(const at::Tensor& m, at::Tensor& out) {
  TORCH_INTERNAL_ASSERT(m.is_contiguous() && m.dim() == 2 && out.numel() == m.size(1));
  const int64_t rows = m.size(0), N = m.size(1);
  if (N == 0) return;
  // Enough row chunks to fill the GPU; each thread sums one column of a chunk.
  const int64_t col_blocks = ceil_div(N, 256);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(ceil_div(rows, 64), ceil_div(int64_t(sm_count()) * 8, col_blocks)));
  const int64_t rows_per_chunk = std::max<int64_t>(1, ceil_div(rows, chunks));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, m.scalar_type(), "fastnn_column_sums", [&] {
    using T = typename CudaType<scalar_t>::type;
    using A = acc_t<T>;
    at::Tensor partial = at::empty({chunks, N}, m.options().dtype(std::is_same_v<A, double> ? at::kDouble : at::kFloat));
    const cudaStream_t stream = current_stream();
    column_partials_kernel<T><<<dim3(unsigned(col_blocks), unsigned(chunks)), 256, 0, stream>>>(
        reinterpret_cast<const T*>(m.data_ptr()), rows, int(N), rows_per_chunk, partial.data_ptr<A>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    sum_partials_kernel<T><<<unsigned(ceil_div(N, 256)), 256, 0, stream>>>(partial.data_ptr<A>(), int(chunks), int(N),
                                                                          reinterpret_cast<T*>(out.data_ptr()));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace fastnn::cuda
