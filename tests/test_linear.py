"""fastnn.Linear / fastnn.functional.linear / torch.ops.fastnn.linear* against torch.nn."""
import itertools

import pytest
import torch
import torch.nn.functional as F

import fastnn

TORCH_ACT = {
    "none": lambda t: t,
    "relu": torch.relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
}
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-4, atol=1e-4)}

# (batch shape, in, out): tile remainders, single row/column, small-M and packed paths
SHAPES = [((1,), 1, 1), ((7,), 13, 45), ((16,), 300, 33), ((33,), 64, 70), ((3, 5), 17, 9),
          ((130,), 257, 97), ((2, 3, 4), 8, 40), ((0,), 10, 6), ((), 11, 5)]


def _reference(x, w, b, act):
    return TORCH_ACT[act](F.linear(x, w, b))


def _check_parity(x, w, b, act, dtype):
    xs = [t.detach().clone().requires_grad_(True) if t is not None else None for t in (x, w, b)]
    xr = [t.detach().clone().requires_grad_(True) if t is not None else None for t in (x, w, b)]
    out = fastnn.functional.linear(*xs, activation=act)
    ref = _reference(*xr, act)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    grad = torch.randn_like(ref)
    out.backward(grad)
    ref.backward(grad)
    for mine, theirs in zip(xs, xr):
        if mine is not None:
            torch.testing.assert_close(mine.grad, theirs.grad, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("batch,fin,fout", SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_parity_shapes(dtype, batch, fin, fout, bias):
    x = torch.randn(*batch, fin, dtype=dtype)
    w = torch.randn(fout, fin, dtype=dtype)
    b = torch.randn(fout, dtype=dtype) if bias else None
    _check_parity(x, w, b, "none", dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("act", list(TORCH_ACT))
@pytest.mark.parametrize("batch", [5, 64])
def test_parity_activations(dtype, act, batch):
    x = torch.randn(batch, 37, dtype=dtype)
    w = torch.randn(50, 37, dtype=dtype) * 0.3
    b = torch.randn(50, dtype=dtype)
    _check_parity(x, w, b, act, dtype)


# Shapes that cross the GEMM's blocking: M past one A block (192 rows), K past one
# K block (512 floats / 256 doubles), N past one B panel (2048), each small-M path, and
# (M >= 256 on several threads) B packed once and shared by the threads.
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("m,k,n", [(193, 513, 33), (40, 520, 2050), (13, 700, 5), (65, 300, 129), (300, 530, 260)])
def test_parity_across_gemm_blocking(dtype, m, k, n):
    x = torch.randn(m, k, dtype=dtype)
    w = torch.randn(n, k, dtype=dtype) / k ** 0.5
    b = torch.randn(n, dtype=dtype)
    _check_parity(x, w, b, "silu", dtype)


# Weight gradients of at least 1 MiB from one K block (batch <= 512 floats) are written with
# non-temporal stores (Epilogue::stream), whole aligned tiles straight from the micro-kernel's
# registers: 64-byte aligned rows (in_features 1024, 512), rows that are not (1000, 700: through
# the scratch tile), a last strip narrower than the tile (out_features 520, 1030), a batch of one
# whole K block (512), and in_features 96, whose 32-wide strips run the 12 x 32 kernel.
@pytest.mark.parametrize("m,k,n", [(7, 1024, 512), (33, 1000, 520), (512, 512, 600), (60, 700, 1030),
                                   (5, 96, 2800)])
def test_parity_streamed_weight_grad(m, k, n):
    x = torch.randn(m, k)
    w = torch.randn(n, k) / k ** 0.5
    b = torch.randn(n)
    assert n * k * 4 >= 1 << 20  # the size from which the weight gradient is streamed
    _check_parity(x, w, b, "none", torch.float32)


# Each small-M kernel at the edges of its row range (dot-product tiles up to 2
# rows; quad broadcast tiles for 3-16; broadcast tiles 12x32 for 17-32, 8x48 for 33-48, 6x64 for
# 57-64; packed weights for 49-56 and 65+), with 37 outputs so every tile width
# leaves a remainder; and N = 32 / 96 on the packed path (32-wide strips).
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("m,n", [(m, 37) for m in (13, 14, 16, 17, 32, 33, 48, 49, 56, 57, 64, 65)] +
                         [(100, 32), (100, 96)])
def test_parity_small_m_kernels(dtype, m, n):
    x = torch.randn(m, 70, dtype=dtype)
    w = torch.randn(n, 70, dtype=dtype) / 70 ** 0.5
    b = torch.randn(n, dtype=dtype)
    _check_parity(x, w, b, "gelu", dtype)


# The quad broadcast kernel (3-16 rows, 4 k per vector; float32 only): each of its tile shapes
# (16x1, 12x2, 8x3 and 4x4 columns x panel vectors), row counts that leave a partial group of 4,
# K that leaves 1-3 k after the last whole step (or has no whole step), and 37 outputs, whose
# last partial tile the dot-product tiles finish. 2 rows: the dot-product tiles, for comparison.
@pytest.mark.parametrize("m", [2, 3, 4, 5, 7, 8, 9, 12, 13, 16])
@pytest.mark.parametrize("k", [1, 3, 4, 70, 257])
def test_parity_quad_broadcast_kernel(m, k):
    x = torch.randn(m, k)
    w = torch.randn(37, k) / k ** 0.5
    b = torch.randn(37)
    _check_parity(x, w, b, "relu", torch.float32)


def test_larger_float32_against_float64_reference():
    # 512x784->512 exercises the multi-threaded packed path with K > one K block.
    x, w, b = torch.randn(512, 784), torch.randn(512, 784) / 28, torch.randn(512)
    out = fastnn.functional.linear(x, w, b)
    ref = F.linear(x.double(), w.double(), b.double())
    torch_err = (F.linear(x, w, b).double() - ref).abs().max()
    assert (out.double() - ref).abs().max() <= 2 * torch_err + 1e-6


@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded"])
def test_non_contiguous_inputs(layout):
    if layout == "transposed":
        x = torch.randn(40, 24, dtype=torch.float64).t()          # (24, 40), stride (1, 24)
        w = torch.randn(40, 19, dtype=torch.float64).t()          # (19, 40), stride (1, 19)
    elif layout == "sliced":
        x = torch.randn(30, 80, dtype=torch.float64)[::2, 5:45]   # strided rows
        w = torch.randn(19, 90, dtype=torch.float64)[:, ::2][:, :40]
    else:
        x = torch.randn(1, 40, dtype=torch.float64).expand(6, 40)
        w = torch.randn(19, 40, dtype=torch.float64)
    b = torch.randn(19, dtype=torch.float64)[::1]
    _check_parity(x, w, b, "relu", torch.float64)


def test_module_matches_nn_linear_and_state_dict_round_trip():
    ref = torch.nn.Linear(20, 30)
    fast = fastnn.Linear(20, 30)
    assert isinstance(fast, torch.nn.Linear)
    fast.load_state_dict(ref.state_dict())
    assert list(fast.state_dict()) == list(ref.state_dict())
    x = torch.randn(4, 20)
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)
    back = torch.nn.Linear(20, 30)
    back.load_state_dict(fast.state_dict())
    torch.testing.assert_close(back(x), ref(x))
    assert "activation" not in repr(fast)
    assert "activation='gelu'" in repr(fastnn.Linear(2, 3, activation="gelu"))


def test_module_init_matches_nn_linear():
    torch.manual_seed(3)
    ref = torch.nn.Linear(64, 32)
    torch.manual_seed(3)
    fast = fastnn.Linear(64, 32)
    torch.testing.assert_close(fast.weight, ref.weight)
    torch.testing.assert_close(fast.bias, ref.bias)


@pytest.mark.parametrize("act", list(TORCH_ACT))
def test_gradcheck(act):
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: fastnn.functional.linear(*t, activation=act), (x, w, b))
    # the op itself, and the variant that also returns the pre-activation
    assert torch.autograd.gradcheck(lambda *t: torch.ops.fastnn.linear(*t, act), (x, w, b))
    assert torch.autograd.gradcheck(lambda *t: torch.ops.fastnn.linear_with_preact(*t, act)[0], (x, w, b))


@pytest.mark.parametrize("act", ["none", "gelu"])
def test_opcheck(act):
    x = torch.randn(6, 5, requires_grad=True)
    w = torch.randn(4, 5, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    torch.library.opcheck(torch.ops.fastnn.linear.default, (x, w, b, act))
    torch.library.opcheck(torch.ops.fastnn.linear_with_preact.default, (x, w, b, act))
    g = torch.randn(6, 4)
    saved = torch.randn(6, 4)
    for mask in itertools.product([True, False], repeat=3):
        torch.library.opcheck(torch.ops.fastnn.linear_backward.default,
                              (g, x.detach(), w.detach(), saved, act, list(mask)))


def test_torch_compile_fullgraph():
    model = torch.nn.Sequential(fastnn.Linear(16, 32, activation="gelu"), fastnn.Linear(32, 8))
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(5, 16, requires_grad=True)
    out = compiled(x)
    torch.testing.assert_close(out, model(x))
    out.sum().backward()
    assert model[0].weight.grad is not None and x.grad is not None


def test_optimizer_training_step_decreases_loss():
    torch.manual_seed(0)
    model = torch.nn.Sequential(fastnn.Linear(8, 16, activation="relu"), fastnn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_isa_variants_agree(monkeypatch):
    # Each micro-kernel must give the same answer; run the portable and AVX2
    # kernels in subprocesses (the ISA is fixed per process).
    import os
    import subprocess
    import sys
    code = ("import torch, fastnn; torch.manual_seed(0); x=torch.randn(37, 300); w=torch.randn(70, 300);"
            "b=torch.randn(70); y=fastnn.functional.linear(x, w, b, 'tanh');"
            "r=torch.tanh(torch.nn.functional.linear(x, w, b));"
            "print(fastnn.info(verbose=False)['cpu_isa'], float((y-r).abs().max()))")
    for isa in ["portable", "avx2"]:
        env = {**os.environ, "FASTNN_ISA": isa}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        name, err = out.stdout.split()
        assert float(err) < 1e-4, (isa, out.stdout)


def test_info_reports_build():
    info = fastnn.info(verbose=False)
    assert info["torch"] == torch.__version__
    assert "cpu" in info["backends"]
    assert info["cpu_isa"] in ("avx512", "avx2", "portable")


def test_autocast_cpu_mixes_with_bfloat16_layers():
    # torch.nn.Linear under CPU autocast produces bfloat16; the fastnn layer after it
    # casts its inputs to float32 (it has no bfloat16 CPU kernel) and keeps working.
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), fastnn.Linear(16, 4))
    x = torch.randn(3, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.float32
    hidden = F.linear(x.bfloat16(), model[0].weight.bfloat16(), model[0].bias.bfloat16())
    ref = F.linear(hidden.float(), model[1].weight, model[1].bias)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)
    out.sum().backward()
    assert model[1].weight.grad.dtype == torch.float32
