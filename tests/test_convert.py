"""fastnn.convert / fastnn.revert: in-place swaps on nested models, shared Parameters, summaries."""
import copy

import pytest
import torch

import fastnn
from fastnn.convert import supported_layers


class Block(torch.nn.Module):
    """A custom module with a shared submodule and a layer used twice."""

    def __init__(self, shared: torch.nn.Linear):
        super().__init__()
        self.shared = shared
        self.proj = torch.nn.Linear(16, 16)
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(16, 8), "b": torch.nn.Linear(16, 8, bias=False)})

    def forward(self, x):
        x = torch.relu(self.shared(x))
        x = torch.tanh(self.proj(x)) + self.shared(x)  # shared used twice in one forward
        return torch.cat([self.heads["a"](x), self.heads["b"](x)], dim=-1)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = torch.nn.Linear(16, 16)
        self.stem = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.GELU())
        self.blocks = torch.nn.ModuleList([Block(self.shared), Block(self.shared)])
        self.out = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(16, 5)))

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)  # 8 + 8 features
        return self.out(x)


def make_net(dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    return Net().to(dtype)


def linear_modules(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Linear)]


def test_convert_swaps_every_linear_in_place_with_the_same_parameters():
    model = make_net()
    x = torch.randn(7, 12, dtype=torch.float64)
    before = model(x)
    params_before = {name: p for name, p in model.named_parameters()}
    keys_before = list(model.state_dict().keys())
    modules_before = [id(m) for m in model.modules()]

    summary = fastnn.convert(model)

    # 1 shared + 1 stem + 2 blocks x (proj, a, b) + out: the shared Linear counts once.
    assert len(summary) == 9 and summary.left == []
    shared_entry = next(s for s in summary.swapped if "shared" in s.names)
    assert sorted(shared_entry.names) == ["blocks.0.shared", "blocks.1.shared", "shared"]
    assert all(type(m) is fastnn.Linear for m in linear_modules(model))
    assert model.blocks[0].shared is model.blocks[1].shared is model.shared
    assert [id(m) for m in model.modules()] == modules_before
    assert {name: p for name, p in model.named_parameters()} == params_before
    assert all(p is params_before[name] for name, p in model.named_parameters())
    assert list(model.state_dict().keys()) == keys_before
    torch.testing.assert_close(model(x), before, atol=1e-12, rtol=0)


def test_fastnn_kernel_runs_after_convert():
    model = make_net(torch.float32)
    fastnn.convert(model)
    from fastnn.convert import recorded_ops
    ops, _ = recorded_ops(model, torch.randn(3, 12))
    assert "fastnn::linear" in ops
    assert not {"aten::addmm", "aten::mm", "aten::linear"} & set(ops)


def test_optimizer_built_before_convert_steps_the_same_parameters():
    torch.manual_seed(1)
    ref = make_net(torch.float64)
    model = copy.deepcopy(ref)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=1e-2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    fastnn.convert(model)
    x, y = torch.randn(9, 12, dtype=torch.float64), torch.randn(9, 5, dtype=torch.float64)
    for _ in range(3):
        for net, o in ((ref, opt_ref), (model, opt)):
            o.zero_grad()
            torch.nn.functional.mse_loss(net(x), y).backward()
            o.step()
    for (name, p_ref), p in zip(ref.named_parameters(), model.parameters()):
        torch.testing.assert_close(p, p_ref, atol=1e-10, rtol=0, msg=name)
    # the optimizer's own references are the model's parameters
    assert {id(p) for g in opt.param_groups for p in g["params"]} == {id(p) for p in model.parameters()}


def test_checkpoints_load_both_ways():
    ref = make_net()
    model = make_net(seed=5)
    fastnn.convert(model)
    model.load_state_dict(ref.state_dict())
    back = make_net(seed=6)
    back.load_state_dict(model.state_dict())
    x = torch.randn(4, 12, dtype=torch.float64)
    torch.testing.assert_close(back(x), ref(x), atol=1e-12, rtol=0)


def test_mode_dtype_device_and_hooks_kept():
    model = make_net(torch.float32)
    model.train()
    model.blocks[1].eval()
    calls = []
    model.out[0][0].register_forward_hook(lambda mod, inp, out: calls.append(out.shape))
    modes = {name: m.training for name, m in model.named_modules()}
    fastnn.convert(model)
    assert {name: m.training for name, m in model.named_modules()} == modes
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    model(torch.randn(2, 12))
    assert calls == [torch.Size([2, 5])]


