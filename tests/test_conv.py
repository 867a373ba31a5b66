"""fastnn.Conv1d / Conv2d against torch.nn: outputs and every gradient over a generated grid
of options, layouts, dtypes and edge cases; gradcheck; opcheck; torch.compile."""
import itertools
import random

import pytest
import torch

import fastnn
import fastnn.functional as FF

CL = torch.channels_last
TOL = {torch.float64: dict(atol=1e-10, rtol=1e-10), torch.float32: dict(atol=2e-4, rtol=2e-4)}


def _pair_mods(cls_ref, cls_fast, args, kwargs, dtype, activation="none"):
    torch.manual_seed(0)
    ref = cls_ref(*args, **kwargs, dtype=dtype)
    fast = cls_fast(*args, **kwargs, dtype=dtype, activation=activation)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


ACT_REF = {"none": lambda y: y, "relu": torch.relu, "gelu": torch.nn.functional.gelu,
           "silu": torch.nn.functional.silu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}


def run_parity(ref, fast, x, dtype, activation="none", check_strides=True):
    """Runs both layers forward and backward with the same upstream gradient and compares
    output, output strides, grad_input, grad_weight, grad_bias."""
    x1 = x.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y1 = ACT_REF[activation](ref(x1))
    y2 = fast(x2)
    assert y1.shape == y2.shape
    if check_strides and y1.numel() > 0:
        assert y1.stride() == y2.stride(), (y1.stride(), y2.stride())
    tol = TOL[dtype]
    torch.testing.assert_close(y2, y1, **tol)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x1.grad, **tol)
    torch.testing.assert_close(fast.weight.grad, ref.weight.grad, **tol)
    if ref.bias is not None:
        torch.testing.assert_close(fast.bias.grad, ref.bias.grad, **tol)


# ---- generated grid ---------------------------------------------------------------------
# (in_channels, out_channels, groups): dense, grouped, depthwise (own kernel), depthwise
# with a channel multiplier (GEMM path), odd channel counts.
CHANNELS = [(4, 6, 1), (4, 6, 2), (6, 6, 6), (3, 6, 3), (5, 3, 1)]
KERNELS = [1, 3, (2, 3)]
STRIDES = [1, 2, (1, 3)]
PADDINGS = [0, 1, (2, 1), "same", "valid"]
DILATIONS = [1, 2, (2, 1)]
MODES = ["zeros", "reflect", "replicate", "circular"]


def _grid2d(n, seed):
    rng = random.Random(seed)
    full = list(itertools.product(CHANNELS, KERNELS, STRIDES, PADDINGS, DILATIONS, [True, False], MODES,
                                  [False, True]))
    full = [c for c in full if not (c[3] == "same" and c[2] != 1)]
    return rng.sample(full, n)


def _ids(case):
    (cin, cout, g), k, s, p, d, bias, mode, cl = case
    return f"{cin}-{cout}-g{g}-k{k}-s{s}-p{p}-d{d}-{'b' if bias else 'nb'}-{mode}-{'cl' if cl else 'nchw'}"


GRID64 = _grid2d(260, 1)
GRID32 = _grid2d(50, 2)


def _conv2d_case(case, dtype, batch=2, size=(7, 8)):
    (cin, cout, g), k, s, p, d, bias, mode, cl = case
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (cin, cout, k),
                           dict(stride=s, padding=p, dilation=d, groups=g, bias=bias, padding_mode=mode), dtype)
    x = torch.randn(batch, cin, *size, dtype=dtype)
    if cl:
        x = x.contiguous(memory_format=CL)
    return ref, fast, x


@pytest.mark.parametrize("case", GRID64, ids=_ids)
def test_conv2d_grid_float64(case):
    ref, fast, x = _conv2d_case(case, torch.float64)
    run_parity(ref, fast, x, torch.float64)


@pytest.mark.parametrize("case", GRID32, ids=_ids)
def test_conv2d_grid_float32(case):
    ref, fast, x = _conv2d_case(case, torch.float32)
    run_parity(ref, fast, x, torch.float32)


