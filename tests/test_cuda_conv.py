"""fastnn's CUDA kernels for Conv1d / Conv2d (fastnn::conv2d, conv2d_with_preact, conv2d_backward)
against torch.nn (cuDNN) on the same GPU: outputs, output memory format and every gradient over a
generated grid of options (stride, padding int/tuple/'same'/'valid', dilation, groups incl.
depthwise, bias, padding_mode, NCHW / channels_last), Conv1d, larger shapes with big reductions,
activations, layouts and odd inputs, in float64 (tight), float32 (strict fp32) and float16 /
bfloat16 (the low-precision rule of tests/test_cuda_linear.py); gradcheck, opcheck, torch.compile,
CUDA graphs, autocast and device errors. The whole module skips without a GPU."""
import copy
import itertools
import random

import pytest
import torch
import torch.nn.functional as F
from torch._prims_common import suggest_memory_format

import fastnn
import fastnn.functional as FF
from test_conv import ACT_REF, DILATIONS, KERNELS, MODES, PADDINGS, STRIDES, _ids
from test_cuda_linear import (DEV, LOWP, _compile_backend, _identity, against_cpu_float64, assert_lowp_rule, compare,
                              dtype_id)
from test_cuda_linear import strict_fp32  # noqa: F401  (the autouse TF32-off fixture, active here too)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CUDA kernel tests need a GPU")

CL = torch.channels_last
RTOL32, ATOL32 = 2e-4, 2e-4  # the CPU conv tests' float32 tolerances (raised with sqrt(k), see assert_parity)


def pair(cls_ref, cls_fast, args, kwargs, dtype, activation="none"):
    """torch.nn and fastnn layers with the same weights, on the GPU in dtype (initialised in float32,
    then rounded)."""
    torch.manual_seed(0)
    ref = cls_ref(*args, **kwargs).to(DEV, dtype)
    fast = cls_fast(*args, **kwargs, activation=activation).to(DEV, dtype)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


def rand(*shape, dtype, cl=False):
    x = torch.randn(*shape, device=DEV).to(dtype)
    return x.contiguous(memory_format=CL) if cl else x


def _expected_format(x, fast):
    """fastnn's rule (its fake kernel's): the output is channels_last when the input or the weight
    is. None where the layer pads the input first (padding_mode other than zeros, or 'same' with an
    even window): then the padded copy's layout decides."""
    if fast.padding_mode != "zeros" or isinstance(fast.padding, str) and fast.padding == "same":
        return None
    if suggest_memory_format(x) == CL or suggest_memory_format(fast.weight) == CL:
        return CL
    return torch.contiguous_format


def run_conv(ref, fast, x, activation="none", view=_identity, check_format=True, grad_like_output=True):
    """Runs both layers forward and backward with one upstream gradient and compares output (and its
    memory format), grad_input, grad_weight, grad_bias: float64 / float32 parity with torch, float16 /
    bfloat16 by the low-precision rule against a float64 reference from the same rounded inputs.
    x is the leaf; `view` maps it to the layer's input (a slice or an expand survives that way).

    Output layout: fastnn's rule always (where it applies); torch's strides too, except in float64,
    where torch's CUDA convolution never runs channels_last (cudnn_conv_suggest_memory_format: NHWC
    disabled for double), while fastnn keeps the input's layout."""
    dtype = x.dtype
    ref64 = copy.deepcopy(ref).double() if dtype in LOWP else None
    x1 = x.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y1 = ACT_REF[activation](ref(view(x1)))
    y2 = fast(view(x2))
    assert y1.shape == y2.shape and y2.dtype == dtype and y2.device == y1.device, (y1.shape, y2.shape, y2.dtype)
    if check_format and y1.numel() > 0:
        if dtype != torch.float64:
            assert y2.stride() == y1.stride(), f"output strides {y2.stride()}, torch's {y1.stride()}"
        expected = _expected_format(view(x2), fast)
        if expected is not None and y2.dim() == 4:
            assert y2.is_contiguous(memory_format=expected), f"output should be {expected}, strides {y2.stride()}"
    if grad_like_output:
        g = torch.randn_like(y1, dtype=torch.float32).to(dtype)
    else:  # an upstream gradient in the other layout than the output
        g = torch.randn(y1.shape, device=DEV).to(dtype)
        if y1.dim() == 4 and y1.is_contiguous():
            g = g.contiguous(memory_format=CL)
    y1.backward(g)
    y2.backward(g)
    mine = [y2, x2.grad, fast.weight.grad] + ([fast.bias.grad] if fast.bias is not None else [])
    theirs = [y1, x1.grad, ref.weight.grad] + ([ref.bias.grad] if ref.bias is not None else [])
    refs = None
    if ref64 is not None:
        x64 = x.detach().double().requires_grad_()
        y64 = ACT_REF[activation](ref64(view(x64)))
        y64.backward(g.double())
        refs = [y64, x64.grad, ref64.weight.grad] + ([ref64.bias.grad] if ref64.bias is not None else [])
    w = fast.weight
    taps = w[0, 0].numel()
    k_out = w.shape[1] * taps
    k_in = w.shape[0] // fast.groups * taps
    k_w = y1.numel() // w.shape[0]  # batch x output pixels
    names = ["output", "grad_input", "grad_weight", "grad_bias"]
    compare(mine, theirs, refs, [k_out, k_in, k_w, k_w], names, RTOL32, ATOL32)


