"""fastnn's CUDA kernels for Linear (fastnn::linear, linear_with_preact, linear_backward) against
torch.nn on the same GPU: outputs and every gradient over the CPU tests' shape and activation grids
plus larger multi-tile / split-K shapes, in float64 (tight), float32 (strict fp32: TF32 off on both
sides) and float16 / bfloat16 (fastnn's error within 2x of torch.nn's own, both against a float64
reference from the same rounded inputs); gradcheck, opcheck, torch.compile (fullgraph and CUDA
graphs), autocast, streams and device errors. The whole module skips without a GPU; with a GPU, a
build without CUDA kernels fails (test_cuda_kernels_built).

tests/test_cuda_conv.py imports the helpers below (the low-precision rule, the float32 tolerance,
the strict-fp32 fixture)."""
import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import fastnn
from test_linear import SHAPES, TORCH_ACT

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: the CUDA kernel tests need a GPU")

DEV = "cuda"
LOWP = (torch.float16, torch.bfloat16)
DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16)
ACTS = list(TORCH_ACT)


def dtype_id(dtype):
    return str(dtype).replace("torch.", "")


@pytest.fixture(autouse=True)
def strict_fp32():
    """TF32 off for cuBLAS and cuDNN while a test runs: fastnn's float32 kernels are strict fp32 and
    torch's reference must be too (cuDNN convolutions run TF32 by default). Restored afterwards."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


# ---- comparison rules (shared with test_cuda_conv.py) ------------------------------------------
def _rms(t):
    return t.detach().double().pow(2).mean().sqrt().item() if t.numel() else 0.0


def assert_parity(mine, theirs, k, what, rtol32=1e-4, atol32=1e-4):
    """float64 / float32 parity of a fastnn result with torch's on the same GPU. `k` is the length of
    the reduction that produced the tensor (in_features for the output, out_features for the input
    gradient, the rows for the weight and bias gradients).

    float64: rtol = atol = 1e-9 (both sides are within ~1e-13 of exact here).
    float32: the CPU tests' tolerances, with atol raised to 2e-6 * sqrt(k) * rms(result) where that is
    larger. Why sqrt(k): torch (cuBLAS/cuDNN) and fastnn sum the k products in different orders
    (tiles, split-K); each rounding of a partial sum adds about eps * |partial sum| with a random sign,
    so the two results differ by about 0.4 * eps * sqrt(k) * rms(result) (eps = 6e-8), a few times
    that at the maximum over a large tensor. 2e-6 * sqrt(k) * rms leaves a margin of >= 10x on that,
    while a wrong or missing tile (an error of the order of rms) or TF32 (eps 5e-4) still fails."""
    assert mine.dtype == theirs.dtype, f"{what}: dtype {mine.dtype}, torch's {theirs.dtype}"
    assert mine.shape == theirs.shape, f"{what}: shape {tuple(mine.shape)}, torch's {tuple(theirs.shape)}"
    assert mine.device == theirs.device, f"{what}: device {mine.device}, torch's {theirs.device}"
    if mine.dtype == torch.float64:
        tol = dict(rtol=1e-9, atol=1e-9)
    elif mine.dtype == torch.float32:
        tol = dict(rtol=rtol32, atol=max(atol32, 2e-6 * math.sqrt(k) * _rms(theirs)))
    else:
        raise AssertionError(f"{what}: assert_parity is for float64/float32, got {mine.dtype}")
    torch.testing.assert_close(mine, theirs, **tol, msg=lambda m: f"{what} (k={k}): {m}")


def assert_lowp_rule(mine, theirs, ref, what, factor=2.0, floor=1e-6):
    """The low-precision rule (float16 / bfloat16): fastnn's max abs error against `ref`, a float64
    result computed from the same (already rounded) inputs, is at most `factor` (2) times torch.nn's
    own max abs error against it, plus a tiny absolute `floor` for results both compute exactly
    (e.g. the zero weight gradient of an empty batch)."""
    assert mine.dtype == theirs.dtype, f"{what}: dtype {mine.dtype}, torch's {theirs.dtype}"
    assert mine.shape == theirs.shape == ref.shape, \
        f"{what}: shape {tuple(mine.shape)}, torch's {tuple(theirs.shape)}, reference {tuple(ref.shape)}"
    assert mine.device == theirs.device, f"{what}: device {mine.device}, torch's {theirs.device}"
    if ref.numel() == 0:
        return
    ref = ref.detach().to(device=mine.device, dtype=torch.float64)
    mine_err = (mine.detach().double() - ref).abs().max().item()
    torch_err = (theirs.detach().double() - ref).abs().max().item()
    assert math.isfinite(torch_err), f"{what}: torch.nn's own result is not finite (a test data problem)"
    assert mine_err <= factor * torch_err + floor, (
        f"{what}: fastnn's max abs error {mine_err:.4g} against the float64 reference is more than "
        f"{factor} x torch.nn's {torch_err:.4g} + {floor:g} ({mine.dtype}, shape {tuple(mine.shape)})")


def compare(mine, theirs, refs, ks, names, rtol32=1e-4, atol32=1e-4):
    """Each tensor by its dtype's rule: low precision against the float64 references `refs`, float64 /
    float32 parity with torch's result otherwise."""
    for i, (m, t, k, name) in enumerate(zip(mine, theirs, ks, names)):
        if m.dtype in LOWP:
            assert_lowp_rule(m, t, refs[i], name)
        else:
            assert_parity(m, t, k, name, rtol32, atol32)


