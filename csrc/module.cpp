// The fastnn._C Python module: registers the `fastnn` operator library (the
// ops themselves are defined per op family with TORCH_LIBRARY_FRAGMENT) and
// exposes build information. No compute is bound here: every kernel is a
// registered operator (torch.ops.fastnn.*).
#include <torch/extension.h>

#include "cpu/fma_peak.h"
#include "cpu/gemm/gemm.h"
#include "cpu/output_cache.h"
#include "cpu/rnn_path_choice.h"
#ifdef FASTNN_WITH_CUDA
#include "cuda/elementwise.h"
#endif

TORCH_LIBRARY(fastnn, m) {}

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastnn native library";
  m.def("cpu_isa", &fastnn::cpu::isa_name, "float32 GEMM micro-kernel chosen for this CPU");
  // A diagnostic for the benchmark's "% of peak", not a compute kernel.
  m.def("fma_peak_gflops", &fastnn::cpu::fma_peak_gflops, pybind11::arg("seconds") = 0.2,
        "float32 FMA peak of this CPU over torch's threads, measured now (GFLOP/s)");
  m.def("output_cache_bytes", &fastnn::cpu::output_cache_bytes,
        "bytes of freed op outputs kept for reuse (see csrc/cpu/output_cache.h)");
  m.def("output_cache_clear", &fastnn::cpu::output_cache_clear, "release the cached output blocks");
  m.def("set_rnn_path", &fastnn::cpu::rnn::set_path_mode, pybind11::arg("mode"),
        "how a recurrent layer's forward and backward pick their path where neither always wins: "
        "'auto' (time both on a shape's first calls), 'team' or 'beside' (see csrc/cpu/rnn_path_choice.h)");
  m.def("rnn_path", &fastnn::cpu::rnn::path_mode, "the current mode of set_rnn_path");
  m.def("rnn_path_choices", &fastnn::cpu::rnn::path_choices,
        "the shapes timed by the 'auto' mode so far, with both paths' best times and the choice");
#ifdef FASTNN_WITH_CUDA
  m.attr("cuda_built") = true;
  m.def("cuda_last_gemm", &fastnn::cuda::last_gemm_path,
        "kernel of this thread's last CUDA GEMM: wgmma, mma.sync or simt (+split-k)");
  m.def("cuda_wgmma_enabled", &fastnn::cuda::wgmma_enabled,
        "whether the Hopper wgmma GEMM runs on the current device (sm_90a build, FASTNN_CUDA_WGMMA=1)");
#else
  m.attr("cuda_built") = false;
#endif
}
