"""The recognizer's input normalisation: a mix of k faces (less energy) and a clean face arrive at one scale."""

import numpy as np
import pytest
import torch

from freqmix_base.registry import UnknownNameError
from mixup_env.masking import FrequencyMixUp
from mixup_env.recipe import Recipe
from recognizer.backbones import BACKBONES, build_backbone
from recognizer.input_norm import SampleRMSNorm, build_input_norm
from recognizer.trainer import CheckpointError, Recognizer


def test_rms_norm_gives_every_tensor_unit_rms_and_keeps_zeros():
    x = torch.randn(5, 4, 3, 3) * torch.tensor([0.1, 1.0, 10.0, 100.0, 1e4]).view(-1, 1, 1, 1)
    out = SampleRMSNorm()(torch.cat([x, torch.zeros(1, 4, 3, 3)]))
    torch.testing.assert_close(out[:5].pow(2).mean(dim=(1, 2, 3)), torch.ones(5))
    torch.testing.assert_close(out[:5], x / x.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt())
    assert torch.equal(out[5], torch.zeros(4, 3, 3))


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_embeds_a_tensor_and_its_rescaled_copy_alike_only_with_rms(name):
    # Eval mode: BN's running statistics are fixed, as when a recognizer trained on mixes meets clean faces.
    x = torch.randn(3, 8, 8, 8, generator=torch.Generator().manual_seed(0))
    scaled = x * torch.tensor([0.3, 1.6, 2.0]).view(-1, 1, 1, 1)
    for norm, alike in (("rms", True), ("none", False)):
        torch.manual_seed(0)
        net = build_backbone(name, 8, embedding_dim=16, input_norm=norm)
        net.train()(torch.randn(4, 8, 8, 8))  # running statistics away from their initial values
        net.eval()
        out = net(x)
        # Float32 through a deep net with outputs ~1e4: agreement is judged relative to the output's scale.
        assert torch.allclose(out, net(scaled), rtol=1e-3, atol=1e-3 * out.abs().max().item()) == alike, norm


def test_rms_brings_a_mix_to_the_energy_of_one_face():
    faces = torch.randn(64, 36, 14, 14)
    mixed = FrequencyMixUp(64)(Recipe(k=6), faces, torch.arange(64), np.random.default_rng(0)).x
    energy = mixed.pow(2).mean().item() / faces.pow(2).mean().item()
    assert energy < 0.4  # about E[Σw²] = 2/7 under Dirichlet(1) weights
    norm = SampleRMSNorm()
    torch.testing.assert_close(norm(mixed).pow(2).mean(), norm(faces).pow(2).mean())


def test_unknown_input_norm_is_refused_with_the_choices():
    with pytest.raises(UnknownNameError, match="rms"):
        build_input_norm("batch")


def test_checkpoint_of_earlier_versions_loads_without_normalisation(tmp_path):
    old = Recognizer(8, 3, input_norm="none", seed=0)
    state = old.state_dict()
    del state["config"]["input_norm"]  # saved before the option existed
    torch.save(state, tmp_path / "old.pt")
    loaded = Recognizer.load(tmp_path / "old.pt")
    assert loaded.config["input_norm"] == "none"
    x = torch.randn(4, 8, 6, 6)
    torch.testing.assert_close(loaded.embed(x), old.embed(x))
    with pytest.raises(CheckpointError, match="input_norm"):
        Recognizer(8, 3, seed=0).load_state_dict(state)