# ---- linear helpers ------------------------------------------------------------------------------
def make_inputs(batch, fin, fout, dtype, bias=True, w_scale=None):
    """x ~ N(0, 1), w ~ N(0, 1) / sqrt(in_features) (outputs of order 1, as with nn.Linear's init),
    b ~ N(0, 1); drawn in float32 on the GPU and rounded to dtype."""
    scale = w_scale if w_scale is not None else 1.0 / math.sqrt(max(fin, 1))
    x = torch.randn(*batch, fin, device=DEV).to(dtype)
    w = (torch.randn(fout, fin, device=DEV) * scale).to(dtype)
    b = torch.randn(fout, device=DEV).to(dtype) if bias else None
    return x, w, b


def _leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) if t is not None else None for t in tensors]


def _identity(t):
    return t


def check_linear(x, w, b, act="none", views=(_identity, _identity, _identity)):
    """fastnn.functional.linear against act(F.linear(...)) on the GPU, forward and backward (one
    upstream gradient for both): output, grad_input, grad_weight, grad_bias. x, w, b are the leaves;
    `views` map them to what the functions get (a transpose, a slice, an expand: clone() would make
    such a view contiguous again), and the gradients are compared on the leaves."""
    dtype = x.dtype

    def args(leaves):
        return [v(t) if t is not None else None for v, t in zip(views, leaves)]
    mine_in, torch_in = _leaves(x, w, b), _leaves(x, w, b)
    xv, wv, _ = args(mine_in)
    out = fastnn.functional.linear(*args(mine_in), activation=act)
    ref = TORCH_ACT[act](F.linear(*args(torch_in)))
    assert out.shape == ref.shape and out.dtype == dtype and out.device == ref.device
    g = torch.randn(ref.shape, device=DEV).to(dtype)
    out.backward(g)
    ref.backward(g)
    mine = [out] + [t.grad for t in mine_in if t is not None]
    theirs = [ref] + [t.grad for t in torch_in if t is not None]
    names = ["output", "grad_input", "grad_weight", "grad_bias"][:len(mine)]
    fin, fout = wv.shape[1], wv.shape[0]
    rows = xv.numel() // max(fin, 1)
    refs = None
    if dtype in LOWP:
        ref_in = [t.detach().double().requires_grad_(True) if t is not None else None for t in (x, w, b)]
        y64 = TORCH_ACT[act](F.linear(*args(ref_in)))
        y64.backward(g.double())
        refs = [y64] + [t.grad for t in ref_in if t is not None]
    compare(mine, theirs, refs, [fin, fout, rows, rows], names)


# ---- the build ---------------------------------------------------------------------------------
def test_cuda_kernels_built():
    # A GPU is present: a build without CUDA kernels must fail here, not skip.
    assert fastnn._C.cuda_built, ("a GPU is present but fastnn._C was built without CUDA kernels "
                                  "(build with a CUDA torch and nvcc, or FASTNN_CUDA=1)")
    assert "cuda" in fastnn.info(verbose=False)["backends"]


# ---- parity over the CPU tests' grids, every dtype -----------------------------------------------
# the CPU grid (tile remainders, single row/column, 3x5 and 2x3x4 leading dims, empty batch,
# unbatched 1-D input) plus sizes that are not multiples of 8/16/128 in every position
CUDA_SHAPES = SHAPES + [((1,), 37, 97), ((7,), 257, 45), ((130,), 37, 45), ((0, 3), 13, 45), ((5,), 1031, 3)]


