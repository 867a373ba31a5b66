// How an autograd node's backward calls fastnn's backward ops (linear_backward, conv2d_backward,
// rnn_cell_backward, rnn_layer_backward).
#pragma once

#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/core/grad_mode.h>

#include <optional>

namespace fastnn {

// The backward ops have no autograd kernels of their own, so a plain call goes through torch's
// boxed autograd fallback before it reaches the CPU/CUDA kernel: about 2 us a call (measured on the
// 2-core VM: 2% of LSTMCell 8,128->128 forward+backward). Without create_graph the gradients need
// no graph, and this scope sends the call below the autograd keys, unboxed. With create_graph the
// fallback stays, and with it torch's warning that these ops have no second-order gradients.
class BackwardOpScope {
 public:
  BackwardOpScope() {
    if (!at::GradMode::is_enabled()) below_autograd_.emplace();
  }

 private:
  std::optional<at::AutoDispatchBelowADInplaceOrView> below_autograd_;
};

}  // namespace fastnn