CONV1D_GRID = list(itertools.product([(4, 6, 1), (6, 6, 6), (4, 2, 2)], [1, 3, 4], [1, 2],
                                     [0, 2, "same", "valid"], [1, 3], [True, False], MODES))
CONV1D_GRID = [c for c in CONV1D_GRID if not (c[3] == "same" and c[2] != 1)]
CONV1D_GRID = random.Random(3).sample(CONV1D_GRID, 80)


@pytest.mark.parametrize("case", CONV1D_GRID, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_conv1d_grid(case, dtype):
    (cin, cout, g), k, s, p, d, bias, mode = case
    ref, fast = _pair_mods(torch.nn.Conv1d, fastnn.Conv1d, (cin, cout, k),
                           dict(stride=s, padding=p, dilation=d, groups=g, bias=bias, padding_mode=mode), dtype)
    run_parity(ref, fast, torch.randn(3, cin, 13, dtype=dtype), dtype)


# ---- shapes that cross the GEMM blocking (several K blocks, panels, threads) ---------------
@pytest.mark.parametrize("cl", [False, True])
@pytest.mark.parametrize("cfg", [
    dict(cin=70, cout=40, k=3, s=1, p=1, g=1, batch=5, size=(13, 21)),    # K = 630 > KC
    dict(cin=70, cout=40, k=3, s=2, p=1, g=1, batch=3, size=(17, 15)),    # strided: col2im path
    dict(cin=40, cout=20, k=1, s=1, p=0, g=1, batch=3, size=(41, 43)),    # pointwise, > 1 panel of pixels
    dict(cin=24, cout=36, k=(3, 5), s=1, p=(1, 2), g=4, batch=4, size=(11, 12)),
    dict(cin=32, cout=32, k=5, s=2, p=2, g=32, batch=3, size=(15, 14)),   # depthwise, strided
    dict(cin=20, cout=20, k=3, s=1, p=1, g=20, batch=2, size=(9, 70)),    # depthwise, > 64 columns
    dict(cin=8, cout=8, k=(3, 5), s=1, p=(3, 1), g=8, batch=2, size=(6, 21), d=(2, 3)),  # dilated depthwise
    dict(cin=6, cout=10, k=(2, 4), s=1, p=(0, 3), g=2, batch=2, size=(9, 40), d=(3, 2)),  # dilated, grouped
    dict(cin=3, cout=12, k=3, s=1, p=1, g=1, batch=3, size=(11, 37)),    # first layer: small-window packing
    dict(cin=1, cout=8, k=(2, 5), s=(1, 2), p=(1, 2), g=1, batch=2, size=(7, 41)),
    dict(cin=3, cout=8, k=2, s=1, p=0, g=1, batch=2, size=(5, 19), d=(2, 1)),
])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # float32 runs the AVX-512 packers
def test_conv2d_larger(cfg, cl, dtype):
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (cfg["cin"], cfg["cout"], cfg["k"]),
                           dict(stride=cfg["s"], padding=cfg["p"], groups=cfg["g"], dilation=cfg.get("d", 1)), dtype)
    x = torch.randn(cfg["batch"], cfg["cin"], *cfg["size"], dtype=dtype)
    run_parity(ref, fast, x.contiguous(memory_format=CL) if cl else x, dtype)