def _shape_id(shape):
    batch, fin, fout = shape
    return f"{'x'.join(map(str, batch)) or 'unbatched'}-{fin}-{fout}"


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", CUDA_SHAPES, ids=_shape_id)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_parity_shapes(dtype, shape, bias):
    batch, fin, fout = shape
    check_linear(*make_inputs(batch, fin, fout, dtype, bias))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("batch", [5, 64])
def test_parity_activations(dtype, act, batch):
    # as the CPU test: w ~ 0.3 N(0, 1), so pre-activations spread over the activations' curved parts
    check_linear(*make_inputs((batch,), 37, 50, dtype, w_scale=0.3), act)


# Larger shapes: several tiles in every direction, split-K for few rows and a long K (16 x 4096),
# odd sizes at scale. Smooth activations only: with relu, a pre-activation within rounding of zero
# (likely among a million outputs) flips the derivative on one side and not the other.
LARGE = [
    ((16,), 4096, 4096, "none", (torch.bfloat16, torch.float16, torch.float32)),
    ((512,), 1024, 768, "gelu", (torch.bfloat16, torch.float16, torch.float32)),
    ((2048,), 256, 512, "none", (torch.bfloat16, torch.float32, torch.float64)),
    ((130,), 4100, 97, "silu", (torch.bfloat16, torch.float32, torch.float64)),
    ((1030,), 257, 1001, "tanh", (torch.float16, torch.float32)),
    ((3,), 5000, 7, "sigmoid", (torch.bfloat16, torch.float32)),
    ((4, 1000), 64, 129, "gelu", (torch.bfloat16, torch.float32)),
]
LARGE_CASES = [(b, i, o, a, d) for b, i, o, a, dts in LARGE for d in dts]


@pytest.mark.parametrize("batch,fin,fout,act,dtype", LARGE_CASES,
                         ids=[f"{'x'.join(map(str, b))}x{i}->{o}-{a}-{dtype_id(d)}" for b, i, o, a, d in LARGE_CASES])
def test_parity_large(batch, fin, fout, act, dtype):
    check_linear(*make_inputs(batch, fin, fout, dtype), act)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("layout", ["transposed", "sliced", "expanded", "weight_transposed", "permuted_3d"])
def test_non_contiguous_inputs(dtype, layout):
    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, device=DEV) * scale).to(dtype)
    views = [_identity, _identity, lambda t: t[::2]]      # bias: every other element of 38
    w = rnd(19, 40, scale=40 ** -0.5)
    if layout == "transposed":                            # (24, 40), strides (1, 24)
        x, views[0] = rnd(40, 24), lambda t: t.t()
    elif layout == "sliced":                              # strided rows, offset start
        x, views[0] = rnd(30, 80), lambda t: t[::2, 5:45]
    elif layout == "expanded":                            # stride-0 rows
        x, views[0] = rnd(1, 40), lambda t: t.expand(6, 40)
    elif layout == "weight_transposed":                   # weight (19, 40), strides (1, 19)
        x, w, views[1] = rnd(9, 40), rnd(40, 19, scale=40 ** -0.5), lambda t: t.t()
    else:                                                 # (4, 6, 40), last dimension not unit-stride
        x, views[0] = rnd(4, 40, 6), lambda t: t.transpose(1, 2)
    xv, wv = views[0](x), views[1](w)
    assert not (xv.is_contiguous() and wv.is_contiguous()) and xv.shape[-1] == 40 and wv.shape == (19, 40)
    check_linear(x, w, rnd(38), "relu", views=tuple(views))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16], ids=dtype_id)
