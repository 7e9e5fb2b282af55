"""``freqmix evaluate --run DIR``: every attack on one trained run -> ``DIR/privacy.json`` (every figure),
``DIR/privacy.png`` (the faces the attacks recovered, framed by the judge's verdict) and ``DIR/privacy.npz`` (those
faces and verdicts as arrays) under budget ``default``; ``DIR/privacy_<budget>.json``, ``.png`` and ``.npz`` under
any other, so that evaluations under several budgets sit side by side. An existing file of the same budget is
replaced only with ``--overwrite``.

The run must come from ``freqmix train --private-fraction F`` (the attacker owns the other identities). The run's
``config.json`` says how its tensors were protected, ``metrics.json`` which recipes its agent chose (the recipe
distribution a white-box attacker knows), ``recognizer.pt`` is the model under attack. A run of several recipes is
also read recipe by recipe (:mod:`attacks.recipe_aware`: every attack runs again against its weakest recipe alone).
Its options: :mod:`freqmix.evaluate_command`.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from attacks.budget import AttackBudget
from attacks.chance import chance_levels
from attacks.metrics import score_cls
from attacks.privacy import AttackerKit, attack_recognizer, attacked_rows, prepare_kit
from attacks.protection import Protection
from attacks.recipe_aware import read_by_recipe
from attacks.verdicts import sample_verdicts
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.task import attack_split
from freqmix.experiment.trained_run import load_run
from freqmix.face_pictures import save_faces, save_samples
from freqmix_base.errors import FreqmixError
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.augment import shift_pixels
from recognizer.trainer import Recognizer


def read_run(run: Path, device: str = "cpu") -> tuple[TrainConfig, dict[str, Any], Recognizer]:
    """(config, metrics, recognizer) of a finished ``freqmix train`` run; FreqmixError if anything is missing."""
    loaded = load_run(run, device)
    return loaded.config, loaded.metrics, loaded.recognizer


class PrivacyFiles(NamedTuple):
    """The files an evaluation writes in the run's folder."""

    results: Path  # every figure, JSON
    picture: Path  # the private faces and what each attack recovered, framed by the judge's verdict, PNG
    faces: Path  # the pictured faces and verdicts as arrays, NPZ (compare's gallery reads them)


def privacy_paths(run: Path, budget: str) -> PrivacyFiles:
    """Where an evaluation under the budget named ``budget`` writes: ``privacy.json``/``.png``/``.npz`` for the
    default budget, ``privacy_<budget>.json``/``.png``/``.npz`` for any other."""
    stem = "privacy" if budget == "default" else f"privacy_{budget}"
    return PrivacyFiles(run / f"{stem}.json", run / f"{stem}.png", run / f"{stem}.npz")


def protection_of(config: TrainConfig, metrics: dict[str, Any], image_channels: int,
                  pool: torch.Tensor | None = None) -> Protection:
    """The run's real pipeline: its transform, its recipe distribution (the recipes its agent chose, by frequency;
    for runs that logged only k, its recipe at each k it chose), the training's random translation in pixels, and
    ``pool`` (the run's public identities' faces) where its recipe draws partners from them."""
    if "recipe_histogram" in metrics:
        counts = {Recipe(**{key: value for key, value in entry.items() if key != "count"}): entry["count"]
                  for entry in metrics["recipe_histogram"]}
    else:
        counts = {replace(config.recipe, k=int(k)): n for k, n in metrics["k_histogram"].items()}
    total = sum(counts.values())
    transform = FrequencyTransform.from_config(image_channels, config.transform)
    shift = shift_pixels(config.training.augment_shift, config.task.image_size)
    pooled = config.recipe.partners == "pool"
    return Protection(transform, {recipe: n / total for recipe, n in counts.items()}, config.training.batch_size,
                      shift, config.training.augment_step, pool if pooled else None)