# ---- generated grid ---------------------------------------------------------------------------------
# (in_channels, out_channels, groups): first layers (3 channels), dense, grouped, depthwise (also
# with a channel multiplier), odd channel counts, 64 channels (a 576-long reduction) dense and
# depthwise. Kernels, strides, paddings, dilations and padding modes: the CPU test's lists.
CHANNELS = [(3, 8, 1), (8, 16, 1), (8, 12, 2), (8, 8, 8), (8, 16, 8), (5, 7, 1), (64, 64, 1), (64, 64, 64),
            (3, 6, 3)]


def _grid2d(n, seed):
    full = list(itertools.product(CHANNELS, KERNELS, STRIDES, PADDINGS, DILATIONS, [True, False], MODES,
                                  [False, True]))
    full = [c for c in full if not (c[3] == "same" and c[2] != 1)]
    return random.Random(seed).sample(full, n)


GRID = [(dtype, case) for dtype, n, seed in [(torch.float64, 90, 11), (torch.float32, 60, 12),
                                             (torch.bfloat16, 50, 13), (torch.float16, 30, 14)]
        for case in _grid2d(n, seed)]


@pytest.mark.parametrize("dtype,case", GRID, ids=[f"{dtype_id(d)}-{_ids(c)}" for d, c in GRID])
def test_conv2d_grid(dtype, case):
    (cin, cout, g), k, s, p, d, bias, mode, cl = case
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (cin, cout, k),
                     dict(stride=s, padding=p, dilation=d, groups=g, bias=bias, padding_mode=mode), dtype)
    run_conv(ref, fast, rand(2, cin, 7, 8, dtype=dtype, cl=cl))


CONV1D_FULL = [c for c in itertools.product([(4, 6, 1), (6, 6, 6), (4, 2, 2), (3, 8, 1)], [1, 3, 4], [1, 2],
                                            [0, 2, "same", "valid"], [1, 3], [True, False], MODES)
               if not (c[3] == "same" and c[2] != 1)]
CONV1D_GRID = [(dtype, case) for dtype, n, seed in [(torch.float64, 24, 21), (torch.float32, 12, 22),
                                                    (torch.bfloat16, 12, 23), (torch.float16, 8, 24)]
               for case in random.Random(seed).sample(CONV1D_FULL, n)]


@pytest.mark.parametrize("dtype,case", CONV1D_GRID, ids=[f"{dtype_id(d)}-{c}" for d, c in CONV1D_GRID])
def test_conv1d_grid(dtype, case):
    (cin, cout, g), k, s, p, d, bias, mode = case
    ref, fast = pair(torch.nn.Conv1d, fastnn.Conv1d, (cin, cout, k),
                     dict(stride=s, padding=p, dilation=d, groups=g, bias=bias, padding_mode=mode), dtype)
    run_conv(ref, fast, rand(3, cin, 13, dtype=dtype))