def test_with_preact_and_backward_masks(dtype):
    """linear_with_preact returns (act(z), z); linear_backward computes exactly the gradients asked
    for (empty tensors for the others), with saved = z for gelu/silu, the output for relu/tanh/sigmoid."""
    x, w, b = make_inputs((33,), 70, 37, dtype)
    g = torch.randn(33, 37, device=DEV).to(dtype)
    for act in ("none", "gelu", "tanh", "silu"):
        out, z = torch.ops.fastnn.linear_with_preact(x, w, b, act)
        z_ref = F.linear(x, w, b)
        ref_in = [t.detach().double().requires_grad_(True) for t in (x, w, b)]
        z64 = F.linear(*ref_in)
        y64 = TORCH_ACT[act](z64)
        if dtype in LOWP:
            assert_lowp_rule(z, z_ref, z64, f"{act} preact")
            assert_lowp_rule(out, TORCH_ACT[act](z_ref), y64, f"{act} output")
        else:
            assert_parity(z, z_ref, 70, f"{act} preact")
            assert_parity(out, TORCH_ACT[act](z_ref), 70, f"{act} output")
        grads64 = torch.autograd.grad(y64, ref_in, g.double())
        saved = z if act in ("gelu", "silu") else (out if act != "none" else torch.empty(0, device=DEV, dtype=dtype))
        for mask in itertools.product([True, False], repeat=3):
            got = torch.ops.fastnn.linear_backward(g, x, w, saved, act, list(mask))
            for wanted, gt, want64, name, like in zip(mask, got, grads64, ("input", "weight", "bias"), (x, w, b)):
                if not wanted:
                    assert gt.numel() == 0, f"{act} {mask}: grad_{name} not asked for, got shape {tuple(gt.shape)}"
                    continue
                assert gt.shape == like.shape and gt.dtype == dtype
                tol = 1e-9 if dtype == torch.float64 else (2e-4 if dtype == torch.float32 else 4e-2)
                torch.testing.assert_close(gt.double(), want64, rtol=tol, atol=tol,
                                           msg=lambda m: f"{act} mask {mask} grad_{name}: {m}")


def test_module_on_cuda_and_convert():
    torch.manual_seed(3)
    ref = torch.nn.Linear(64, 32).to(DEV)
    torch.manual_seed(3)
    fast = fastnn.Linear(64, 32, activation="none").to(DEV)
    assert fast.weight.is_cuda and isinstance(fast, torch.nn.Linear)
    x = torch.randn(5, 64, device=DEV)
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-5)
    back = torch.nn.Linear(64, 32).to(DEV)
    back.load_state_dict(fast.state_dict())
    torch.testing.assert_close(back(x), ref(x))
    # convert swaps CUDA layers (its probe runs the CUDA kernel), in float32 and bfloat16
    for dtype in (torch.float32, torch.bfloat16):
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 4)).to(DEV, dtype)
        xx = torch.randn(7, 8, device=DEV).to(dtype)
        expected = model(xx)
        summary = fastnn.convert(model)
        assert len(summary.swapped) == 2 and not summary.left, str(summary)
        assert type(model[0]) is fastnn.Linear and model[0].weight.device.type == "cuda"
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-2)
        torch.testing.assert_close(model(xx), expected, **tol)


def test_training_step_decreases_loss():
    torch.manual_seed(0)
    model = torch.nn.Sequential(fastnn.Linear(8, 16, activation="relu"), fastnn.Linear(16, 1)).to(DEV)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(64, 8, device=DEV), torch.randn(64, 1, device=DEV)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


# ---- gradcheck, opcheck ------------------------------------------------------------------------
@pytest.mark.parametrize("act", ACTS)
def test_gradcheck(act):
    x = torch.randn(3, 5, dtype=torch.float64, device=DEV, requires_grad=True)
    w = torch.randn(4, 5, dtype=torch.float64, device=DEV, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, device=DEV, requires_grad=True)
    kw = {}  # fastnn's CUDA kernels are deterministic (split-K partials summed in order): no nondet_tol
    assert torch.autograd.gradcheck(lambda *t: fastnn.functional.linear(*t, activation=act), (x, w, b), **kw)
    assert torch.autograd.gradcheck(lambda *t: torch.ops.fastnn.linear(*t, act), (x, w, b), **kw)
    assert torch.autograd.gradcheck(lambda *t: torch.ops.fastnn.linear_with_preact(*t, act)[0], (x, w, b), **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=dtype_id)
@pytest.mark.parametrize("act", ["none", "gelu"])
def test_opcheck(dtype, act):
    x = torch.randn(6, 5, device=DEV).to(dtype).requires_grad_()
    w = torch.randn(4, 5, device=DEV).to(dtype).requires_grad_()
    b = torch.randn(4, device=DEV).to(dtype).requires_grad_()
    torch.library.opcheck(torch.ops.fastnn.linear.default, (x, w, b, act))
    torch.library.opcheck(torch.ops.fastnn.linear_with_preact.default, (x, w, b, act))
    g = torch.randn(6, 4, device=DEV).to(dtype)
    saved = torch.randn(6, 4, device=DEV).to(dtype)
    for mask in itertools.product([True, False], repeat=3):
        torch.library.opcheck(torch.ops.fastnn.linear_backward.default,
                              (g, x.detach(), w.detach(), saved, act, list(mask)))


