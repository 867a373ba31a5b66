"""The Hopper wgmma GEMM (csrc/cuda/gemm_wgmma.cuh), opt-in with FASTNN_CUDA_WGMMA=1: it must
run where asked (sm_90 GPU, sm_90a build) and match torch.nn within the low-precision rule
(fastnn's error against a float64 reference at most 2x torch's own)."""
import pytest
import torch
import torch.nn.functional as F

import fastnn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
HOPPER = torch.cuda.is_available() and torch.cuda.get_device_capability() == (9, 0)


@pytest.fixture
def wgmma(monkeypatch):
    monkeypatch.setenv("FASTNN_CUDA_WGMMA", "1")
    if not HOPPER:
        pytest.skip("wgmma needs an sm_90 GPU")
    assert fastnn._C.cuda_wgmma_enabled(), "built without sm_90a: set TORCH_CUDA_ARCH_LIST=9.0a"


def _max_err(value, reference):
    return (value.double() - reference).abs().max().item()


def _assert_within_torch_error(mine, theirs, reference):
    mine_err, torch_err = _max_err(mine, reference), _max_err(theirs, reference)
    assert mine_err <= 2 * torch_err + 1e-6, f"fastnn error {mine_err:.3g} vs torch {torch_err:.3g}"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("m,k,n,act", [(2048, 512, 4096, "none"), (4000, 264, 2600, "gelu"),
                                       (1100, 1000, 5000, "relu")])
def test_linear_forward_runs_wgmma(wgmma, dtype, m, k, n, act):
    x = torch.randn(m, k, device="cuda").to(dtype)
    w = (torch.randn(n, k, device="cuda") / k ** 0.5).to(dtype)
    b = torch.randn(n, device="cuda").to(dtype)
    out = fastnn.functional.linear(x, w, b, activation=act)
    assert fastnn._C.cuda_last_gemm() == "wgmma"
    act_fn = {"none": lambda t: t, "gelu": F.gelu, "relu": F.relu}[act]
    reference = act_fn(F.linear(x.double(), w.double(), b.double()))
    _assert_within_torch_error(out, act_fn(F.linear(x, w, b)), reference)


def test_linear_backward_with_wgmma_forward(wgmma):
    x = torch.randn(2048, 512, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    layer = fastnn.Linear(512, 4096, device="cuda", dtype=torch.bfloat16, activation="silu")
    ref = torch.nn.Linear(512, 4096, device="cuda", dtype=torch.float64)
    ref.load_state_dict(layer.state_dict())
    out = layer(x)
    grad = torch.randn_like(out)
    out.backward(grad)
    xr = x.detach().double().requires_grad_(True)
    ref_out = F.silu(ref(xr))
    ref_out.backward(grad.double())
    torch_layer = torch.nn.Linear(512, 4096, device="cuda", dtype=torch.bfloat16)
    torch_layer.load_state_dict(layer.state_dict())
    xt = x.detach().clone().requires_grad_(True)
    torch_out = F.silu(torch_layer(xt))
    torch_out.backward(grad)
    _assert_within_torch_error(out, torch_out, ref_out)
    _assert_within_torch_error(x.grad, xt.grad, xr.grad)
    _assert_within_torch_error(layer.weight.grad, torch_layer.weight.grad, ref.weight.grad)
    _assert_within_torch_error(layer.bias.grad, torch_layer.bias.grad, ref.bias.grad)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_conv_forward_runs_wgmma(wgmma, dtype):
    x = torch.randn(8, 64, 48, 48, device="cuda").to(dtype).contiguous(memory_format=torch.channels_last)
    conv = fastnn.Conv2d(64, 256, 3, padding=1, device="cuda", dtype=dtype, activation="relu")
    out = conv(x)
    assert fastnn._C.cuda_last_gemm() == "wgmma"
    assert out.is_contiguous(memory_format=torch.channels_last)
    w, b = conv.weight.detach(), conv.bias.detach()
    reference = F.relu(F.conv2d(x.double(), w.double(), b.double(), padding=1))
    _assert_within_torch_error(out, F.relu(F.conv2d(x, w, b, padding=1)), reference)
