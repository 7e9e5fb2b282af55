"""GPU smoke test (skipped without CUDA): mixed precision and channels-last recognizer steps, an fp16 checkpoint
round trip, `freqmix train --device cuda`, and every attack network (CGAN, second-opinion evaluator, generator
prior and the inversion through it, the decoder) on the GPU, and ``freqmix evaluate --device cuda`` end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from attacks.budget import AttackBudget
from attacks.decoder import train_decoder
from attacks.evaluator import train_evaluator
from attacks.inversion import TargetModel, invert_gmi, train_generator_prior
from attacks.protection import Protection
from attacks.reconstruction import train_reconstruction
from freqmix.cli import main
from freqmix.evaluate import evaluate_run
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.launch import run_training
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.frequency import FrequencyTransform
from recognizer.data import synthetic_faces
from recognizer.trainer import Recognizer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_recognizer_steps_on_cuda(precision) -> None:
    recognizer = Recognizer(64, 4, backbone="iresnet18", embedding_dim=32, device="cuda", precision=precision,
                            channels_last=True, seed=0)
    labels = torch.nn.functional.one_hot(torch.arange(16) % 4, 4).float()
    x = torch.randn(16, 64, 14, 14, generator=torch.Generator().manual_seed(0)) * 20
    losses = [recognizer.train_step(x, labels) for _ in range(3)]
    assert all(math.isfinite(v) for v in losses) and recognizer.step == 3
    embeddings = recognizer.embed(x)
    assert embeddings.device.type == "cpu" and embeddings.dtype == torch.float32
    state = recognizer.state_dict()
    assert ("grad_scaler" in state) == (precision == "fp16")
    again = Recognizer(64, 4, backbone="iresnet18", embedding_dim=32, device="cuda", precision=precision,
                       channels_last=True, seed=1)
    again.load_state_dict(state)
    assert torch.allclose(again.embed(x), embeddings, atol=1e-5)


def test_train_command_on_cuda_with_bf16(tmp_path) -> None:
    out = tmp_path / "run"
    assert main(["train", "--device", "cuda", "--precision", "bf16", "--channels-last", "--steps", "8",
                 "--batch-size", "16", "--image-size", "32", "--no-progress", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert math.isfinite(metrics["final_loss"]) and metrics["steps"] == 8


def test_cgan_attack_trains_on_cuda() -> None:
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    attack = train_reconstruction(Protection.of(FrequencyTransform(1), {1: 1.0}, batch_size=8), faces.images,
                                  faces.labels, steps=2, seed=0, width=8, progress=False, device="cuda")
    assert attack.generator.in_scale.device.type == "cuda"


def test_evaluator_generator_prior_and_inversion_run_on_cuda() -> None:
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    evaluator = train_evaluator(faces.images, faces.labels, steps=2, seed=0, progress=False, device="cuda")
    assert evaluator.recognizer.device.type == "cuda" and evaluator.logits(faces.images).device.type == "cpu"
    prior = train_generator_prior(faces.images, steps=2, seed=0, width=8, progress=False, device="cuda")
    assert next(prior.generator.parameters()).device.type == "cuda" and prior.latents.device.type == "cpu"
    target = TargetModel(Recognizer(64, 4, embedding_dim=16, device="cuda"), FrequencyTransform(1))
    images = invert_gmi(target, prior, torch.arange(4), steps=2, seed=0, progress=False)
    assert images.device.type == "cpu" and images.shape == faces.images[:4].shape


def test_decoder_trains_on_cuda_from_the_analytic_inverse() -> None:
    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    belief = Protection.of(FrequencyTransform(1, "high", 36, key=7), {2: 1.0}, batch_size=8)
    tensors = belief.protect_all(faces.images.float(), faces.labels, np.random.default_rng(1)).tensors
    untrained = train_decoder(belief, faces.images, faces.labels, steps=0, seed=0, widths=(8, 16), progress=False,
                              device="cuda")
    expected = AnalyticInverse.fit(belief.transform, faces.images).reconstruct(tensors)
    assert torch.allclose(untrained.reconstruct(tensors), expected, atol=1e-3)
    trained = train_decoder(belief, faces.images, faces.labels, steps=3, seed=0, widths=(8, 16), progress=False,
                            device="cuda")
    assert next(trained.network.parameters()).device.type == "cuda"
    images = trained.reconstruct(tensors)
    assert images.device.type == "cpu" and images.shape == faces.images.shape and torch.isfinite(images).all()


def test_evaluate_runs_every_attack_on_cuda(tmp_path) -> None:
    config = TrainConfig.of(data="synthetic", image_size=32, private_fraction=0.1, train_per_identity=3, steps=3,
                            batch_size=6, embedding_dim=16, channels="high", key=5, agent="fixed", hyperparams={"k": 3},
                            device="cuda")
    run_training(config, tmp_path, progress=False)
    tiny = AttackBudget("gpu-tiny", recognizer_epochs=1, evaluator_steps=4, cgan_steps=2, cgan_batch=8, cgan_width=8,
                        prior_steps=2, inversion_steps=2, inversions_per_identity=1, decoder_steps=2,
                        decoder_widths=(8, 16), decoder_batch=8)
    results = evaluate_run(tmp_path, tiny, progress=False, device="cuda")
    assert set(results["reconstruction"]) >= {"decoder_white_box", "decoder_black_box", "cgan_white_box"}
    assert 0 <= results["summary"]["ssim"] <= 1 and set(results["exposure"]) == {"1", "5", "20"}