def test_revert_restores_torch_classes_and_outputs():
    model = make_net()
    x = torch.randn(5, 12, dtype=torch.float64)
    before = model(x)
    params = list(model.parameters())
    fastnn.convert(model)
    summary = fastnn.revert(model)
    assert len(summary) == 9 and summary.left == []
    assert all(type(m) is torch.nn.Linear for m in linear_modules(model))
    assert all(not hasattr(m, "activation") for m in linear_modules(model))
    assert all(a is b for a, b in zip(model.parameters(), params))
    torch.testing.assert_close(model(x), before, atol=0, rtol=0)


def test_root_layer_and_repeated_convert():
    layer = torch.nn.Linear(3, 4)
    assert [s.name for s in fastnn.convert(layer).swapped] == ["<root>"]
    assert type(layer) is fastnn.Linear
    assert len(fastnn.convert(layer)) == 0  # already fastnn: nothing to do, nothing reported


def test_include_and_exclude():
    model = make_net()
    summary = fastnn.convert(model, include=["blocks.*"], exclude=["*.heads.b"])
    names = {n for s in summary.swapped for n in s.names}
    assert names == {"blocks.0.shared", "blocks.1.shared", "shared", "blocks.0.proj", "blocks.1.proj",
                     "blocks.0.heads.a", "blocks.1.heads.a"}
    assert type(model.stem[0]) is torch.nn.Linear and type(model.blocks[0].heads["b"]) is torch.nn.Linear
    fastnn.revert(model)
    assert len(fastnn.convert(model, include=[torch.nn.Linear], exclude=["Linear"])) == 0
    assert len(fastnn.convert(model, include=["Linear"])) == 9


def test_a_single_pattern_and_the_random_stream():
    model = make_net()
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    assert len(fastnn.convert(model, include="stem.*")) == 1  # a string is one pattern
    assert len(fastnn.convert(model, exclude=torch.nn.Linear)) == 0
    assert torch.equal(torch.rand(3), expected)  # convert drew no random numbers


def test_unsupported_dtype_is_left_with_the_reason():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4).to(torch.bfloat16), torch.nn.Linear(4, 4))
    summary = fastnn.convert(model)
    assert [s.name for s in summary.swapped] == ["1"]
    (left,) = summary.left
    assert left.name == "0" and left.target is None
    assert "float32 or float64" in left.reason and "BFloat16" in left.reason
    assert type(model[0]) is torch.nn.Linear and not hasattr(model[0], "activation")
    assert "left    0: torch.nn.Linear (fastnn kernel refused it" in str(summary)


def test_subclass_of_a_torch_layer_is_left_with_the_reason():
    mha = torch.nn.MultiheadAttention(8, 2)  # out_proj is NonDynamicallyQuantizableLinear
    summary = fastnn.convert(mha)
    (left,) = summary.left
    assert left.name == "out_proj" and "subclass of torch.nn.Linear" in left.reason
    assert type(mha.out_proj) is not fastnn.Linear


def test_parametrized_layer_is_left_with_the_reason():
    from torch.nn.utils.parametrizations import weight_norm
    model = torch.nn.Sequential(weight_norm(torch.nn.Linear(4, 4)), torch.nn.Linear(4, 2)).double()
    summary = fastnn.convert(model)
    assert [s.name for s in summary.swapped] == ["1"]
    assert "parametrized" in summary.left[0].reason


def test_device_kept_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    model = torch.nn.Sequential(torch.nn.Linear(8, 8)).cuda()
    x = torch.randn(3, 8, device="cuda")
    expected = model(x)
    summary = fastnn.convert(model)
    assert model[0].weight.device.type == "cuda"
    if summary.swapped:  # a build with CUDA kernels
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-5)
    else:  # a CPU-only build: left, saying why
        assert "CUDA" in summary.left[0].reason


def test_silent_fallback_is_refused(monkeypatch):
    # a fastnn layer whose forward ran torch's own kernel must not count as converted
    monkeypatch.setattr(fastnn.Linear, "forward", torch.nn.Linear.forward)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    summary = fastnn.convert(model)
    assert summary.swapped == []
    assert "would not run a fastnn kernel" in summary.left[0].reason
    assert "aten::addmm" in summary.left[0].reason
    assert type(model[0]) is torch.nn.Linear


def test_a_warning_fallback_is_refused_with_its_words(monkeypatch):
    def forward(self, x):
        import warnings
        warnings.warn("fastnn.Linear: no kernel for this case, using torch.nn.Linear")
        return torch.nn.functional.linear(x, self.weight, self.bias)

    monkeypatch.setattr(fastnn.Linear, "forward", forward)
    summary = fastnn.convert(torch.nn.Linear(4, 4))
    assert summary.swapped == [] and "it warned: fastnn.Linear: no kernel" in summary.left[0].reason


