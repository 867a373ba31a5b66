// Scalar activations (float64, and float32 on CPUs without AVX-512).
#include "activation.h"

#include <cmath>

namespace fastnn::cpu {
namespace {

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

template <typename T>
inline T scalar_act(Act act, T x) {
  switch (act) {
    case Act::None: return x;
    case Act::ReLU: return x > T(0) ? x : T(0);
    case Act::GELU: return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
    case Act::SiLU: return x * sigmoid(x);
    case Act::Tanh: return std::tanh(x);
    case Act::Sigmoid: return sigmoid(x);
  }
  return x;
}

template <typename T>
inline T scalar_grad(Act act, T g, T s) {
  switch (act) {
    case Act::None: return g;
    case Act::ReLU: return s > T(0) ? g : T(0);
    case Act::GELU: {
      const T cdf = T(0.5) * (T(1) + std::erf(s * T(M_SQRT1_2)));
      const T pdf = std::exp(T(-0.5) * s * s) * T(0.3989422804014327);
      return g * (cdf + s * pdf);
    }
    case Act::SiLU: {
      const T sg = sigmoid(s);
      return g * sg * (T(1) + s * (T(1) - sg));
    }
    case Act::Tanh: return g * (T(1) - s * s);
    case Act::Sigmoid: return g * s * (T(1) - s);
  }
  return g;
}

}  // namespace

template <typename T>
void apply_act(Act act, T* x, int64_t n) {
  if (act == Act::None) return;
  if constexpr (std::is_same_v<T, float>) {
    if (detail::apply_act_f32_avx512(act, x, n)) return;
  }
  for (int64_t i = 0; i < n; ++i) x[i] = scalar_act(act, x[i]);
}

template <typename T>
void act_grad(Act act, const T* grad, const T* saved, T* out, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    if (detail::act_grad_f32_avx512(act, grad, saved, out, n)) return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = scalar_grad(act, grad[i], saved[i]);
}

template <typename T>
void sigmoid_inplace(T* x, int64_t n) {
  apply_act(Act::Sigmoid, x, n);
}

template <typename T>
void tanh_inplace(T* x, int64_t n) {
  apply_act(Act::Tanh, x, n);
}

template void apply_act<float>(Act, float*, int64_t);
template void apply_act<double>(Act, double*, int64_t);
template void act_grad<float>(Act, const float*, const float*, float*, int64_t);
template void act_grad<double>(Act, const double*, const double*, double*, int64_t);
template void sigmoid_inplace<float>(float*, int64_t);
template void sigmoid_inplace<double>(double*, int64_t);
template void tanh_inplace<float>(float*, int64_t);
template void tanh_inplace<double>(double*, int64_t);

}  // namespace fastnn::cpu