# ---- torch.compile, CUDA graphs, streams ----------------------------------------------------------
def _has_triton():
    try:
        from torch.utils._triton import has_triton
        return has_triton()
    except Exception:
        return False


def _compile_backend(backend):
    if backend == "inductor" and not _has_triton():
        pytest.skip("inductor on CUDA needs triton, which this environment lacks")
    return backend


def _mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(fastnn.Linear(16, 32, activation="gelu"), fastnn.Linear(32, 8)).to(DEV)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compile_fullgraph(backend):
    model = _mlp()
    compiled = torch.compile(model, fullgraph=True, backend=_compile_backend(backend))
    x = torch.randn(5, 16, device=DEV, requires_grad=True)
    y = compiled(x)
    y_ref = model(x)
    torch.testing.assert_close(y, y_ref)
    params = [x, *model.parameters()]
    for a, b in zip(torch.autograd.grad(y.square().sum(), params), torch.autograd.grad(y_ref.square().sum(), params)):
        torch.testing.assert_close(a, b)


def test_compile_reduce_overhead_cuda_graphs():
    """mode='reduce-overhead' replays the fastnn kernels from a CUDA graph (inductor's cudagraph
    trees; the 'cudagraphs' backend where triton is missing): the kernels must launch on the current
    stream and allocate through torch's allocator. Inference, several steps, fresh inputs each."""
    model = _mlp()
    if _has_triton():
        compiled = torch.compile(model, mode="reduce-overhead", fullgraph=True)
    else:
        compiled = torch.compile(model, backend="cudagraphs", fullgraph=True)
    with torch.no_grad():
        for step in range(5):
            x = torch.randn(64, 16, device=DEV)
            torch.compiler.cudagraph_mark_step_begin()
            y = compiled(x).clone()
            torch.testing.assert_close(y, model(x), msg=lambda m: f"step {step}: {m}")


def test_cuda_graph_capture_forward_backward():
    """A fastnn.Linear forward+backward captured in a torch.cuda.CUDAGraph and replayed on new data
    gives what eager gives (the whole-network capture pattern of the CUDA graphs docs)."""
    model = _mlp()
    eager = copy.deepcopy(model)
    static_x = torch.randn(24, 16, device=DEV, requires_grad=True)
    static_g = torch.randn(24, 8, device=DEV)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
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
        new_x, new_g = torch.randn(24, 16, device=DEV), torch.randn(24, 8, device=DEV)
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


def test_runs_on_the_current_stream():
    """On a side stream, behind a long-running kernel that the input depends on: a kernel launched
    on another stream (the legacy default stream) would read the input before it is written."""
    x, w, b = make_inputs((2048,), 512, 256, torch.float32)
    expected = fastnn.functional.linear(x, w, b, "tanh")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        torch.cuda._sleep(50_000_000)             # ~ tens of ms of GPU time on this stream
        x_late = x * 1.0                          # written only after the sleep, on this stream
        got = fastnn.functional.linear(x_late, w, b, "tanh")
    torch.cuda.current_stream().wait_stream(side)
    torch.testing.assert_close(got, expected)


# ---- autocast -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", LOWP, ids=dtype_id)
@pytest.mark.parametrize("act", ["none", "gelu"])
def test_autocast(dtype, act):
    """Under torch.autocast('cuda', dtype) fastnn.Linear computes in the autocast dtype, as
    nn.Linear does: same output dtype, errors within the low-precision rule, float32 gradients for
    the float32 parameters and input."""
    torch.manual_seed(0)
    ref = torch.nn.Linear(64, 48).to(DEV)
    fast = fastnn.Linear(64, 48, activation=act).to(DEV)
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(33, 64, device=DEV)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    with torch.autocast("cuda", dtype=dtype):
        assert torch.get_autocast_dtype("cuda") == dtype
        y_ref = TORCH_ACT[act](ref(x1))
        y = fast(x2)
    assert y_ref.dtype == dtype and y.dtype == y_ref.dtype, (y.dtype, y_ref.dtype)
    g = torch.randn(y.shape, device=DEV).to(dtype)
    y_ref.backward(g)
    y.backward(g)
    ref_in = [t.detach().to(dtype).double().requires_grad_() for t in (x, ref.weight, ref.bias)]
    y64 = TORCH_ACT[act](F.linear(*ref_in))
    y64.backward(g.double())
    for name, mine, theirs, r in [("output", y, y_ref, y64), ("grad_input", x2.grad, x1.grad, ref_in[0].grad),
                                  ("grad_weight", fast.weight.grad, ref.weight.grad, ref_in[1].grad),
                                  ("grad_bias", fast.bias.grad, ref.bias.grad, ref_in[2].grad)]:
        if name != "output":
            assert mine.dtype == torch.float32, (name, mine.dtype)
        assert_lowp_rule(mine, theirs, r, f"autocast {name}")