# ---- float32: the direct (unpacked) kernel, channels_last (any channel count) and NCHW (>= 8 per group) ----
# From 64 output channels per group it runs 6 x 64 tiles (two per 12 pixels), below that 12 x 32.
# Cases cross its edges: runs of a tile's pixels that wrap to the next output row or meet the
# padding at either end of a row, pixel counts that are not a multiple of 12 (partial tiles), out
# channels that are not a multiple of 32 (masked strips), several weight blocks (taps * C >
# 512), groups, stride, dilation, asymmetric padding, a 7x7 window; the input gradient of a
# stride-1 convolution runs the same kernel with flipped weights and negative padding. With 12+
# channels per group the channels_last weight gradient runs its direct kernel as well (its 12-row
# tiles of window values cross from one tap to the next unless 12 divides C). NCHW
# (except 1x1) is read channels_last after a transposing copy when its channel count is a multiple
# of 4, in place (channels H*W apart) otherwise; whole-row output tiles go into the channel planes
# by register transposes, others one value at a time.
@pytest.mark.parametrize("cfg", [
    dict(cin=8, cout=16, k=3, s=1, p=1, g=1, batch=3, size=(5, 7)),
    dict(cin=64, cout=64, k=3, s=1, p=1, g=1, batch=2, size=(9, 10)),     # 576 > 512: two weight blocks
    dict(cin=16, cout=33, k=5, s=1, p=2, g=1, batch=2, size=(11, 9), d=2),
    dict(cin=24, cout=40, k=3, s=2, p=(0, 1), g=1, batch=3, size=(13, 8)),
    dict(cin=32, cout=48, k=3, s=1, p=0, g=2, batch=2, size=(8, 12)),     # 16 channels per group
    dict(cin=8, cout=8, k=7, s=1, p=3, g=1, batch=1, size=(10, 13)),      # 49 taps
    dict(cin=40, cout=70, k=1, s=1, p=0, g=1, batch=2, size=(7, 5)),
    dict(cin=48, cout=20, k=3, s=1, p=0, g=1, batch=2, size=(10, 9)),    # weight-grad strips across taps
    dict(cin=3, cout=32, k=3, s=1, p=1, g=1, batch=2, size=(17, 29)),    # a first layer: 3 channels
    dict(cin=3, cout=20, k=7, s=2, p=3, g=1, batch=1, size=(23, 30)),    # ResNet-style 7x7/2 stem
    dict(cin=1, cout=8, k=3, s=3, p=2, g=1, batch=2, size=(14, 40), d=2),
    dict(cin=16, cout=32, k=3, s=1, p=1, g=1, batch=1, size=(6, 50)),    # rows several tiles long
    dict(cin=10, cout=20, k=3, s=1, p=1, g=1, batch=2, size=(7, 15)),    # NCHW read in place (channels % 4)
    dict(cin=18, cout=12, k=3, s=2, p=1, g=2, batch=2, size=(9, 26)),    # the same, grouped, strided
    dict(cin=16, cout=100, k=3, s=1, p=1, g=1, batch=2, size=(5, 26)),   # 64-wide strips: 64 + 36 masked
    dict(cin=16, cout=128, k=3, s=2, p=1, g=2, batch=1, size=(9, 30)),   # 64 output channels per group
    dict(cin=13, cout=36, k=3, s=1, p=1, g=1, batch=2, size=(6, 11)),    # weight-grad tiles across taps
    dict(cin=26, cout=8, k=(2, 3), s=2, p=1, g=2, batch=2, size=(9, 10)),
])
@pytest.mark.parametrize("activation", ["none", "relu"])
@pytest.mark.parametrize("cl", [True, False])
def test_direct_kernel(cfg, activation, cl):
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (cfg["cin"], cfg["cout"], cfg["k"]),
                           dict(stride=cfg["s"], padding=cfg["p"], groups=cfg["g"], dilation=cfg.get("d", 1)),
                           torch.float32, activation=activation)
    x = torch.randn(cfg["batch"], cfg["cin"], *cfg["size"])
    run_parity(ref, fast, x.contiguous(memory_format=CL) if cl else x, torch.float32, activation=activation)


