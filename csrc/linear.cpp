// fastnn::linear schema and argument checks (all backends).
#include "linear.h"

#include <torch/library.h>

namespace fastnn {

cpu::Act parse_activation(const char* op, const std::string& activation) {
  cpu::Act act;
  TORCH_CHECK(cpu::parse_act(activation, &act), op,
              ": activation must be one of 'none', 'relu', 'gelu', 'silu', 'tanh', 'sigmoid', got '",
              activation, "'");
  return act;
}

at::Tensor linear_rows(const at::Tensor& t) {
  if (t.dim() == 2) return t;
  const int64_t k = t.size(-1);
  return t.dim() == 1 ? t.view({1, k}) : t.reshape({-1, k});
}

std::vector<int64_t> linear_output_shape(const at::Tensor& input, int64_t out_features) {
  std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end());
  shape.back() = out_features;
  return shape;
}

void check_cpu_dtype(const char* op, const char* arg, const at::Tensor& t) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, op, ": ", arg,
              " must be float32 or float64 on CPU, got ", t.scalar_type());
}

void check_cuda_dtype(const char* op, const char* arg, const at::Tensor& t) {
  const auto s = t.scalar_type();
  TORCH_CHECK(s == at::kHalf || s == at::kBFloat16 || s == at::kFloat || s == at::kDouble, op, ": ", arg,
              " must be float16, bfloat16, float32 or float64 on CUDA, got ", s);
}

cpu::Act check_linear_args(const at::Tensor& input, const at::Tensor& weight,
                           const c10::optional<at::Tensor>& bias, const std::string& activation) {
  TORCH_CHECK(at::isFloatingType(input.scalar_type()),
              "linear: input must be a floating-point tensor, got ", input.scalar_type());
  TORCH_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out_features, in_features], got ",
              weight.dim(), "-D with shape ", weight.sizes());
  TORCH_CHECK(weight.scalar_type() == input.scalar_type(),
              "linear: weight dtype must match input dtype ", input.scalar_type(), ", got ",
              weight.scalar_type());
  TORCH_CHECK(weight.device() == input.device(), "linear: weight must be on the input's device ",
              input.device(), ", got ", weight.device());
  TORCH_CHECK(input.dim() >= 1, "linear: input must have at least 1 dimension, got a 0-D tensor");
  const int64_t in_features = weight.size(1), out_features = weight.size(0);
  TORCH_CHECK(input.size(-1) == in_features, "linear: input's last dimension must equal in_features = ",
              in_features, ", got input of shape ", input.sizes());
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == out_features,
                "linear: bias must have shape [out_features] = [", out_features, "], got ",
                bias->sizes());
    TORCH_CHECK(bias->scalar_type() == input.scalar_type(), "linear: bias dtype must match input dtype ",
                input.scalar_type(), ", got ", bias->scalar_type());
    TORCH_CHECK(bias->device() == input.device(), "linear: bias must be on the input's device ",
                input.device(), ", got ", bias->device());
  }
  return parse_activation("linear", activation);
}

cpu::Act check_linear_backward_args(const at::Tensor& grad_output, const at::Tensor& input,
                                    const at::Tensor& weight, const at::Tensor& saved,
                                    const std::string& activation) {
  const cpu::Act act = check_linear_args(input, weight, c10::nullopt, activation);
  TORCH_CHECK(grad_output.dim() == input.dim() && grad_output.size(-1) == weight.size(0),
              "linear_backward: grad_output must have shape [..., out_features = ", weight.size(0),
              "] with input's batch dimensions, got ", grad_output.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(),
              "linear_backward: grad_output dtype must match input dtype ", input.scalar_type(),
              ", got ", grad_output.scalar_type());
  TORCH_CHECK(grad_output.device() == input.device(), "linear_backward: grad_output must be on the input's device ",
              input.device(), ", got ", grad_output.device());
  if (act != cpu::Act::None) {
    TORCH_CHECK(saved.sizes() == grad_output.sizes(),
                "linear_backward: saved (output or pre-activation) must have grad_output's shape ",
                grad_output.sizes(), ", got ", saved.sizes());
  }
  return act;
}

}  // namespace fastnn

TORCH_LIBRARY_FRAGMENT(fastnn, m) {
  // y = act(input @ weight^T + bias)
  m.def("linear(Tensor input, Tensor weight, Tensor? bias=None, str activation=\"none\") -> Tensor");
  // Same, also returning the pre-activation z (what gelu/silu backward needs).
  m.def(
      "linear_with_preact(Tensor input, Tensor weight, Tensor? bias=None, str activation=\"none\") "
      "-> (Tensor, Tensor)");
  // saved: the output y for relu/tanh/sigmoid, the pre-activation z for
  // gelu/silu, unused for none. Gradients not asked for in output_mask come
  // back as empty tensors.
  m.def(
      "linear_backward(Tensor grad_output, Tensor input, Tensor weight, Tensor saved, "
      "str activation, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
}