def protection_record(config: TrainConfig, truth: Protection, epochs: float) -> dict[str, Any]:
    """What ``privacy.json`` says was attacked: the run's transform and recipe whole, as its ``config.json`` holds
    them (every field, so that defenses differing in any one differ here), the k distribution its agent chose, and
    every recipe it chose with its probability and ``faces_exposed``, the share of the faces that met it at least
    once over the run's ``epochs`` (each face is in one batch an epoch): a run is as private as its weakest
    exposure, so a weak recipe chosen rarely still reaches most faces. ``linear_faces_exposed``: that share for the
    linear recipes with batch partners, whose batches the batch observer separates back to ``ppfr``'s tensors."""
    linear = sum(p for recipe, p in truth.recipes.items() if recipe.linear and recipe.partners == "batch")
    return {"transform": asdict(config.transform), "recipe": asdict(config.recipe),
            "k_probs": {str(k): p for k, p in sorted(truth.k_probs.items())},
            "recipes": [{**asdict(recipe), "probability": p, "faces_exposed": 1 - (1 - p) ** epochs}
                        for recipe, p in truth.recipes.items()],
            "linear_faces_exposed": 1 - (1 - linear) ** epochs}


def _chance_and_verdicts(results: dict[str, Any], samples: dict[str, torch.Tensor], kit: AttackerKit,
                         budget: AttackBudget) -> dict[str, np.ndarray]:
    """Put each figure's chance level into ``results["chance"]``; return the judge's verdict on each pictured
    output (:func:`attacks.verdicts.sample_verdicts`)."""
    rows = attacked_rows(kit.private, budget.attacked_per_identity)
    results["chance"] = {**results["chance"], **chance_levels(kit.judge, kit.private.images[rows],
                                                              kit.private.num_identities, kit.auxiliary.images)}
    # The pictured reconstructions line up with the first scored faces, the inversions with identities 0, 1, ...
    return sample_verdicts(kit.judge, samples, kit.private.labels[rows[:len(samples["target"])]],
                           torch.arange(len(samples["identity"])))


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
    files = privacy_paths(run, budget.name)
    results_path = files.results
    if results_path.exists() and not overwrite:
        raise FreqmixError(f"{results_path} holds an earlier evaluation under budget {budget.name!r}; pass "
                           "--overwrite to replace it")
    seed = config.seed if seed is None else seed
    data = attack_split(config) if kit is None else None
    private = kit.private if kit is not None else data.train
    auxiliary = kit.auxiliary if kit is not None else data.auxiliary
    truth = protection_of(config, metrics, private.image_channels, auxiliary.images)
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
    epochs = metrics["steps"] * config.training.batch_size / len(private.labels)
    if len(truth.recipes) > 1:
        reading_started = time.perf_counter()
        read_by_recipe(results, truth,
                       lambda alone: attack_recognizer(recognizer, alone, kit, budget, seed, progress)[0],
                       kit.auxiliary.images, kit.auxiliary.labels, epochs, private.num_identities, seed)
        results["stage_seconds"]["recipe-aware reading"] = time.perf_counter() - reading_started
    verdicts = _chance_and_verdicts(results, samples, kit, budget)
    results["stage_seconds"] = {**kit_seconds, **results["stage_seconds"]}
    results["utility"] = {key: metrics[key] for key in ("identification_accuracy", "verification_accuracy")}
    if reference_accuracy is not None:
        results["scores"]["score_cls"] = score_cls(metrics["identification_accuracy"], reference_accuracy)
    results["protection"] = protection_record(config, truth, epochs)
    results["budget"] = budget.name
    results["seed"] = seed
    results["torch_threads"] = torch.get_num_threads()  # the figures are reproducible for a seed and this count
    results["wall_seconds"] = time.perf_counter() - started
    results_path.write_text(json.dumps(results, indent=2))
    save_samples(samples, verdicts, files.picture, title=f"{run.name}, budget {budget.name}")
    save_faces(samples, verdicts, files.faces)
    return results
