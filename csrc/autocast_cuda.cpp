// torch.autocast("cuda") rules for fastnn's Linear and Conv ops: under autocast,
// torch.nn.Linear and Conv2d run in the autocast dtype (float16 by default, or
// the dtype the region names), so fastnn's layers cast their floating inputs
// to it too, and compute on the float16/bfloat16 tensor-core kernels.
// (CPU autocast: fastnn/ops/autocast.py.)
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

namespace fastnn {
namespace {

constexpr auto kKey = c10::DispatchKey::AutocastCUDA;

at::Tensor cast(const at::Tensor& t) {
  return at::autocast::cached_cast(at::autocast::get_autocast_dtype(at::kCUDA), t, c10::DeviceType::CUDA);
}

c10::optional<at::Tensor> cast(const c10::optional<at::Tensor>& t) {
  if (!t.has_value() || !t->defined()) return t;
  return cast(*t);
}

using LinearSig = at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, c10::string_view);
using LinearPreSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                       const c10::optional<at::Tensor>&, c10::string_view);
using ConvSig = at::Tensor(const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, at::IntArrayRef,
                           at::IntArrayRef, at::IntArrayRef, int64_t, c10::string_view);
using ConvPreSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                     const c10::optional<at::Tensor>&, at::IntArrayRef,
                                                     at::IntArrayRef, at::IntArrayRef, int64_t, c10::string_view);

template <typename Sig>
c10::TypedOperatorHandle<Sig> op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

at::Tensor linear_autocast(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                           c10::string_view act) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  static auto handle = op<LinearSig>("fastnn::linear");
  return handle.call(cast(input), cast(weight), cast(bias), act);
}

std::tuple<at::Tensor, at::Tensor> linear_with_preact_autocast(const at::Tensor& input, const at::Tensor& weight,
                                                               const c10::optional<at::Tensor>& bias,
                                                               c10::string_view act) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  static auto handle = op<LinearPreSig>("fastnn::linear_with_preact");
  return handle.call(cast(input), cast(weight), cast(bias), act);
}

at::Tensor conv2d_autocast(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                           at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
                           c10::string_view act) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  static auto handle = op<ConvSig>("fastnn::conv2d");
  return handle.call(cast(input), cast(weight), cast(bias), stride, padding, dilation, groups, act);
}

std::tuple<at::Tensor, at::Tensor> conv2d_with_preact_autocast(const at::Tensor& input, const at::Tensor& weight,
                                                               const c10::optional<at::Tensor>& bias,
                                                               at::IntArrayRef stride, at::IntArrayRef padding,
                                                               at::IntArrayRef dilation, int64_t groups,
                                                               c10::string_view act) {
  c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  static auto handle = op<ConvPreSig>("fastnn::conv2d_with_preact");
  return handle.call(cast(input), cast(weight), cast(bias), stride, padding, dilation, groups, act);
}

}  // namespace
}  // namespace fastnn

TORCH_LIBRARY_IMPL(fastnn, AutocastCUDA, m) {
  m.impl("linear", &fastnn::linear_autocast);
  m.impl("linear_with_preact", &fastnn::linear_with_preact_autocast);
  m.impl("conv2d", &fastnn::conv2d_autocast);
  m.impl("conv2d_with_preact", &fastnn::conv2d_with_preact_autocast);
}
