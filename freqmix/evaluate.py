"""``freqmix evaluate --run DIR``: every attack on one trained run -> ``DIR/privacy.json`` and ``DIR/privacy.png``
(budget ``default``), ``DIR/privacy_<budget>.json`` and ``.png`` under any other budget, so that evaluations under
several budgets sit side by side. An existing file of the same budget is replaced only with ``--overwrite``.

The run must come from ``freqmix train --private-fraction F`` (the attacker owns the other identities). The run's
``config.json`` says how its tensors were protected, ``metrics.json`` which k its agent chose (the recipe
distribution a white-box attacker knows), ``recognizer.pt`` is the model under attack. Its options:
:mod:`freqmix.evaluate_command`.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from attacks.budget import AttackBudget
from attacks.metrics import score_cls
from attacks.privacy import AttackerKit, attack_recognizer, prepare_kit, sample_label
from attacks.protection import Protection
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.task import attack_split
from freqmix.experiment.trained_run import load_run
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform
from recognizer.trainer import Recognizer


def read_run(run: Path, device: str = "cpu") -> tuple[TrainConfig, dict[str, Any], Recognizer]:
    """(config, metrics, recognizer) of a finished ``freqmix train`` run; FreqmixError if anything is missing."""
    loaded = load_run(run, device)
    return loaded.config, loaded.metrics, loaded.recognizer


def privacy_paths(run: Path, budget: AttackBudget) -> tuple[Path, Path]:
    """Where an evaluation under ``budget`` writes its results and samples: ``privacy.json``/``.png`` for the
    default budget, ``privacy_<budget>.json``/``.png`` for any other."""
    stem = "privacy" if budget.name == "default" else f"privacy_{budget.name}"
    return run / f"{stem}.json", run / f"{stem}.png"


def protection_of(config: TrainConfig, metrics: dict[str, Any], image_channels: int) -> Protection:
    """The run's real pipeline: its transform, and its recipe distribution (the k its agent chose, by frequency)."""
    counts = {int(k): n for k, n in metrics["k_histogram"].items()}
    total = sum(counts.values())
    transform = FrequencyTransform.from_config(image_channels, config.transform)
    return Protection(transform, {k: n / total for k, n in counts.items()}, config.recipe,
                      config.training.batch_size)


def protection_record(config: TrainConfig, truth: Protection) -> dict[str, Any]:
    """What ``privacy.json`` says was attacked: the run's transform and recipe whole, as its ``config.json`` holds
    them (every field, so that defenses differing in any one differ here), and the k distribution its agent
    chose."""
    return {"transform": asdict(config.transform), "recipe": asdict(config.recipe),
            "k_probs": {str(k): p for k, p in sorted(truth.k_probs.items())}}


def evaluate_run(run: Path, budget: AttackBudget, seed: int | None = None, kit: AttackerKit | None = None,
                 reference_accuracy: float | None = None, progress: bool = True, device: str = "cpu",
                 overwrite: bool = False, attacker_folder: str | Path | None = None) -> dict[str, Any]:
    """Attack the run in ``run``, write the results and samples there (see :func:`privacy_paths`), and return
    the results.

    :param seed: seed of the attacks (default: the run's own seed).
    :param kit: judges and generator prior to reuse (``freqmix compare`` shares one across defenses); its device
        wins over ``device``.
    :param reference_accuracy: identification accuracy of the no-defense run, for ``score_cls``.
    :param device: where the attack networks and the attacked recognizer run (``"cpu"``, ``"cuda"``).
    :param overwrite: replace an earlier evaluation under the same budget (else FreqmixError before any attack).
    :param attacker_folder: an identity folder of more public faces for the decoders (``--attacker-faces``; ignored
        when ``kit`` is given: the kit holds its faces).
    """
    started = time.perf_counter()
    device = kit.device if kit is not None else device
    config, metrics, recognizer = read_run(run, device)
    results_path, samples_path = privacy_paths(run, budget)
    if results_path.exists() and not overwrite:
        raise FreqmixError(f"{results_path} holds an earlier evaluation under budget {budget.name!r}; pass "
                           "--overwrite to replace it")
    seed = config.seed if seed is None else seed
    data = attack_split(config) if kit is None else None
    private = kit.private if kit is not None else data.train
    truth = protection_of(config, metrics, private.image_channels)
    # Checked before any attack trains, so a wrong folder fails in seconds.
    expected = (truth.transform.out_channels, private.num_identities)
    found = (recognizer.config["in_channels"], recognizer.config["num_classes"])
    if found != expected:
        raise FreqmixError(f"{run / 'recognizer.pt'} takes {found[0]} channels and {found[1]} identities but the run's "
                         f"config makes {expected[0]} and {expected[1]}; the checkpoint does not match config.json")
    kit_seconds: dict[str, float] = {}  # a kit given by the caller was prepared, and timed, elsewhere
    if kit is None:
        kit = prepare_kit(data.train, data.test, data.auxiliary, budget, seed, progress, device, attacker_folder)
        kit_seconds = kit.stage_seconds
    results, samples = attack_recognizer(recognizer, truth, kit, budget, seed, progress)
    results["stage_seconds"] = {**kit_seconds, **results["stage_seconds"]}
    results["utility"] = {key: metrics[key] for key in ("identification_accuracy", "verification_accuracy")}
    if reference_accuracy is not None:
        results["scores"]["score_cls"] = score_cls(metrics["identification_accuracy"], reference_accuracy)
    results["protection"] = protection_record(config, truth)
    results["budget"] = budget.name
    results["seed"] = seed
    results["wall_seconds"] = time.perf_counter() - started
    results_path.write_text(json.dumps(results, indent=2))
    save_samples(samples, samples_path, title=str(run.name))
    return results


def save_samples(samples: dict[str, torch.Tensor], path: Path, title: str) -> None:
    """One row per attack output (in the order of ``samples``: targets, reconstructions, identities, inversions),
    one column per sample."""
    cols = max(len(v) for v in samples.values())
    fig = Figure(figsize=(1.2 * cols, 1.35 * len(samples)))
    axes = fig.subplots(len(samples), cols, squeeze=False)
    for r, (name, images) in enumerate(samples.items()):
        for c in range(cols):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(images):
                image = images[c].clamp(0, 255).byte().permute(1, 2, 0).numpy()
                ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255)
        axes[r, 0].set_title(sample_label(name), fontsize=7, loc="left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