# ---- float32 depthwise kernels: whole vectors of channels, stride 1 runs 8-pixel blocks ------------
# (the forward and input gradient with 3/5/7-wide windows, the 3x3 weight gradient); rows that are
# shorter than a block, rows with a partial last block, padding at both ends of a row (edge blocks)
# and padding wider than the window's reach.
@pytest.mark.parametrize("cfg", [
    dict(c=32, k=3, p=1, batch=2, size=(9, 21)),
    dict(c=16, k=3, p=0, batch=2, size=(5, 8)),      # 6 output columns: no whole block
    dict(c=48, k=3, p=2, batch=1, size=(7, 30)),
    dict(c=32, k=5, p=2, batch=2, size=(8, 19)),
    dict(c=16, k=7, p=3, batch=1, size=(10, 17)),
    dict(c=16, k=3, p=4, batch=1, size=(4, 9)),      # columns entirely in the padding
])
@pytest.mark.parametrize("cl", [True, False])
def test_depthwise_kernels(cfg, cl):
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (cfg["c"], cfg["c"], cfg["k"]),
                           dict(stride=1, padding=cfg["p"], groups=cfg["c"]), torch.float32)
    x = torch.randn(cfg["batch"], cfg["c"], *cfg["size"])
    run_parity(ref, fast, x.contiguous(memory_format=CL) if cl else x, torch.float32)