# ---- larger shapes: several tiles, long reductions (576 for the output, 50176 for the weight gradient
# of 16x64x56x56), pointwise, strided, a 7x7/2 stem on an odd image, depthwise and grouped at scale.
# Smooth activations only (see test_cuda_linear.LARGE).
LARGER = [
    dict(cin=64, cout=64, k=3, s=1, p=1, g=1, batch=16, size=(56, 56), act="none"),
    dict(cin=256, cout=64, k=1, s=1, p=0, g=1, batch=8, size=(28, 28), act="silu"),
    dict(cin=64, cout=128, k=3, s=2, p=1, g=1, batch=8, size=(28, 28), act="none"),
    dict(cin=3, cout=32, k=7, s=2, p=3, g=1, batch=4, size=(45, 61), act="none"),
    dict(cin=128, cout=128, k=3, s=1, p=1, g=128, batch=8, size=(28, 28), act="none"),
    dict(cin=96, cout=48, k=(3, 5), s=1, p=(1, 2), g=4, batch=4, size=(19, 23), act="gelu"),
    dict(cin=37, cout=45, k=3, s=1, p=2, g=1, batch=5, size=(17, 13), d=2, act="tanh"),
]
LARGER_CASES = [(i, cl, dtype) for i in range(len(LARGER)) for cl in (False, True)
                for dtype in (torch.float32, torch.bfloat16, torch.float16)]


def _larger_id(case):
    i, cl, dtype = case
    c = LARGER[i]
    return (f"{c['batch']}x{c['cin']}x{c['size'][0]}x{c['size'][1]}-k{c['k']}-s{c['s']}-g{c['g']}-{c['act']}-"
            f"{'cl' if cl else 'nchw'}-{dtype_id(dtype)}")


@pytest.mark.parametrize("case", LARGER_CASES, ids=_larger_id)
def test_conv2d_larger(case):
    i, cl, dtype = case
    c = LARGER[i]
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (c["cin"], c["cout"], c["k"]),
                     dict(stride=c["s"], padding=c["p"], groups=c["g"], dilation=c.get("d", 1)), dtype, c["act"])
    run_conv(ref, fast, rand(c["batch"], c["cin"], *c["size"], dtype=dtype, cl=cl), c["act"])


# ---- activations (fused epilogue and their gradients) ------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "tanh", "sigmoid"])
@pytest.mark.parametrize("layout", ["nchw", "cl", "depthwise", "conv1d"])
def test_activation(dtype, activation, layout):
    if layout == "conv1d":
        ref, fast = pair(torch.nn.Conv1d, fastnn.Conv1d, (4, 6, 3), dict(padding=1), dtype, activation)
        x = rand(2, 4, 11, dtype=dtype)
    else:
        groups = 6 if layout == "depthwise" else 1
        ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (6, 6, 3), dict(padding=1, groups=groups), dtype, activation)
        x = rand(2, 6, 7, 8, dtype=dtype, cl=layout == "cl")
    run_conv(ref, fast, x, activation)


def test_activation_no_grad_path():
    # gelu without autograd runs the single-output op; with autograd, the preact op
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (3, 4, 3), {}, torch.float64, "gelu")
    x = rand(2, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), F.gelu(ref(x)), rtol=1e-9, atol=1e-9)


# ---- layouts and odd inputs -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("which", ["input", "weight", "both"])
@pytest.mark.parametrize("grad_like_output", [True, False], ids=["grad-same-layout", "grad-other-layout"])
def test_channels_last_combinations(dtype, which, grad_like_output):
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (5, 7, 3), dict(padding=1), dtype)
    x = rand(2, 5, 6, 7, dtype=dtype, cl=which in ("input", "both"))
    if which in ("weight", "both"):
        ref, fast = ref.to(memory_format=CL), fast.to(memory_format=CL)
    run_conv(ref, fast, x, grad_like_output=grad_like_output)
    assert fast(x).is_contiguous(memory_format=CL)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("kind", ["transposed", "sliced", "expanded", "channel_stride"])
def test_non_contiguous_input(dtype, kind):
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (4, 6, 3), dict(padding=1), dtype)
    if kind == "channel_stride":
        x, view = rand(2, 8, 7, 8, dtype=dtype), lambda t: t[:, ::2]
    else:
        x = rand(2, 4, 9, 16, dtype=dtype)
        view = {"transposed": lambda t: t.transpose(2, 3), "sliced": lambda t: t[:, :, ::2, 1::2],
                "expanded": lambda t: t[:1, :, :5, :6].expand(3, 4, 5, 6)}[kind]
    assert not view(x).is_contiguous()
    run_conv(ref, fast, x, view=view)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=dtype_id)