def test_revert_refuses_a_fastnn_only_option():
    model = torch.nn.Sequential(fastnn.Linear(4, 4, activation="relu"), fastnn.Linear(4, 4))
    summary = fastnn.revert(model)
    assert [s.name for s in summary.swapped] == ["1"]
    assert "activation='relu'" in summary.left[0].reason
    assert type(model[0]) is fastnn.Linear and model[0].activation == "relu"


def test_converted_model_compiles_fullgraph():
    model = make_net(torch.float32)
    x = torch.randn(3, 12)
    expected = model(x)
    fastnn.convert(model)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), expected, atol=1e-5, rtol=1e-5)


# ---- the other layer families: exercised as soon as their fastnn class is merged ----

# (layer name, constructor, input shape): defaults and the options a converted layer must keep
LAYER_CONFIGS = [
    ("Linear", lambda: torch.nn.Linear(5, 7), (3, 5)),
    ("Conv1d", lambda: torch.nn.Conv1d(3, 6, 3, stride=2, padding=1), (2, 3, 11)),
    ("Conv1d", lambda: torch.nn.Conv1d(4, 4, 5, padding=2, padding_mode="circular", groups=2), (2, 4, 9)),
    ("Conv2d", lambda: torch.nn.Conv2d(3, 6, 3, padding=1), (2, 3, 9, 8)),
    ("Conv2d", lambda: torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=2, groups=2, bias=False), (2, 4, 11, 9)),
    ("Conv2d", lambda: torch.nn.Conv2d(3, 5, 3, padding="same", padding_mode="reflect"), (1, 3, 7, 6)),
    ("LSTM", lambda: torch.nn.LSTM(5, 7, num_layers=2, batch_first=True), (3, 4, 5)),
    ("LSTM", lambda: torch.nn.LSTM(5, 7, bidirectional=True, proj_size=3), (4, 2, 5)),
    ("GRU", lambda: torch.nn.GRU(5, 7, num_layers=2, bidirectional=True, bias=False), (4, 3, 5)),
    ("RNN", lambda: torch.nn.RNN(5, 7, nonlinearity="relu", batch_first=True), (3, 4, 5)),
    ("LSTMCell", lambda: torch.nn.LSTMCell(5, 7), (3, 5)),
    ("GRUCell", lambda: torch.nn.GRUCell(5, 7, bias=False), (3, 5)),
    ("RNNCell", lambda: torch.nn.RNNCell(5, 7, nonlinearity="relu"), (3, 5)),
]


def _layer_and_input(name, dtype):
    build, shape = next((b, s) for n, b, s in LAYER_CONFIGS if n == name)
    torch.manual_seed(0)
    return build().to(dtype), torch.randn(shape, dtype=dtype)


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


@pytest.mark.parametrize("name, build, shape", LAYER_CONFIGS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAYER_CONFIGS)])
def test_each_layer_family_converts_and_reverts(name, build, shape):
    if not isinstance(getattr(fastnn, name, None), type):
        pytest.skip(f"fastnn.{name} not merged yet")
    torch.manual_seed(0)
    model = torch.nn.Sequential(build().double())
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    ref = copy.deepcopy(model)
    summary = fastnn.convert(model)
    assert [s.target for s in summary.swapped] == [f"fastnn.{name}"], str(summary)
    assert supported_layers()[getattr(torch.nn, name)] is getattr(fastnn, name)
    assert list(model.state_dict()) == list(ref.state_dict())
    x_ref = x.detach().clone().requires_grad_()
    out, out_ref = _flat(model(x)), _flat(ref(x_ref))
    for a, b in zip(out, out_ref):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    sum(o.sum() for o in out).backward()
    sum(o.sum() for o in out_ref).backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-10, rtol=0)
    for (n, p), p_ref in zip(model.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-10, rtol=0, msg=n)
    assert len(fastnn.revert(model)) == 1 and type(model[0]) is getattr(torch.nn, name)


def test_layers_not_in_this_build_are_reported(monkeypatch):
    monkeypatch.setattr(fastnn, "Conv2d", None, raising=False)  # as in a build without it
    summary = fastnn.convert(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(4, 2)))
    assert [s.name for s in summary.swapped] == ["1"]
    assert summary.left[0].reason == "fastnn.Conv2d is not in this build"
