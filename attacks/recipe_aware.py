"""The recipe-aware reading of a run whose agent chose its recipe batch by batch.

The observer that trains the recognizer knows each batch's recipe (it mixes the labels by it; the run's step log
names it), so it need not read every batch as the mixture of all of them, as :meth:`Protection.readable` does
(every row read as magnitudes where any recipe flips signs). It ranks the run's recipes by what the white-box
analytic inverse tells its own faces apart under each, weakest first (:func:`rank_recipes`; recipes that differ
only where they cannot change a tensor count as one, :func:`alike`), and reads every private face that met the
weakest recipe in some batch of the run from those exposures, with every attack run against that recipe alone;
the faces that never met it keep the mixture's reading (:func:`read_by_recipe`).

A face that met the recipe in E batches is read from them linked (:mod:`attacks.exposure`: its exposures averaged,
as Carlini et al. link InstaHide's encodings), at the most linked epochs measured that it met (:data:`EXPOSURES`: 1,
5 or 20; a face that met it 26 times is read from 20). A face that met only the second-weakest recipe is left to the
mixture reader, and exposures under other recipes are not linked in, so the figure is a lower bound on this
attacker. How often each face met the recipe is drawn from its probability over the run's epochs (each face is in
one batch an epoch).
"""
from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any, Callable

import numpy as np
import torch

from attacks.exposure import EXPOSURES
from attacks.privacy import RECONSTRUCTION_FIGURES, exposure_column, figure_interval, summary_scores
from attacks.protection import Protection
from freqmix_base.seeds import sub_seed
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.recipe import Recipe
from mixup_env.ssim import ssim

RECIPE_AWARE_VIEW = "weakest recipe met"  # the view a figure takes when the recipe-aware reading is the strongest
RANKED_SHOWN = 5  # recipes of the ranking written to privacy.json


def alike(recipe: Recipe) -> Recipe:
    """``recipe`` with what does not change its tensors set to the defaults: a recipe that mixes nothing (k = 1) has
    no weights, so recipes that differ only there protect alike and are read as one."""
    return replace(recipe, weights=Recipe().weights, alpha=Recipe().alpha) if recipe.k == 1 else recipe


def rank_recipes(truth: Protection, faces: torch.Tensor, labels: torch.Tensor, seed: int) -> list[tuple[Recipe, float]]:
    """The recipes of ``truth``, weakest first, each with how much more the white-box analytic inverse's readings of
    ``faces`` (N, P, H, W) 0..255 (the attacker's own, ``labels`` (N,) their identities) resemble their own face than
    another (the face half the set away: another identity where each holds less than half), in mean SSIM, under that
    recipe alone (one epoch in batches of the run's size, read as the attacker reads it: magnitudes where it flips).

    The margin over another face, not the SSIM itself: a reading that blurs towards the mean face (a flipped mix of
    six, read as magnitudes) scores as high an SSIM as a sharp one but tells the faces apart no better than chance.
    """
    inverse = AnalyticInverse.fit(truth.transform, faces)
    targets = faces.float()
    others = targets.roll(len(targets) // 2, dims=0)
    ranked = []
    for recipe in truth.recipes:
        alone = replace(truth, recipes={recipe: 1.0})
        observed = alone.protect_all(targets, labels, np.random.default_rng(sub_seed(seed, "recipe-rank")))
        read = inverse.reconstruct(alone.readable(observed.tensors))
        ranked.append((recipe, float((ssim(read, targets) - ssim(read, others)).mean())))
    return sorted(ranked, key=lambda pair: -pair[1])


def times_met(probability: float, epochs: float, faces: int, rng: np.random.Generator) -> np.ndarray:
    """(faces,) int: how many times each face met, over ``epochs`` epochs, a recipe chosen for a batch with
    ``probability`` (each face is in one batch an epoch)."""
    return rng.binomial(max(int(round(epochs)), 1), probability, size=faces)


def links_read(times: np.ndarray) -> np.ndarray:
    """(faces,) int: the linked epochs a face is read from, having met the recipe ``times`` (faces,) times: the most
    of :data:`EXPOSURES` it reaches, 0 where it never met it."""
    linked = np.zeros_like(times)
    for epochs in sorted(EXPOSURES):
        linked[times >= epochs] = epochs
    return linked


def read_by_recipe(results: dict[str, Any], truth: Protection, attack_alone: Callable[[Protection], dict[str, Any]],
                   faces: torch.Tensor, labels: torch.Tensor, epochs: float, num_identities: int, seed: int) -> None:
    """Add the recipe-aware reading to ``results`` (:func:`attacks.privacy.attack_recognizer`'s, of ``truth``, a
    protection of several recipes): ``results["recipe_aware"]`` says which recipe was read, how many faces met it,
    the ranking, the recipe's own figures and both readings (``mixture``: the figures before); a reconstruction
    figure of ``results["summary"]`` it beats becomes its own, with view :data:`RECIPE_AWARE_VIEW`, per-image values
    and interval (and ``results["scores"]`` follow it).

    :param attack_alone: runs every attack against a protection and returns its results (the same recognizer, kit,
        budget and seed as ``results``).
    :param faces: (N, P, H, W) 0..255 the attacker's own faces and ``labels`` (N,) their identities, for the ranking.
    :param epochs: epochs of the run (each face met one batch's recipe per epoch).
    :param num_identities: private identities (chance of the scores).
    """
    truth = truth.mapped(alike)
    ranked = rank_recipes(truth, faces, labels, seed)
    weakest = ranked[0][0]
    alone = attack_alone(replace(truth, recipes={weakest: 1.0}))
    summary, per_image = results["summary"], results["per_image"]
    linked = links_read(times_met(truth.recipes[weakest], epochs, len(per_image["ssim"]),
                                  np.random.default_rng(sub_seed(seed, "recipe-aware"))))
    mixture = {figure: summary[figure] for figure in RECONSTRUCTION_FIGURES}
    reading = {}
    for figure in RECONSTRUCTION_FIGURES:
        values = np.asarray(per_image[figure], dtype=float)
        for epochs_linked in EXPOSURES:
            read = linked == epochs_linked
            values[read] = np.asarray(alone["per_image"][exposure_column(figure, epochs_linked)])[read]
        reading[figure] = float(values.mean())
        if reading[figure] > summary[figure]:
            summary[figure], summary[f"{figure}_view"] = reading[figure], RECIPE_AWARE_VIEW
            summary[f"{figure}_attack"] = alone["exposure_attack"]
            per_image[figure] = values.tolist()
            results["intervals"][figure] = figure_interval(values, figure, seed)
    results["scores"] = summary_scores(summary, num_identities)
    results["recipe_aware"] = {
        "recipe": asdict(weakest), "probability": truth.recipes[weakest], "faces_met": float((linked > 0).mean()),
        "faces_read_linked": {str(e): float((linked == e).mean()) for e in EXPOSURES},
        "ranking": [{"recipe": asdict(recipe), "analytic_ssim_margin": score} for recipe, score in ranked[:RANKED_SHOWN]],
        # What the attacks read of the recipe alone, strongest over every view (as if every batch had used it), and
        # from one exposure of each face.
        "alone": {figure: alone["summary"][figure] for figure in RECONSTRUCTION_FIGURES},
        "alone_one_exposure": {figure: float(np.mean(alone["per_image"][exposure_column(figure, 1)]))
                               for figure in RECONSTRUCTION_FIGURES},
        "mixture": mixture, "reading": reading}
