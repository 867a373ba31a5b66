"""Convolution benchmark shapes (issue: CPU convolution), NCHW and channels_last; on CUDA the
issue's GPU suite: ResNet-50 layer shapes, batch 32, channels_last."""
import torch

import fastnn

from .case import Case

# (label, dims, in_channels, out_channels, image size, kernel, stride, padding, groups, batch)
SHAPES = [
    ("8x64x56x56 3x3->64", 2, 64, 64, (56, 56), 3, 1, 1, 1, 8),
    ("8x128x28x28 3x3->128", 2, 128, 128, (28, 28), 3, 1, 1, 1, 8),
    ("8x256x28x28 1x1->64", 2, 256, 64, (28, 28), 1, 1, 0, 1, 8),
    ("8x64x56x56 3x3/2->128", 2, 64, 128, (56, 56), 3, 2, 1, 1, 8),
    ("16x3x64x64 3x3->32", 2, 3, 32, (64, 64), 3, 1, 1, 1, 16),
    ("8x128x56x56 dw3x3", 2, 128, 128, (56, 56), 3, 1, 1, 128, 8),
    ("conv1d 16x128x200 k5->128", 1, 128, 128, (200,), 5, 1, 2, 1, 16),
]
QUICK_SHAPES = [("4x16x16x16 3x3->16", 2, 16, 16, (16, 16), 3, 1, 1, 1, 4)]

# GPU suite: ResNet-50 layers (in_channels, out_channels, image side, kernel, padding), batch 32,
# stride 1, channels_last. (a) plain Conv2d (no bias, as in ResNet before its BatchNorm), forward,
# against cuDNN; (b) Conv2d + bias + ReLU, fastnn.Conv2d(activation="relu") against nn.Conv2d then
# nn.ReLU, forward and forward+backward.
GPU_BATCH = 32
GPU_SHAPES = [(64, 64, 56, 3, 1), (128, 128, 28, 3, 1), (256, 256, 14, 3, 1), (512, 512, 7, 3, 1),
              (256, 64, 56, 1, 0), (64, 256, 56, 1, 0)]
GPU_QUICK_SHAPES = [(64, 64, 28, 3, 1)]
GPU_QUICK_BATCH = 8
GPU_BARS_PLAIN = {"forward": 0.8}
GPU_BARS_RELU = {"forward+backward": 1.0}


def conv_flops(cin, cout, out_size, kernel, groups, batch, dims):
    """Forward FLOPs (2 per multiply-add)."""
    taps = kernel ** dims
    pixels = 1
    for s in out_size:
        pixels *= s
    return 2.0 * batch * cout * pixels * (cin // groups) * taps


def out_size(size, kernel, stride, padding):
    return tuple((s + 2 * padding - kernel) // stride + 1 for s in size)


def make_case(label, dims, cin, cout, size, kernel, stride, padding, groups, batch, channels_last=False):
    ref_cls, fast_cls = (torch.nn.Conv2d, fastnn.Conv2d) if dims == 2 else (torch.nn.Conv1d, fastnn.Conv1d)

    def make(device, dtype):
        ref = ref_cls(cin, cout, kernel, stride, padding, groups=groups, device=device, dtype=dtype)
        fast = fast_cls(cin, cout, kernel, stride, padding, groups=groups, device=device, dtype=dtype)
        fast.load_state_dict(ref.state_dict())
        x = torch.randn(batch, cin, *size, device=device, dtype=dtype)
        if channels_last:
            ref, fast = ref.to(memory_format=torch.channels_last), fast.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        return ref, fast, (x.requires_grad_(),)

    flops = conv_flops(cin, cout, out_size(size, kernel, stride, padding), kernel, groups, batch, dims)
    name = label + (" cl" if channels_last else "")
    return Case("conv", name, make, flops, note="channels_last" if channels_last else None)


def _make_gpu(cin, cout, side, kernel, padding, batch, bias, activation):
    def make(device, dtype):
        cl = torch.channels_last
        ref = torch.nn.Conv2d(cin, cout, kernel, padding=padding, bias=bias, device=device, dtype=dtype)
        fast = fastnn.Conv2d(cin, cout, kernel, padding=padding, bias=bias, device=device, dtype=dtype,
                             activation=activation)
        fast.load_state_dict(ref.state_dict())
        ref, fast = ref.to(memory_format=cl), fast.to(memory_format=cl)
        if activation == "relu":
            ref = torch.nn.Sequential(ref, torch.nn.ReLU())
        x = torch.randn(batch, cin, side, side, device=device, dtype=dtype).contiguous(memory_format=cl)
        return ref, fast, (x.requires_grad_(),)
    return make


def _gpu_cases(quick: bool):
    batch = GPU_QUICK_BATCH if quick else GPU_BATCH
    plain, relu = [], []
    for cin, cout, side, k, p in (GPU_QUICK_SHAPES if quick else GPU_SHAPES):
        label = f"{batch}x{cin}x{side}x{side} {k}x{k}->{cout} cl"
        flops = conv_flops(cin, cout, out_size((side, side), k, 1, p), k, 1, batch, 2)
        plain.append(Case("conv", label, _make_gpu(cin, cout, side, k, p, batch, False, "none"), flops,
                          backward=False, note="channels_last, no bias", group="conv plain",
                          bars=GPU_BARS_PLAIN))
        relu.append(Case("conv", label + " +bias+relu", _make_gpu(cin, cout, side, k, p, batch, True, "relu"),
                         flops, note="channels_last", group="conv+relu", bars=GPU_BARS_RELU))
    return plain + relu


def cases(quick: bool = False, channels_last: bool = True, device: str = "cpu"):
    if device == "cuda":
        return _gpu_cases(quick)
    shapes = QUICK_SHAPES if quick else SHAPES
    out = [make_case(*s) for s in shapes]
    if channels_last:  # torch's channels_last path (oneDNN) is the harder bar
        out += [make_case(*s, channels_last=True) for s in shapes if s[1] == 2]
    return out
