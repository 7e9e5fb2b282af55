"""Backbones (shapes, registry, per-channel input BN) and heads (reference losses, soft-label formula)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from recognizer.backbones import BACKBONES, build_backbone
from recognizer.heads import HEADS, ArcFaceHead, CosFaceHead, build_head


def _built(name: str, channels: int, dim: int = 16) -> nn.Module:
    torch.manual_seed(0)
    return build_backbone(name, channels, embedding_dim=dim)


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("channels", [1, 64, 192])
def test_backbone_maps_frequency_maps_to_embeddings(name: str, channels: int) -> None:
    net = _built(name, channels)
    for size in (4, 8, 14):
        out = net(torch.randn(2, channels, size, size) * 50)
        assert out.shape == (2, 16) and out.dtype == torch.float32, size
        assert torch.isfinite(out).all(), size


@pytest.mark.parametrize("name", ["small", "iresnet18"])
def test_backbone_has_one_parameter_count_for_every_input_size(name: str) -> None:
    net = _built(name, 8)
    n_params = sum(p.numel() for p in net.parameters())
    size = 112 if name == "small" else 40  # iresnet18 at 112x112 is too slow for a unit test on CPU
    assert net(torch.randn(2, 8, size, size)).shape == (2, 16)
    assert sum(p.numel() for p in net.parameters()) == n_params


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_standardises_each_input_channel(name: str) -> None:
    torch.manual_seed(0)
    net = build_backbone(name, 3, embedding_dim=16, input_norm="none")
    first = next(m for m in net.modules() if not isinstance(m, (nn.Sequential, nn.Identity, type(net))))
    assert isinstance(first, nn.BatchNorm2d) and first.num_features == 3
    # In train mode the input BN uses batch statistics, so a channel's scale (DC ~ hundreds) is irrelevant.
    x = torch.randn(4, 3, 8, 8)
    scaled = x.clone()
    scaled[:, 0] *= 1000.0
    torch.testing.assert_close(net(x), net(scaled), rtol=1e-3, atol=1e-3)


def _iresnet_block_params(c_in: int, c_out: int, stride: int) -> int:
    # BN(in), conv3x3(in->out), BN(out), PReLU(out), conv3x3(out->out), BN(out) [+ conv1x1(in->out) + BN(out)]
    params = 2 * c_in + 9 * c_in * c_out + 2 * c_out + c_out + 9 * c_out * c_out + 2 * c_out
    return params + (c_in * c_out + 2 * c_out if stride != 1 or c_in != c_out else 0)


def test_iresnet18_has_insightfaces_layout_in_numbers() -> None:
    channels, dim = 8, 16
    net = _built("iresnet18", channels, dim)
    stem = 2 * channels + 9 * channels * 64 + 2 * 64 + 64
    blocks = [(64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
              (256, 512, 1), (512, 512, 1)]
    output = 2 * 512 + 512 * 4 * 4 * dim + dim + 2 * dim  # BN2d, FC over the 4x4 grid, feature BN1d
    expected = stem + sum(_iresnet_block_params(*b) for b in blocks) + output
    assert sum(p.numel() for p in net.parameters()) == expected == 11_308_800
    # 14x14 frequency maps (112-pixel faces) go 14 -> 14 -> 7 -> 4 -> 4 through the four stages.
    sizes = []
    hooks = [stage.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:]))) for stage in net.stages]
    net.eval()(torch.randn(1, channels, 14, 14))
    for hook in hooks:
        hook.remove()
    assert sizes == [(64, 14, 14), (128, 7, 7), (256, 4, 4), (512, 4, 4)]


def test_unknown_names_are_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match="iresnet18"):
        build_backbone("resnet", 3)
    with pytest.raises(ValueError, match="arcface"):
        build_head("sphereface", 8, 4)
    with pytest.raises(ValueError, match="num_classes"):
        build_head("softmax", 8, 1)
    with pytest.raises(ValueError):
        build_backbone("small", 0)


# -- heads -------------------------------------------------------------------------------------------

def _cosines(head: nn.Module, emb: torch.Tensor) -> torch.Tensor:
    return F.normalize(emb, dim=1) @ F.normalize(head.weight, dim=1).T


def _arcface_reference(cos: torch.Tensor, target: torch.Tensor, s: float, m: float) -> torch.Tensor:
    """insightface ArcFace written with the angle: cos(theta + m) if theta + m <= pi, else cos - m sin(m)."""
    theta = torch.acos(cos.clamp(-1, 1))
    margin = torch.where(theta + m <= math.pi, torch.cos(theta + m), cos - m * math.sin(m))
    one_hot = F.one_hot(target, cos.shape[1]).bool()
    return F.cross_entropy(s * torch.where(one_hot, margin, cos), target)


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(6, 8, generator=g)
    target = torch.tensor([0, 1, 2, 3, 4, 0])
    return emb, target, F.one_hot(target, 5).float()


def test_softmax_head_equals_cross_entropy_on_one_hot(batch) -> None:
    emb, target, one_hot = batch
    head = build_head("softmax", 8, 5)
    torch.testing.assert_close(head(emb, one_hot), F.cross_entropy(head.fc(emb), target))
    torch.testing.assert_close(head.logits(emb), head.fc(emb))


def test_cosface_head_equals_reference_on_one_hot(batch) -> None:
    emb, target, one_hot = batch
    head = build_head("cosface", 8, 5, s=30.0, m=0.35)
    cos = _cosines(head, emb)
    reference = F.cross_entropy(30.0 * (cos - 0.35 * one_hot), target)
    torch.testing.assert_close(head(emb, one_hot), reference)
    torch.testing.assert_close(head.logits(emb), 30.0 * cos)


def test_arcface_head_equals_reference_on_one_hot(batch) -> None:
    emb, target, one_hot = batch
    head = build_head("arcface", 8, 5, s=30.0, m=0.5)
    emb = emb.clone()
    emb[5] = -head.weight[0].detach()  # cos = -1 with the target: the theta + m > pi fallback
    cos = _cosines(head, emb)
    assert cos[5, 0] < math.cos(math.pi - 0.5)
    torch.testing.assert_close(head(emb, one_hot), _arcface_reference(cos, target, 30.0, 0.5), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(head.logits(emb), 30.0 * cos)


@pytest.mark.parametrize("name", ["arcface", "cosface"])
def test_margin_applies_to_every_mixed_class(name: str) -> None:
    """loss = -sum_c y_c log softmax(z')_c with the margin on each class of positive weight, by hand."""
    torch.manual_seed(1)
    head = build_head(name, 8, 4, s=16.0, m=0.3)
    emb = torch.randn(2, 8)
    soft = torch.tensor([[0.7, 0.3, 0.0, 0.0], [0.0, 0.2, 0.5, 0.3]])
    cos = _cosines(head, emb).tolist()
    expected = 0.0
    for i in range(2):
        z = []
        for c in range(4):
            if soft[i, c] > 0:
                theta = math.acos(cos[i][c])
                z.append(16.0 * (math.cos(theta + 0.3) if name == "arcface" else cos[i][c] - 0.3))
            else:
                z.append(16.0 * cos[i][c])
        log_norm = math.log(sum(math.exp(v) for v in z))
        expected += -sum(soft[i, c].item() * (z[c] - log_norm) for c in range(4)) / 2
    assert head(emb, soft).item() == pytest.approx(expected, rel=1e-4)


def test_arcface_gradient_is_finite_when_an_embedding_sits_on_its_centre() -> None:
    head = ArcFaceHead(8, 3)
    emb = head.weight.detach()[:2].clone().requires_grad_(True)  # cos = 1 exactly with classes 0 and 1
    head(emb, F.one_hot(torch.tensor([0, 1]), 3).float()).backward()
    assert torch.isfinite(emb.grad).all() and torch.isfinite(head.weight.grad).all()


def test_heads_reject_labels_of_the_wrong_shape() -> None:
    for name in sorted(HEADS):
        head = build_head(name, 8, 5)
        with pytest.raises(ValueError, match="soft_labels"):
            head(torch.randn(3, 8), torch.ones(3, 1))


def test_margin_heads_reject_bad_hyperparameters() -> None:
    with pytest.raises(ValueError):
        CosFaceHead(8, 5, s=0.0)
    with pytest.raises(ValueError):
        ArcFaceHead(8, 5, m=-0.1)
