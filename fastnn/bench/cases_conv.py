"""Convolution benchmark shapes (issue: CPU convolution), NCHW and channels_last."""
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


def cases(quick: bool = False, channels_last: bool = True):
    shapes = QUICK_SHAPES if quick else SHAPES
    out = [make_case(*s) for s in shapes]
    if channels_last:  # torch's channels_last path (oneDNN) is the harder bar
        out += [make_case(*s, channels_last=True) for s in shapes if s[1] == 2]
    return out
