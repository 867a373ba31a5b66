"""DistributedDataParallel with fastnn layers: 2 CPU processes (gloo, 127.0.0.1) give the gradients
of single-process training on the same global batch."""
import os
import sys

import pytest
import torch
import torch.distributed as dist

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with gloo is not available in this torch build")


@pytest.fixture(scope="module")
def ddp_train():
    # examples/ stays on sys.path while the test runs: the spawned workers import ddp_train from it
    sys.path.insert(0, EXAMPLES)
    import ddp_train
    yield ddp_train
    sys.path.remove(EXAMPLES)


def test_ddp_gradients_match_single_process(ddp_train):
    steps, batch = 3, 16
    ranks = ddp_train.run_ddp(world=2, steps=steps, batch=batch, dtype="float64")
    single = ddp_train.run_single(steps=steps, batch=batch, dtype="float64")
    assert len(ranks) == 2
    for step in range(steps):
        for rank in ranks:
            for g_ddp, g_ref in zip(rank["grads"][step], single["grads"][step]):
                torch.testing.assert_close(g_ddp, g_ref, atol=1e-12, rtol=0)
    for rank in ranks:
        for p_ddp, p_ref in zip(rank["params"], single["params"]):
            torch.testing.assert_close(p_ddp, p_ref, atol=1e-12, rtol=0)

    # the comparison can fail: one rank's half batch alone gives other gradients
    model = ddp_train.build_model(torch.float64)
    half = ddp_train._train(model, ddp_train.global_batches(1, batch, torch.float64), 0.05, shard=(0, 2))
    assert max((a - b).abs().max().item() for a, b in zip(half[0], single["grads"][0])) > 1e-4


def test_ddp_model_runs_fastnn_layers(ddp_train):
    import fastnn
    model = ddp_train.build_model(torch.float64)
    assert all(type(m) is fastnn.Linear for m in model.modules() if isinstance(m, torch.nn.Linear))