# ---- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["weight_on_cpu", "input_on_cpu", "bias_on_cpu", "module_on_cpu"])
def test_device_mismatch(where):
    x, w, b = make_inputs((4,), 8, 3, torch.float32)
    with pytest.raises(RuntimeError, match="must be on the input's device"):
        if where == "weight_on_cpu":
            fastnn.functional.linear(x, w.cpu(), b.cpu())
        elif where == "input_on_cpu":
            fastnn.functional.linear(x.cpu(), w, b)
        elif where == "bias_on_cpu":
            fastnn.functional.linear(x, w, b.cpu())
        else:  # a CPU layer (parameters requiring grad: the autograd path) given a CUDA input
            fastnn.Linear(8, 3)(x)


# ---- a small subset for compute-sanitizer (pytest -m sanitize) --------------------------------------
# The reference is fastnn's own CPU kernels in float64 (verified by tests/test_linear.py), so that
# under the sanitizer the GPU runs fastnn's kernels and little else (no cuBLAS).
SANITIZE = [(torch.float64, "none"), (torch.float32, "relu"), (torch.float16, "silu"), (torch.bfloat16, "gelu")]


def against_cpu_float64(mine, ref, what):
    """A sanity bound for the sanitizer subset: float64 1e-9; float32 1e-4; float16 / bfloat16 8 units
    of roundoff, relative and (times the rms) absolute."""
    u = {torch.float64: 1e-9, torch.float32: 1e-4, torch.float16: 8 * 2.0 ** -11, torch.bfloat16: 8 * 2.0 ** -8}
    tol = u[mine.dtype]
    assert mine.shape == ref.shape, (what, mine.shape, ref.shape)
    torch.testing.assert_close(mine.detach().cpu().double(), ref, rtol=tol, atol=tol * max(1.0, _rms(ref)),
                               msg=lambda m: f"{what}: {m}")


def check_linear_against_cpu(x, w, b, act):
    mine_in = _leaves(x, w, b)
    out = fastnn.functional.linear(*mine_in, activation=act)
    g = torch.randn(out.shape).to(x.dtype)
    out.backward(g.to(DEV))
    ref_in = [t.detach().cpu().double().requires_grad_() if t is not None else None for t in (x, w, b)]
    y = fastnn.functional.linear(*ref_in, activation=act)
    y.backward(g.double())
    for name, mine, ref in zip(["output", "grad_input", "grad_weight", "grad_bias"],
                               [out] + [t.grad for t in mine_in if t is not None],
                               [y] + [t.grad for t in ref_in if t is not None]):
        against_cpu_float64(mine, ref, name)


@pytest.mark.sanitize
@pytest.mark.parametrize("dtype,act", SANITIZE, ids=[f"{dtype_id(d)}-{a}" for d, a in SANITIZE])
def test_sanitize_linear(dtype, act):
    for batch, fin, fout, bias in [((7,), 13, 45, True), ((3, 5), 37, 97, False), ((0,), 10, 6, True),
                                   ((), 11, 5, True), ((2,), 257, 3, True)]:
        x = torch.randn(*batch, fin).to(dtype).to(DEV)
        w = (torch.randn(fout, fin) / fin ** 0.5).to(dtype).to(DEV)
        b = torch.randn(fout).to(dtype).to(DEV) if bias else None
        check_linear_against_cpu(x, w, b, act)
    x = torch.randn(40, 24).to(dtype).to(DEV).t()     # a transposed view
    w = (torch.randn(19, 40) / 40 ** 0.5).to(dtype).to(DEV)
    check_linear_against_cpu(x, w, None, act)