@pytest.mark.parametrize("threads", [1, 3])
def test_thread_counts(threads):
    """Other thread counts than the machine's split the work (and the weight-gradient partial sums)
    differently: float64 runs the packed GEMM paths, float32 the direct and depthwise kernels."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for cl in (False, True):
            for dtype, (cin, cout, groups) in [(torch.float64, (8, 12, 1)), (torch.float32, (16, 64, 1)),
                                               (torch.float32, (32, 32, 32))]:
                ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (cin, cout, 3),
                                       dict(stride=1, padding=1, groups=groups), dtype)
                x = torch.randn(5, cin, 9, 20, dtype=dtype)
                run_parity(ref, fast, x.contiguous(memory_format=CL) if cl else x, dtype)
    finally:
        torch.set_num_threads(old)


# ---- activations (fused epilogue and their gradients) ------------------------------------
@pytest.mark.parametrize("activation", ["relu", "gelu", "silu", "tanh", "sigmoid"])
@pytest.mark.parametrize("layout", ["nchw", "cl", "depthwise", "conv1d"])
def test_activation(activation, layout):
    dtype = torch.float64
    if layout == "conv1d":
        ref, fast = _pair_mods(torch.nn.Conv1d, fastnn.Conv1d, (4, 6, 3), dict(padding=1), dtype, activation)
        x = torch.randn(2, 4, 11, dtype=dtype)
    else:
        groups = 6 if layout == "depthwise" else 1
        ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (6, 6, 3), dict(padding=1, groups=groups), dtype,
                               activation)
        x = torch.randn(2, 6, 7, 8, dtype=dtype)
        if layout == "cl":
            x = x.contiguous(memory_format=CL)
    run_parity(ref, fast, x, dtype, activation)


def test_activation_no_grad_path():
    # gelu without autograd runs the single-output op; with autograd, the preact op
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (3, 4, 3), {}, torch.float64, "gelu")
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), torch.nn.functional.gelu(ref(x)), **TOL[torch.float64])


# ---- layouts and odd inputs ----------------------------------------------------------------
@pytest.mark.parametrize("which", ["input", "weight", "both"])
def test_channels_last_combinations(which):
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (5, 7, 3), dict(padding=1), torch.float64)
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    if which in ("input", "both"):
        x = x.contiguous(memory_format=CL)
    if which in ("weight", "both"):
        ref, fast = ref.to(memory_format=CL), fast.to(memory_format=CL)
    run_parity(ref, fast, x, torch.float64)
    y = fast(x)
    assert y.is_contiguous(memory_format=CL)


@pytest.mark.parametrize("kind", ["transposed", "sliced", "expanded"])
def test_non_contiguous_input(kind):
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (4, 6, 3), dict(padding=1), torch.float64)
    base = torch.randn(2, 4, 9, 16, dtype=torch.float64)
    x = {"transposed": base.transpose(2, 3), "sliced": base[:, :, ::2, 1::2],
         "expanded": base[:1, :, :5, :6].expand(3, 4, 5, 6)}[kind]
    assert not x.is_contiguous()
    run_parity(ref, fast, x, torch.float64)


def test_non_contiguous_weight_functional():
    x = torch.randn(2, 4, 7, 7, dtype=torch.float64)
    w = torch.randn(3, 3, 4, 6, dtype=torch.float64).permute(3, 2, 1, 0)[:, :, :, :]  # [6, 4, 3, 3] strided
    assert not w.is_contiguous()
    torch.testing.assert_close(FF.conv2d(x, w, padding=1), torch.nn.functional.conv2d(x, w, padding=1),
                               **TOL[torch.float64])


@pytest.mark.parametrize("cl", [False, True])
@pytest.mark.parametrize("groups", [1, 4])
def test_empty_batch(cl, groups):
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (4, 8, 3), dict(padding=1, groups=groups),
                           torch.float64)
    x = torch.randn(0, 4, 6, 6, dtype=torch.float64)
    run_parity(ref, fast, x.contiguous(memory_format=CL) if cl else x, torch.float64, check_strides=False)


def test_unbatched():
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (3, 5, 3), dict(padding=1), torch.float64)
    run_parity(ref, fast, torch.randn(3, 6, 7, dtype=torch.float64), torch.float64)
    ref, fast = _pair_mods(torch.nn.Conv1d, fastnn.Conv1d, (3, 5, 3), dict(padding="same", padding_mode="reflect"),
                           torch.float64)
    run_parity(ref, fast, torch.randn(3, 9, dtype=torch.float64), torch.float64)


def test_only_some_gradients():
    ref, fast = _pair_mods(torch.nn.Conv2d, fastnn.Conv2d, (4, 6, 3), dict(padding=1), torch.float64)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    fast.weight.requires_grad_(False)
    xr = x.clone().requires_grad_()
    fast(xr).sum().backward()
    assert fast.weight.grad is None and fast.bias.grad is not None and xr.grad is not None
    xr2 = x.clone().requires_grad_()
    ref(xr2).sum().backward()
    torch.testing.assert_close(xr.grad, xr2.grad, **TOL[torch.float64])
    torch.testing.assert_close(fast.bias.grad, ref.bias.grad, **TOL[torch.float64])
    # grad_bias alone, both layouts
    for cl in (False, True):
        fast.bias.grad = None
        ref.bias.grad = None
        xx = x.contiguous(memory_format=CL) if cl else x
        fast(xx).square().sum().backward()
        ref(xx).square().sum().backward()
        torch.testing.assert_close(fast.bias.grad, ref.bias.grad, **TOL[torch.float64])


def test_module_drop_in():
    fast = fastnn.Conv2d(4, 6, 3, stride=2, padding="valid", bias=False)
    assert isinstance(fast, torch.nn.Conv2d)
    ref = torch.nn.Conv2d(4, 6, 3, stride=2, padding="valid", bias=False)
    ref.load_state_dict(fast.state_dict())
    assert set(fast.state_dict()) == set(ref.state_dict())
    assert "activation" not in repr(fast)
    assert "activation='relu'" in repr(fastnn.Conv1d(2, 3, 3, activation="relu"))
    assert isinstance(fastnn.Conv1d(2, 3, 3), torch.nn.Conv1d)


def test_functional_matches_torch():
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    w = torch.randn(6, 2, 3, 2, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    for kw in [dict(), dict(stride=2), dict(padding="same", dilation=(2, 3)), dict(padding=(1, 2), stride=(2, 1))]:
        torch.testing.assert_close(FF.conv2d(x, w, b, groups=2, **kw),
                                   torch.nn.functional.conv2d(x, w, b, groups=2, **kw), **TOL[torch.float64])
    x1 = torch.randn(2, 4, 17, dtype=torch.float64)
    w1 = torch.randn(5, 4, 4, dtype=torch.float64)
    for kw in [dict(), dict(stride=3, padding=2), dict(padding="same", dilation=2)]:
        torch.testing.assert_close(FF.conv1d(x1, w1, **kw), torch.nn.functional.conv1d(x1, w1, **kw),
                                   **TOL[torch.float64])


# ---- gradcheck, opcheck, torch.compile -------------------------------------------------------
@pytest.mark.parametrize("cfg", [
    dict(cin=3, cout=4, k=3, s=1, p=1, d=1, g=1, cl=False, act="none"),
    dict(cin=4, cout=4, k=(2, 3), s=2, p=(1, 0), d=(1, 2), g=2, cl=True, act="tanh"),
    dict(cin=4, cout=4, k=3, s=(2, 1), p=1, d=1, g=4, cl=False, act="gelu"),
    dict(cin=4, cout=4, k=3, s=1, p=2, d=2, g=4, cl=True, act="relu"),
])
def test_gradcheck(cfg):
    torch.manual_seed(1)
    x = torch.randn(2, cfg["cin"], 5, 6, dtype=torch.float64)
    if cfg["cl"]:
        x = x.contiguous(memory_format=CL)
    k = cfg["k"] if isinstance(cfg["k"], tuple) else (cfg["k"], cfg["k"])
    w = torch.randn(cfg["cout"], cfg["cin"] // cfg["g"], *k, dtype=torch.float64)
    b = torch.randn(cfg["cout"], dtype=torch.float64)

    def f(x, w, b):
        return FF.conv2d(x, w, b, cfg["s"], cfg["p"], cfg["d"], cfg["g"], cfg["act"])
    x.requires_grad_()
    w.requires_grad_()
    b.requires_grad_()
    assert torch.autograd.gradcheck(f, (x, w, b))


def test_gradcheck_conv1d():
    x = torch.randn(2, 4, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: FF.conv1d(x, w, b, 2, 1, 2, 2, "silu"), (x, w, b))


def _opcheck_args():
    out = []
    for cl, groups, act in [(False, 1, "none"), (True, 2, "relu"), (False, 4, "gelu"), (True, 4, "sigmoid")]:
        x = torch.randn(2, 4, 6, 5, dtype=torch.float64)
        w = torch.randn(4, 4 // groups, 3, 3, dtype=torch.float64)
        if cl:
            x = x.contiguous(memory_format=CL)
        out.append((x, w, torch.randn(4, dtype=torch.float64), [1, 2], [1, 1], [1, 1], groups, act))
    return out


@pytest.mark.parametrize("args", _opcheck_args(), ids=lambda a: f"g{a[6]}-{a[7]}")
def test_opcheck(args):
    x, w, b, s, p, d, g, act = args
    x = x.clone().requires_grad_()
    w = w.clone().requires_grad_()
    b = b.clone().requires_grad_()
    torch.library.opcheck(torch.ops.fastnn.conv2d.default, (x, w, b, s, p, d, g, act))
    torch.library.opcheck(torch.ops.fastnn.conv2d_with_preact.default, (x, w, b, s, p, d, g, act))
    gy = torch.randn_like(torch.ops.fastnn.conv2d(x, w, b, s, p, d, g, act))
    saved = torch.randn_like(gy)
    for mask in ([True, True, True], [False, True, False], [True, False, True]):
        torch.library.opcheck(torch.ops.fastnn.conv2d_backward.default,
                              (gy, x.detach(), w.detach(), saved, s, p, d, g, act, mask))


def test_compile_fullgraph():
    torch.manual_seed(0)
    model = torch.nn.Sequential(fastnn.Conv2d(3, 8, 3, padding="same", activation="relu"),
                                fastnn.Conv2d(8, 8, 3, stride=2, groups=8, padding_mode="reflect", padding=1),
                                torch.nn.Flatten(2), fastnn.Conv1d(8, 4, 5, padding=2, activation="gelu")).double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    y_ref = model(x)
    y = compiled(x)
    torch.testing.assert_close(y, y_ref)
    g_ref = torch.autograd.grad(y_ref.sum(), [x, *model.parameters()])
    g = torch.autograd.grad(y.sum(), [x, *model.parameters()])
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b)


def test_compile_inductor_channels_last():
    conv = fastnn.Conv2d(4, 6, 3, padding=1).to(memory_format=CL)
    x = torch.randn(2, 4, 7, 7).contiguous(memory_format=CL)
    compiled = torch.compile(conv, fullgraph=True)
    y = compiled(x)
    torch.testing.assert_close(y, conv(x))
    assert y.is_contiguous(memory_format=CL)
