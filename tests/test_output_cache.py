"""The output block cache (csrc/cpu/output_cache.h): fastnn op outputs come from
it, go back to it when freed, stay valid tensors in every respect, and it can be
bounded, cleared and turned off."""
import os
import subprocess
import sys

import torch

import fastnn
from fastnn import _C


def _linear_out(n=256, k=300):
    return fastnn.functional.linear(torch.randn(n, k), torch.randn(k, k))


def test_freed_outputs_are_kept_and_reused():
    _C.output_cache_clear()
    assert _C.output_cache_bytes() == 0
    out = _linear_out()
    ptr, nbytes = out.data_ptr(), out.numel() * out.element_size()
    del out
    held = _C.output_cache_bytes()
    assert held >= nbytes
    again = _linear_out()
    assert again.data_ptr() == ptr  # the same block, handed out again
    assert _C.output_cache_bytes() <= held - nbytes  # taken out of the cache while in use
    del again
    _C.output_cache_clear()
    assert _C.output_cache_bytes() == 0


def test_cached_outputs_behave_like_any_tensor():
    x, w = torch.randn(64, 48), torch.randn(32, 48)
    out = fastnn.functional.linear(x, w)
    torch.testing.assert_close(out, x @ w.t())
    out.resize_(128, 64).fill_(1.0)  # storage grows through the allocator
    assert out.sum().item() == 128 * 64
    assert torch.equal(torch.tensor(out.numpy()), out)  # numpy shares the block
    clone = out.clone()
    del out
    assert clone.sum().item() == 128 * 64


def test_channels_last_outputs_keep_their_format():
    x = torch.randn(2, 8, 9, 9).to(memory_format=torch.channels_last)
    conv = fastnn.Conv2d(8, 16, 3)
    y = conv(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, conv.weight, conv.bias), rtol=1e-4, atol=1e-4)


def test_cache_can_be_turned_off():
    code = ("import torch, fastnn; from fastnn import _C\n"
            "y = fastnn.functional.linear(torch.randn(64, 64), torch.randn(64, 64)); del y\n"
            "print(_C.output_cache_bytes())")
    env = dict(os.environ, FASTNN_OUTPUT_CACHE_MB="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
