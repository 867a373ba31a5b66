// How an autograd node's backward calls fastnn's backward ops (linear_backward, conv2d_backward,
// rnn_cell_backward, rnn_layer_backward), and what its gradients carry under create_graph.
#pragma once

#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/basic_ops.h>

#include <string>

namespace fastnn {

// The backward ops have no autograd kernels of their own, so a plain call would go through torch's
// boxed autograd fallback before it reaches the CPU/CUDA kernel: about 2 us a call (measured on the
// 2-core VM: 2% of LSTMCell 8,128->128 forward+backward). The gradients never need the fallback's
// graph: this scope sends the call below the autograd keys, unboxed. (Under create_graph,
// forbid_double_backward below gives the gradients their graph.)
class BackwardOpScope {
 public:
  BackwardOpScope() = default;

 private:
  at::AutoDispatchBelowADInplaceOrView below_autograd_;
};

// Under create_graph autograd records how gradients were computed, so that they can be
// differentiated again (gradient penalties, MAML, Hessian-vector products). fastnn's backward ops
// have no derivatives of their own. torch's autograd fallback would return zeros for the missing
// second-order terms with only a warning (measured: a gradient penalty through fastnn.Linear gave
// an all-zero weight gradient); instead the gradients get an Error node as grad_fn, wired to what
// they depend on, so backpropagating through them raises this error naming the layer.
inline void forbid_double_backward(torch::autograd::variable_list& grads,
                                   const torch::autograd::variable_list& depends_on, const char* layer) {
  if (!at::GradMode::is_enabled() || !torch::autograd::any_variable_requires_grad(depends_on)) return;
  auto node = c10::make_intrusive<torch::autograd::Error>(
      std::string(layer) +
          " does not support second-order gradients yet: a gradient computed with create_graph=True "
          "cannot be backpropagated through again (double backward, e.g. a gradient penalty); use the "
          "torch.nn layer where that is needed",
      torch::autograd::collect_next_edges(depends_on));
  for (auto& g : grads)
    if (g.defined() && torch::autograd::isDifferentiableType(g.scalar_type())) torch::autograd::create_gradient_edge(g, node);
}

}  // namespace fastnn
