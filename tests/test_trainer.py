"""Recognizer: determinism, RNG hygiene, learning, checkpoints, non-finite losses, LR schedule."""

import math
import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from freqmix_base.errors import CheckpointError
from recognizer.trainer import Recognizer

C, K, SIZE = 8, 4, 8


def _problem(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Separable toy data: each class is a fixed random frequency map plus small noise."""
    g = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(K, C, SIZE, SIZE, generator=g) * 10
    labels = torch.arange(n) % K
    x = prototypes[labels] + torch.randn(n, C, SIZE, SIZE, generator=g)
    return x, labels, F.one_hot(labels, K).float()


def _params(rec: Recognizer) -> list[torch.Tensor]:
    return [t.detach().clone() for m in (rec.backbone, rec.head) for t in m.state_dict().values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_same_seed_gives_identical_weights_and_losses() -> None:
    x, _, y = _problem()
    a, b = Recognizer(C, K, seed=3), Recognizer(C, K, seed=3)
    assert _same(_params(a), _params(b))
    assert [a.train_step(x, y) for _ in range(5)] == [b.train_step(x, y) for _ in range(5)]
    assert _same(_params(a), _params(b))
    assert not _same(_params(Recognizer(C, K, seed=4)), _params(Recognizer(C, K, seed=3)))


def test_construction_neither_reads_nor_moves_the_global_rng() -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = Recognizer(C, K, seed=0)
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(456)
    assert _same(_params(a), _params(Recognizer(C, K, seed=0)))


@pytest.mark.parametrize("head", ["arcface", "cosface", "softmax"])
def test_loss_decreases_and_classes_separate(head: str) -> None:
    x, labels, y = _problem()
    rec = Recognizer(C, K, head=head, lr=0.05)
    first = rec.train_step(x, y)
    for _ in range(9):
        last = rec.train_step(x, y)
    assert last < 0.1 * first
    assert rec.step == 10
    assert torch.equal(rec.predict(x), labels)


def test_iresnet18_trains_one_step() -> None:
    x, _, y = _problem(n=4)
    rec = Recognizer(C, K, backbone="iresnet18")
    assert torch.isfinite(torch.tensor(rec.train_step(x, y)))
    assert rec.embed(x).shape == (4, 128)


def test_embed_is_normalised_cpu_and_leaves_state_alone() -> None:
    x, _, y = _problem()
    rec = Recognizer(C, K, embedding_dim=32)
    rec.train_step(x, y)
    before = _params(rec)
    emb = rec.embed(x, batch_size=5)
    assert emb.shape == (32, 32) and emb.device.type == "cpu"
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(32))
    torch.testing.assert_close(rec.embed(x), emb)  # eval mode: batching and repetition change nothing
    assert isinstance(rec.loss(x, y), float)
    assert _same(_params(rec), before) and rec.step == 1
    assert rec.predict(x).shape == (32,) and rec.predict(x).dtype == torch.int64


def test_checkpoint_round_trip_and_resume_equal_uninterrupted(tmp_path: Path) -> None:
    x, _, y = _problem()
    kwargs = dict(head="cosface", total_steps=10, seed=1)
    straight = Recognizer(C, K, **kwargs)
    straight_losses = [straight.train_step(x, y) for _ in range(6)]

    first = Recognizer(C, K, **kwargs)
    losses = [first.train_step(x, y) for _ in range(3)]
    path = tmp_path / "rec.pt"
    first.save(path)
    assert os.listdir(tmp_path) == ["rec.pt"]  # the temp file was renamed, nothing left behind
    resumed = Recognizer.load(path)
    assert resumed.step == 3 and resumed.lr == first.lr
    torch.testing.assert_close(resumed.embed(x), first.embed(x), rtol=0, atol=0)
    losses += [resumed.train_step(x, y) for _ in range(3)]
    assert losses == straight_losses
    assert _same(_params(resumed), _params(straight))


def test_bad_checkpoints_raise_value_errors(tmp_path: Path) -> None:
    rec = Recognizer(C, K)
    good = tmp_path / "good.pt"
    rec.save(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for path in (truncated, garbage, foreign, tmp_path / "missing.pt"):
        with pytest.raises(ValueError) as info:
            Recognizer.load(path)
        assert isinstance(info.value, CheckpointError) and "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="num_classes"):
        Recognizer(C, K + 1).load_state_dict(rec.state_dict())


def test_non_finite_loss_is_returned_without_a_step() -> None:
    x, _, y = _problem()
    rec = Recognizer(C, K)
    rec.train_step(x, y)  # momentum buffers exist, so a step would move the weights
    before, optimizer_before = _params(rec), rec.optimizer.state_dict()
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    loss = rec.train_step(bad, y)
    assert loss != loss  # NaN
    assert _same(_params(rec), before)  # includes BN running statistics, which saw the NaN batch
    assert rec.step == 1
    for p, q in zip(rec.optimizer.state_dict()["state"].values(), optimizer_before["state"].values()):
        assert torch.equal(p["momentum_buffer"], q["momentum_buffer"])
    assert torch.isfinite(torch.tensor(rec.train_step(x, y)))


def test_cosine_schedule_follows_the_step() -> None:
    x, _, y = _problem(n=8)
    rec = Recognizer(C, K, lr=0.2, total_steps=4)
    lrs = [rec.lr]
    for _ in range(5):
        rec.train_step(x, y)
        lrs.append(rec.lr)
    assert lrs == pytest.approx([0.2, 0.2 * 0.8535534, 0.1, 0.2 * 0.1464466, 0.0, 0.0], abs=1e-6)
    assert Recognizer(C, K, lr=0.2).lr == 0.2


def test_bad_hyperparameters_raise() -> None:
    with pytest.raises(ValueError):
        Recognizer(C, K, lr=0.0)
    with pytest.raises(ValueError):
        Recognizer(C, K, total_steps=0)
    with pytest.raises(ValueError, match="backbone"):
        Recognizer(C, K, backbone="vgg")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_initialisation() -> None:
    x, _, y = _problem()
    cpu, gpu = Recognizer(C, K), Recognizer(C, K, device="cuda")
    torch.testing.assert_close(gpu.embed(x), cpu.embed(x), rtol=1e-4, atol=1e-4)
    assert isinstance(gpu.train_step(x, y), float) and gpu.embed(x).device.type == "cpu"


def test_logits_are_the_heads_margin_free_logits_and_carry_gradients():
    rec = Recognizer(64, 5, embedding_dim=16, seed=0)
    x = torch.randn(4, 64, 4, 4, requires_grad=True)
    logits = rec.logits(x)
    rec.backbone.eval(), rec.head.eval()
    torch.testing.assert_close(logits, rec.head.logits(rec.backbone(x)))
    assert torch.equal(logits.argmax(1), rec.predict(x.detach()))
    logits[:, 0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_reschedule_continues_on_the_new_cosine_schedule():
    short = Recognizer(64, 5, embedding_dim=16, seed=0, total_steps=10)
    x, soft = torch.randn(8, 64, 4, 4), torch.eye(5)[torch.arange(8) % 5]
    for _ in range(4):
        short.train_step(x, soft)
    longer = Recognizer(64, 5, embedding_dim=16, seed=0, total_steps=20)
    with pytest.raises(CheckpointError, match="total_steps=10"):
        longer.load_state_dict(short.state_dict())
    longer.load_state_dict(short.state_dict(), reschedule=True)
    assert longer.step == 4
    assert longer.lr == pytest.approx(0.5 * 0.1 * (1 + math.cos(math.pi * 4 / 20)))