def test_non_contiguous_weight_functional(dtype):
    x = rand(2, 4, 7, 7, dtype=dtype)
    w = rand(3, 3, 4, 6, dtype=dtype).permute(3, 2, 1, 0)  # [6, 4, 3, 3], strided
    assert not w.is_contiguous()
    out = FF.conv2d(x, w, padding=1)
    ref = F.conv2d(x, w, padding=1)
    if dtype in LOWP:
        assert_lowp_rule(out, ref, F.conv2d(x.double(), w.double(), padding=1), "output")
    else:
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
@pytest.mark.parametrize("groups", [1, 4])
def test_empty_batch(dtype, cl, groups):
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (4, 8, 3), dict(padding=1, groups=groups), dtype)
    run_conv(ref, fast, rand(0, 4, 6, 6, dtype=dtype, cl=cl), check_format=False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=dtype_id)
def test_unbatched(dtype):
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (3, 5, 3), dict(padding=1), dtype)
    run_conv(ref, fast, rand(3, 6, 7, dtype=dtype))
    ref, fast = pair(torch.nn.Conv1d, fastnn.Conv1d, (3, 5, 3), dict(padding="same", padding_mode="reflect"), dtype)
    run_conv(ref, fast, rand(3, 9, dtype=dtype))


def test_only_some_gradients():
    dtype = torch.float64
    ref, fast = pair(torch.nn.Conv2d, fastnn.Conv2d, (4, 6, 3), dict(padding=1), dtype)
    x = rand(2, 4, 6, 6, dtype=dtype)
    fast.weight.requires_grad_(False)
    xr = x.clone().requires_grad_()
    fast(xr).sum().backward()
    assert fast.weight.grad is None and fast.bias.grad is not None and xr.grad is not None
    xr2 = x.clone().requires_grad_()
    ref(xr2).sum().backward()
    torch.testing.assert_close(xr.grad, xr2.grad, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(fast.bias.grad, ref.bias.grad, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("cl", [False, True], ids=["nchw", "cl"])
def test_backward_masks(dtype, cl):
    """conv2d_backward computes exactly the gradients asked for (empty tensors for the others); saved
    is the pre-activation for gelu/silu, the output for relu/tanh/sigmoid, unused for none."""
    x = rand(2, 4, 7, 6, dtype=dtype, cl=cl)
    w = (torch.randn(6, 2, 3, 3, device=DEV) / 18 ** 0.5).to(dtype)
    b = torch.randn(6, device=DEV).to(dtype)
    conv = ([2, 1], [1, 1], [1, 2], 2)  # stride, padding, dilation, groups
    for act in ("none", "gelu", "sigmoid"):
        out, z = torch.ops.fastnn.conv2d_with_preact(x, w, b, *conv, act)
        g = torch.randn(out.shape, device=DEV).to(dtype)
        saved = z if act == "gelu" else (out if act != "none" else torch.empty(0, device=DEV, dtype=dtype))
        ref_in = [t.detach().double().requires_grad_() for t in (x, w, b)]
        y64 = ACT_REF[act](F.conv2d(*ref_in, *conv))
        grads64 = torch.autograd.grad(y64, ref_in, g.double())
        for mask in itertools.product([True, False], repeat=3):
            got = torch.ops.fastnn.conv2d_backward(g, x, w, saved, *conv, act, list(mask))
            for wanted, gt, want64, name, like in zip(mask, got, grads64, ("input", "weight", "bias"), (x, w, b)):
                if not wanted:
                    assert gt.numel() == 0, f"{act} {mask}: grad_{name} not asked for, got shape {tuple(gt.shape)}"
                    continue
                assert gt.shape == like.shape and gt.dtype == dtype
                tol = 1e-9 if dtype == torch.float64 else (2e-4 if dtype == torch.float32 else 5e-2)
                torch.testing.assert_close(gt.double(), want64, rtol=tol, atol=tol,
                                           msg=lambda m: f"{act} mask {mask} grad_{name}: {m}")


def test_module_drop_in_on_cuda():
    fast = fastnn.Conv2d(4, 6, 3, stride=2, padding="valid", bias=False).to(DEV)
    ref = torch.nn.Conv2d(4, 6, 3, stride=2, padding="valid", bias=False).to(DEV)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, 4, 9, 9, device=DEV)
    torch.testing.assert_close(fast(x), ref(x), rtol=2e-4, atol=2e-4)
    # convert swaps CUDA bfloat16 layers (its probe runs the CUDA kernel)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 4, 3, groups=4)).to(DEV, torch.bfloat16)
    xx = torch.randn(2, 3, 8, 8, device=DEV).to(torch.bfloat16)
    expected = model(xx)
    summary = fastnn.convert(model)
    assert len(summary.swapped) == 2 and not summary.left, str(summary)
    torch.testing.assert_close(model(xx), expected, rtol=3e-2, atol=3e-2)


# ---- gradcheck, opcheck ------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [
    dict(cin=3, cout=4, k=3, s=1, p=1, d=1, g=1, cl=False, act="none"),
    dict(cin=4, cout=4, k=(2, 3), s=2, p=(1, 0), d=(1, 2), g=2, cl=True, act="tanh"),
    dict(cin=4, cout=4, k=3, s=(2, 1), p=1, d=1, g=4, cl=False, act="gelu"),
    dict(cin=4, cout=4, k=3, s=1, p=2, d=2, g=4, cl=True, act="relu"),
])
def test_gradcheck(cfg):
    torch.manual_seed(1)
    x = torch.randn(2, cfg["cin"], 5, 6, dtype=torch.float64, device=DEV)
    if cfg["cl"]:
        x = x.contiguous(memory_format=CL)
    k = cfg["k"] if isinstance(cfg["k"], tuple) else (cfg["k"], cfg["k"])
    w = torch.randn(cfg["cout"], cfg["cin"] // cfg["g"], *k, dtype=torch.float64, device=DEV)
    b = torch.randn(cfg["cout"], dtype=torch.float64, device=DEV)

    def f(x, w, b):
        return FF.conv2d(x, w, b, cfg["s"], cfg["p"], cfg["d"], cfg["g"], cfg["act"])
    assert torch.autograd.gradcheck(f, (x.requires_grad_(), w.requires_grad_(), b.requires_grad_()))


def test_gradcheck_conv1d():
    x = torch.randn(2, 4, 9, dtype=torch.float64, device=DEV, requires_grad=True)
    w = torch.randn(6, 2, 3, dtype=torch.float64, device=DEV, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, device=DEV, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: FF.conv1d(x, w, b, 2, 1, 2, 2, "silu"), (x, w, b))


def _opcheck_args():
    out = []
    for dtype, cl, groups, act in [(torch.float64, False, 1, "none"), (torch.float64, True, 2, "relu"),
                                   (torch.float64, False, 4, "gelu"), (torch.float64, True, 4, "sigmoid"),
                                   (torch.bfloat16, True, 1, "gelu"), (torch.bfloat16, False, 2, "none")]:
        x = rand(2, 4, 6, 5, dtype=dtype, cl=cl)
        w = rand(4, 4 // groups, 3, 3, dtype=dtype)
        out.append((x, w, rand(4, dtype=dtype), [1, 2], [1, 1], [1, 1], groups, act))
    return out


@pytest.mark.parametrize("case", range(6), ids=lambda i: ["f64-g1-none", "f64-cl-g2-relu", "f64-g4-gelu",
                                                          "f64-cl-g4-sigmoid", "bf16-cl-g1-gelu", "bf16-g2-none"][i])
def test_opcheck(case):
    x, w, b, s, p, d, g, act = _opcheck_args()[case]
    x, w, b = (t.clone().requires_grad_() for t in (x, w, b))
    torch.library.opcheck(torch.ops.fastnn.conv2d.default, (x, w, b, s, p, d, g, act))
    torch.library.opcheck(torch.ops.fastnn.conv2d_with_preact.default, (x, w, b, s, p, d, g, act))
    gy = torch.randn_like(torch.ops.fastnn.conv2d(x, w, b, s, p, d, g, act))
    saved = torch.randn_like(gy)
    for mask in ([True, True, True], [False, True, False], [True, False, True]):
        torch.library.opcheck(torch.ops.fastnn.conv2d_backward.default,
                              (gy, x.detach(), w.detach(), saved, s, p, d, g, act, mask))


# ---- torch.compile, CUDA graphs -------------------------------------------------------------------------
def _conv_model(dtype):
    torch.manual_seed(0)
    return torch.nn.Sequential(fastnn.Conv2d(3, 8, 3, padding="same", activation="relu"),
                               fastnn.Conv2d(8, 8, 3, stride=2, groups=8, padding_mode="reflect", padding=1),
                               torch.nn.Flatten(2), fastnn.Conv1d(8, 4, 5, padding=2, activation="gelu")).to(DEV, dtype)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compile_fullgraph(backend):
    dtype = torch.float64 if backend == "aot_eager" else torch.float32
    model = _conv_model(dtype)
    x = torch.randn(2, 3, 8, 8, device=DEV, dtype=dtype, requires_grad=True)
    compiled = torch.compile(model, fullgraph=True, backend=_compile_backend(backend))
    y_ref = model(x)
    y = compiled(x)
    torch.testing.assert_close(y, y_ref)
    g_ref = torch.autograd.grad(y_ref.square().sum(), [x, *model.parameters()])
    g = torch.autograd.grad(y.square().sum(), [x, *model.parameters()])
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)


def test_compile_inductor_channels_last():
    _compile_backend("inductor")
    conv = fastnn.Conv2d(4, 6, 3, padding=1, activation="silu").to(DEV).to(memory_format=CL)
    x = torch.randn(2, 4, 7, 7, device=DEV).contiguous(memory_format=CL).requires_grad_()
    compiled = torch.compile(conv, fullgraph=True)
    y = compiled(x)
    torch.testing.assert_close(y, conv(x))
    assert y.is_contiguous(memory_format=CL)
    y.sum().backward()
    assert x.grad is not None and conv.weight.grad is not None


def test_cuda_graph_capture_forward_backward():
    model = torch.nn.Sequential(fastnn.Conv2d(4, 8, 3, padding=1, activation="relu"),
                                fastnn.Conv2d(8, 8, 3, padding=1, groups=8)).to(DEV).to(memory_format=CL)
    eager = copy.deepcopy(model)
    static_x = torch.randn(3, 4, 9, 10, device=DEV).contiguous(memory_format=CL).requires_grad_()
    static_g = torch.randn(3, 8, 9, 10, device=DEV).contiguous(memory_format=CL)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model.zero_grad(set_to_none=True)
            static_x.grad = None
            model(static_x).backward(static_g)
    torch.cuda.current_stream().wait_stream(side)
    model.zero_grad(set_to_none=True)
    static_x.grad = None
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = model(static_x)
        static_y.backward(static_g)
    for _ in range(2):
        new_x = torch.randn(3, 4, 9, 10, device=DEV).contiguous(memory_format=CL)
        new_g = torch.randn(3, 8, 9, 10, device=DEV).contiguous(memory_format=CL)
        with torch.no_grad():
            static_x.copy_(new_x)
            static_g.copy_(new_g)
        graph.replay()
        torch.cuda.synchronize()
        xe = new_x.clone().requires_grad_()
        eager.zero_grad(set_to_none=True)
        ye = eager(xe)
        ye.backward(new_g)
        torch.testing.assert_close(static_y, ye)
        torch.testing.assert_close(static_x.grad, xe.grad)
        for p, q in zip(model.parameters(), eager.parameters()):
            torch.testing.assert_close(p.grad, q.grad)


# ---- autocast ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", LOWP, ids=dtype_id)
@pytest.mark.parametrize("act", ["none", "gelu"])
def test_autocast(dtype, act):
    """Under torch.autocast('cuda', dtype) fastnn.Conv2d computes in the autocast dtype as nn.Conv2d
    does (gelu with autograd goes through conv2d_with_preact, which needs the cast too)."""
    torch.manual_seed(0)
    ref = torch.nn.Conv2d(8, 16, 3, padding=1).to(DEV).to(memory_format=CL)
    fast = fastnn.Conv2d(8, 16, 3, padding=1, activation=act).to(DEV).to(memory_format=CL)
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(4, 8, 9, 10, device=DEV).contiguous(memory_format=CL)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    with torch.autocast("cuda", dtype=dtype):
        y_ref = ACT_REF[act](ref(x1))
        y = fast(x2)
    assert y_ref.dtype == dtype and y.dtype == y_ref.dtype, (y.dtype, y_ref.dtype)
    g = torch.randn_like(y_ref, dtype=torch.float32).to(dtype)
    y_ref.backward(g)
    y.backward(g)
    ref_in = [t.detach().to(dtype).double().requires_grad_() for t in (x, ref.weight, ref.bias)]
    y64 = ACT_REF[act](F.conv2d(ref_in[0], ref_in[1], ref_in[2], padding=1))
    y64.backward(g.double())
    for name, mine, theirs, r in [("output", y, y_ref, y64), ("grad_input", x2.grad, x1.grad, ref_in[0].grad),
                                  ("grad_weight", fast.weight.grad, ref.weight.grad, ref_in[1].grad),
                                  ("grad_bias", fast.bias.grad, ref.bias.grad, ref_in[2].grad)]:
        if name != "output":
            assert mine.dtype == torch.float32, (name, mine.dtype)
        assert_lowp_rule(mine, theirs, r, f"autocast {name}")


# ---- errors -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["weight_on_cpu", "input_on_cpu", "bias_on_cpu", "module_on_cpu"])
def test_device_mismatch(where):
    x = torch.randn(2, 4, 6, 6, device=DEV)
    w = torch.randn(6, 4, 3, 3, device=DEV)
    b = torch.randn(6, device=DEV)
    with pytest.raises(RuntimeError, match="must be on the input's device"):
        if where == "weight_on_cpu":
            FF.conv2d(x, w.cpu(), b.cpu(), padding=1)
        elif where == "input_on_cpu":
            FF.conv2d(x.cpu(), w, b, padding=1)
        elif where == "bias_on_cpu":
            FF.conv2d(x, w, b.cpu(), padding=1)
        else:
            fastnn.Conv2d(4, 6, 3, padding=1)(x)


# ---- a small subset for compute-sanitizer (pytest -m sanitize); the reference is fastnn's own CPU
# kernels in float64 (no cuDNN under the sanitizer) -----------------------------------------------------
SANITIZE = [
    (torch.float32, "nchw", dict(cin=8, cout=16, k=3, stride=2, padding=1, groups=2), "relu"),
    (torch.bfloat16, "cl", dict(cin=16, cout=16, k=3, padding=1, groups=16), "gelu"),
    (torch.float16, "cl", dict(cin=8, cout=12, k=(2, 3), padding="same", dilation=(2, 1), bias=False), "none"),
    (torch.float64, "nchw", dict(cin=5, cout=7, k=3, padding=(2, 1), dilation=2, padding_mode="reflect"), "tanh"),
    (torch.bfloat16, "conv1d", dict(cin=6, cout=4, k=3, stride=2, padding=1, groups=2), "silu"),
]


def _sanitize_id(case):
    dtype, layout, kw, act = case
    return f"{dtype_id(dtype)}-{layout}-{act}"


@pytest.mark.sanitize
@pytest.mark.parametrize("case", SANITIZE, ids=_sanitize_id)
def test_sanitize_conv(case):
    dtype, layout, kw, act = case
    kw = dict(kw)
    cin, cout, k = kw.pop("cin"), kw.pop("cout"), kw.pop("k")
    cls = fastnn.Conv1d if layout == "conv1d" else fastnn.Conv2d
    torch.manual_seed(0)
    cpu64 = cls(cin, cout, k, activation=act, **kw).double()
    fast = copy.deepcopy(cpu64).to(DEV, dtype)
    cpu64.load_state_dict({n: t.to(dtype).double().cpu() for n, t in fast.state_dict().items()})  # rounded weights
    if layout == "cl":
        fast = fast.to(memory_format=CL)
    sizes = [(2, cin, 13)] if layout == "conv1d" else [(2, cin, 7, 9), (0, cin, 5, 6)]
    sizes += [(cin, 11)] if layout == "conv1d" else [(cin, 6, 8)]   # an empty batch, an unbatched input
    for size in sizes:
        x = torch.randn(*size).to(dtype)
        xg = x.to(DEV)
        if layout == "cl" and xg.dim() == 4:
            xg = xg.contiguous(memory_format=CL)
        xg.requires_grad_()
        fast.zero_grad(set_to_none=True)
        cpu64.zero_grad(set_to_none=True)
        y = fast(xg)
        g = torch.randn(y.shape).to(dtype)
        y.backward(g.to(DEV))
        x64 = x.detach().double().requires_grad_()
        y64 = cpu64(x64)
        y64.backward(g.double())
        got = [y, xg.grad, fast.weight.grad] + ([fast.bias.grad] if fast.bias is not None else [])
        want = [y64, x64.grad, cpu64.weight.grad] + ([cpu64.bias.grad] if cpu64.bias is not None else [])
        for name, mine, ref in zip(["output", "grad_input", "grad_weight", "grad_bias"], got, want):
            against_cpu_float64(mine, ref, f"{tuple(size)} {name}")
