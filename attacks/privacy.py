"""Every registered attack (:data:`attacks.registry.ATTACKS`) on one trained recognizer, scored: reconstructions of
the private protected training tensors, model inversions of the private identities, the exposure of a face over E
linked encodings; the strongest attack per figure, with bootstrap intervals over images.

Identity is judged by dlib's pretrained descriptor (:mod:`attacks.judge`), which never saw the private faces; the
small recognizer trained on the clean private faces (:mod:`attacks.evaluator`) is reported as a second opinion.
What does not depend on the defense (the attacker's faces, the decoders' training faces, both judges, the generator
prior, black-box CGANs and decoders whose believed pipeline coincides) lives in an :class:`AttackerKit`, built once
and shared by every defense of a comparison.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attacks.attacker_faces import attacker_faces
from attacks.attack import FAMILIES, Attack, AttackSetting, Reconstructor, reconstruct_observed
from attacks.budget import AttackBudget
from attacks.cost_model import judging_seconds, kit_costs
from attacks.decoder_attacks import fit_decoder
from attacks.evaluator import Evaluator, train_evaluator
from attacks.exposure import EXPOSURES, identity_merged, merged_belief, run_exposures
from attacks.inversion import GeneratorPrior, train_generator_prior
from attacks.judge import PretrainedJudge
from attacks.key_recovery import KeyRecovery, recovered_belief
from attacks.metrics import TOP_K, component_scores, knn_distances, privacy_scores, psnr, ssim, topk_hits
from attacks.progress import StageProgress
from attacks.protection import ProtectedSet, Protection, black_box_guess, white_box
from attacks.registry import ATTACKS
from freqmix_base.errors import FreqmixError
from freqmix_base.intervals import bootstrap_interval
from freqmix_base.registry import Registry
from freqmix_base.seeds import sub_seed
from mixup_env.analytic_inverse import AnalyticInverse
from recognizer.faces import FaceDataset
from recognizer.trainer import Recognizer

SAMPLES = 8  # images per row of the sample figure
RECONSTRUCTION_FIGURES = {"psnr": "psnr_best", "ssim": "ssim_best", "recon_id_accuracy": "id_accuracy_best"}
INVERSION_FIGURES = {"mia_top1": "top1", "mia_top5": "top5", "knn_distance": "knn_distance"}
LOWER_IS_STRONGER = frozenset({"knn_distance"})
SAMPLE_LABELS = {"target": "private training face", "identity": "private identity"}
OBSERVED_VIEW = "observed epoch"  # the view of a reconstruction figure taken from the tensors of one epoch
IDENTITY_MERGED = "identity"  # the exposure reading of each face filled in from its identity's other faces


@dataclass
class AttackerKit:
    """What the attacker and the judges hold for one data set and seed.

    :param private: the defender's private training faces (targets of reconstruction, gallery of both judges).
    :param auxiliary: the attacker's own faces (identities disjoint from the private ones).
    :param public_faces: every face the attacker trains decoders on (``auxiliary`` plus ``--attacker-faces``).
    :param judge: the pretrained judge (dlib descriptor, nearest centroid of ``private``).
    :param judge_accuracy: its identification accuracy on held-out private faces.
    :param second_opinion: the small recognizer trained on ``private`` (reported, not scored).
    :param second_opinion_accuracy: its held-out identification accuracy.
    :param prior: the generator prior of model inversion (trained on ``auxiliary``).
    :param device: where the attack networks train.
    :param stage_seconds: measured wall seconds of each stage of preparing the kit.
    :param shared: fitted attacks shared by every defense (``AttackSetting.shared``: the same belief, the same
        attack).
    """

    private: FaceDataset
    auxiliary: FaceDataset
    judge: PretrainedJudge
    judge_accuracy: float
    second_opinion: Evaluator
    second_opinion_accuracy: float
    prior: GeneratorPrior
    public_faces: FaceDataset
    device: str = "cpu"
    stage_seconds: dict[str, float] = field(default_factory=dict)
    shared: dict[Any, Any] = field(default_factory=dict)


def prepare_kit(private: FaceDataset, private_test: FaceDataset, auxiliary: FaceDataset, budget: AttackBudget,
                seed: int, progress: bool = True, device: str = "cpu", attacker_folder: str | Path | None = None
                ) -> AttackerKit:
    """Fit both judges on ``private`` (checked on ``private_test``), train the generator prior on ``auxiliary``,
    and gather the decoders' training faces: ``auxiliary`` plus the identity folder ``attacker_folder`` (None:
    none), preprocessed as the private faces."""
    public_faces = attacker_faces(auxiliary, attacker_folder)  # first, so that a wrong folder fails in seconds
    costs = kit_costs(budget, len(private) + len(private_test))
    line = StageProgress(sum(costs.values()), progress, desc="attacker kit", stages=len(costs))
    with line.stage("pretrained judge", costs["pretrained judge"]):
        judge = PretrainedJudge(private.images, private.labels)
        judge_accuracy = float(topk_hits(judge.logits(private_test.images), private_test.labels).mean())
    with line.stage("second-opinion judge", costs["second-opinion judge"]):
        evaluator = train_evaluator(private.images, private.labels, budget.evaluator_steps,
                                    sub_seed(seed, "evaluator"), progress=False, device=device)
        evaluator_accuracy = float(topk_hits(evaluator.logits(private_test.images.float()),
                                             private_test.labels).mean())
    with line.stage("generator prior", costs["generator prior"]):
        prior = train_generator_prior(auxiliary.images, budget.prior_steps, sub_seed(seed, "generator-prior"),
                                      progress=False, device=device)
    line.close()
    return AttackerKit(private, auxiliary, judge, judge_accuracy, evaluator, evaluator_accuracy, prior, public_faces,
                       device, line.seconds)


def attacked_rows(private: FaceDataset, per_identity: int | None) -> torch.Tensor:
    """(M,) int64 indices of the private faces that are reconstructed and judged: the first ``per_identity`` faces of
    every identity (all of an identity's faces if it has fewer; every face when None)."""
    if per_identity is None:
        return torch.arange(len(private))
    if per_identity < 1:
        raise FreqmixError(f"attacked_per_identity must be >= 1, not {per_identity}")
    return torch.cat([(private.labels == k).nonzero().flatten()[:per_identity] for k in range(private.num_identities)])


def figure_interval(values: np.ndarray, figure: str, seed: int) -> list[float]:
    """``[low, high]``: the bootstrap interval of a figure's per-image ``values``, drawn from ``seed`` and the
    figure's name (the same draw wherever the figure is scored)."""
    _, low, high = bootstrap_interval([values], seed=sub_seed(seed, f"interval-{figure}"))
    return [low, high]


def _score_reconstructions(kit: AttackerKit, reconstructions: torch.Tensor, components: torch.Tensor,
                           weights: torch.Tensor) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(scores, per-image values of the summary figures) of reconstructions of the private protected tensors."""
    scores = component_scores(reconstructions, kit.private.images.float(), components, weights)
    labels = kit.private.labels.numpy()
    judged = kit.judge.logits(reconstructions).argmax(dim=1).numpy()
    second = kit.second_opinion.logits(reconstructions).argmax(dim=1).numpy()
    per_image = {"psnr": scores["psnr_best"], "ssim": scores["ssim_best"],
                 "recon_id_accuracy": (judged == labels[scores["best"]]).astype(np.float64)}
    second_component = _second_components(components, weights)
    mixed = second_component >= 0
    return {"psnr_best": float(np.mean(scores["psnr_best"])), "ssim_best": float(np.mean(scores["ssim_best"])),
            "psnr_dominant": float(np.mean(scores["psnr_dominant"])),
            "ssim_dominant": float(np.mean(scores["ssim_dominant"])),
            "id_accuracy_best": float(np.mean(per_image["recon_id_accuracy"])),
            "id_accuracy_dominant": float(np.mean(judged == labels[scores["dominant"]])),
            # Over mixed tensors only (None when nothing is mixed): the judge names the 2nd-largest-weight face.
            "id_accuracy_second": (float(np.mean(judged[mixed] == labels[second_component[mixed]])) if mixed.any()
                                   else None),
            "second_opinion_id_accuracy_best": float(np.mean(second == labels[scores["best"]]))}, per_image


def _second_components(components: torch.Tensor, weights: torch.Tensor) -> np.ndarray:
    """(N,) index of each row's second-largest-weight component (-1 where a row mixes fewer than 2 faces)."""
    if components.shape[1] < 2:
        return np.full(len(components), -1)
    order = weights.masked_fill(components < 0, -1.0).argsort(dim=1, descending=True)
    return components.gather(1, order[:, 1:2])[:, 0].numpy()


def _score_inversion(kit: AttackerKit, images: torch.Tensor, identities: torch.Tensor
                     ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    logits = kit.judge.logits(images)
    per_image = {"mia_top1": topk_hits(logits, identities, 1), "mia_top5": topk_hits(logits, identities, TOP_K),
                 "knn_distance": knn_distances(kit.judge.embed(images), identities, kit.judge.gallery_embeddings,
                                               kit.judge.gallery_labels)}
    second = kit.second_opinion.logits(images)
    return {"top1": float(per_image["mia_top1"].mean()), "top5": float(per_image["mia_top5"].mean()),
            "knn_distance": float(per_image["knn_distance"].mean()),
            "second_opinion_top1": float(topk_hits(second, identities, 1).mean()),
            "second_opinion_top5": float(topk_hits(second, identities, TOP_K).mean())}, per_image


def strongest(attacks: dict[str, dict[str, Any]], key: str, lower_is_stronger: bool = False) -> str:
    """Name of the attack with the highest ``key`` (the lowest if ``lower_is_stronger``); ties go to the first."""
    pick = min if lower_is_stronger else max
    return pick(attacks, key=lambda name: attacks[name][key])


def _exposure(kit: AttackerKit, setting: AttackSetting, attack: Reconstructor | None, rows: torch.Tensor,
              reconstructed: torch.Tensor | None) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, np.ndarray]]]:
    """How well the scored faces ``rows`` are recovered over a run's epochs (:func:`attacks.exposure.run_exposures`)
    by ``attack`` (None: the white-box analytic inverse): linked over E epochs for each E (``"E"``), the best single
    exposure (``"best"``), and, where nothing is mixed but each exposure is drawn afresh, the tensors of E epochs
    merged (``"mergedE"``) and decoded under :func:`attacks.exposure.merged_belief`, and where nothing is mixed but
    channels are dropped, each face filled in from its identity's other faces (``"identity"``,
    :func:`attacks.exposure.identity_merged`). ``reconstructed``: ``attack``'s reconstructions of those faces'
    observed tensors (None: none made)."""
    truth, seed = setting.truth, setting.seed
    attack = attack or AnalyticInverse.fit(white_box(truth).transform, kit.auxiliary.images)
    images, labels = kit.private.images[rows].float(), kit.private.labels[rows]

    def scored(faces: torch.Tensor) -> dict[str, np.ndarray]:
        judged = kit.judge.logits(faces).argmax(dim=1)
        return {"ssim": ssim(faces, images), "psnr": psnr(faces, images),
                "recon_id_accuracy": (judged == labels).double().numpy()}

    if truth.deterministic and (truth.invertible or not truth.shift) and reconstructed is not None:
        # Every epoch exposes a face as the tensor the attacker observed (or one that gives the face back exactly
        # already): E epochs hold nothing one does not.
        per_image = dict.fromkeys([*map(str, EXPOSURES), "best"], scored(reconstructed))
    else:
        rng = np.random.default_rng(sub_seed(seed, "exposure"))
        exposures = run_exposures(truth, attack, kit.private.images, kit.private.labels, rows, rng)
        per_image = {**{str(e): scored(faces) for e, faces in exposures.linked.items()},
                     "best": scored(exposures.best)}
        if exposures.merged:
            merged = fit_decoder(setting, merged_belief(truth), "decoder white-box, merged exposures")
            per_image.update({f"merged{e}": scored(merged.reconstruct(tensors))
                              for e, tensors in exposures.merged.items()})
    if not truth.mixes and any(recipe.drop > 0 for recipe in truth.recipes):
        rng = np.random.default_rng(sub_seed(seed, "identity-merged"))
        filled = identity_merged(truth, kit.private.images, kit.private.labels, rows, rng)
        merged = fit_decoder(setting, merged_belief(truth), "decoder white-box, merged exposures")
        per_image[IDENTITY_MERGED] = scored(merged.reconstruct(filled))
    summary = {e: {name: float(v.mean()) for name, v in values.items()} for e, values in per_image.items()}
    return summary, per_image


def black_box_belief(observed: torch.Tensor, auxiliary: FaceDataset, guess: Protection, seed: int
                     ) -> tuple[Protection, KeyRecovery]:
    """What the black-box attacker believes the pipeline is, from what it holds: the protected tensors it observed
    ``(N, C, h, w)``, its own faces ``auxiliary``, and what it knows of the method, ``guess``
    (:func:`attacks.protection.black_box_guess`: the public facts, not the secrets; Kerckhoffs).

    The channel set and shuffle key are recovered by matching the observed channels' energy statistics to its own
    faces' (:func:`attacks.key_recovery.recovered_belief`); the k distribution stays the guess of
    :func:`attacks.protection.black_box_guess` (uniform over the paper's choices when the method mixes), because the
    energy-shrink reading (:func:`attacks.key_recovery.estimate_k`) is biased upwards on ORL (k 2 -> 3, 4 -> 6).

    :return: ``(belief, recovery)``; ``recovery.recovered_fraction(truth.transform)`` scores it (scoring only).
    """
    belief, recovery = recovered_belief(guess, observed, auxiliary.images, sub_seed(seed, "key-recovery"),
                                        read_k=False)
    return belief, recovery


def attack_recognizer(recognizer: Recognizer, truth: Protection, kit: AttackerKit, budget: AttackBudget, seed: int,
                      progress: bool = True, attacks: Registry[Attack] = ATTACKS
                      ) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Run every registered attack against one defense and score it.

    :param recognizer: the defender's trained recognizer (white-box target of model inversion).
    :param truth: the defender's real pipeline (it regenerates the private protected tensors the attacker sees).
    :param attacks: the attacks to run (default: every registered one).
    :return: ``(results, samples)``: results as JSON-ready nested dicts (``reconstruction``, ``inversion``,
        ``exposure``, ``summary``, ``intervals``, ``per_image``, ``scores``, ``judge``, ``evaluator``); samples:
        (SAMPLES, P, H, W) images for a figure, in row order: ``target``, the reconstruction attacks shown in
        samples, ``identity``, the inversion attacks shown in samples.
    """
    private = kit.private
    num_identities = private.num_identities
    if recognizer.config["num_classes"] != num_identities:
        raise FreqmixError(f"the recognizer knows {recognizer.config['num_classes']} identities but the private set "
                           f"has {num_identities}; the checkpoint does not match the run's data")
    identities = torch.arange(num_identities).repeat(budget.inversions_per_identity)
    # The attacker holds a tensor of every private training face, in the batches they were mixed in, not only of
    # those it reconstructs and judges (``rows``): a batch is separated whole, and statistics are free.
    rows = attacked_rows(private, budget.attacked_per_identity)
    observed = truth.protect_all(private.images, private.labels,
                                 np.random.default_rng(sub_seed(seed, "private-protection")), named=True)
    guess = black_box_guess(truth, seed)
    belief, recovery = black_box_belief(observed.tensors, kit.auxiliary, guess, seed)
    setting = AttackSetting(truth, observed, guess, belief, kit.auxiliary, kit.public_faces, recognizer, identities,
                            kit.prior, budget, seed, kit.device, progress, kit.shared)
    ran = attacks.items()
    recon = [name for name, attack in ran if attack.family == "reconstruction"]
    judging = judging_seconds(len(rows), len(recon), 0, len(identities), len(ran) - len(recon))
    exposing = judging_seconds(len(rows), 0, len(EXPOSURES) + 1, 0, 0)
    line = StageProgress(sum(attack.seconds(setting) for _, attack in ran) + judging + exposing, progress,
                         stages=len(ran) + 2)  # the attacks, judging, exposure
    fitted = {}
    for name, attack in ran:
        with line.stage(attack.stage_name, attack.seconds(setting)):
            fitted[name] = attack.fit(setting)
    with line.stage("judging", judging):
        outputs = {**fitted, **_reconstruct_once({name: fitted[name] for name in recon}, observed, rows)}
        scored = _score_all(kit, outputs, recon, fitted, (observed.components[rows], observed.weights[rows]),
                            identities)
    with line.stage("exposure", exposing):
        # The run's epochs are read by the strongest white-box reconstructor of this defense's observed epoch.
        white = {name: scored["reconstruction"][0][name] for name in recon if not attacks.get(name).black_box}
        exposure_attack = strongest(white, "ssim_best") if white else "analytic_white_box"
        exposure, exposure_per_image = _exposure(kit, setting, fitted.get(exposure_attack), rows,
                                                 outputs.get(exposure_attack))
    line.close()
    results = _results(kit, scored, exposure, exposure_per_image, exposure_attack, len(rows), seed)
    results["stage_seconds"] = line.seconds
    # Scored against the truth, which the attacker never reads: a measure of the attack, not an input to it.
    results["key_recovered_fraction"] = recovery.recovered_fraction(truth.transform)
    for name in recon:
        read = getattr(fitted[name], "recovery", None)
        if read is not None:
            results["reconstruction"][name]["key_recovered_fraction"] = read.recovered_fraction(truth.transform)
    return results, _samples(kit, rows, outputs, dict(ran), identities)


def _reconstruct_once(reconstructors: dict[str, Any], observed: ProtectedSet, rows: torch.Tensor
                      ) -> dict[str, torch.Tensor]:
    """Each reconstruction attack's images (M, P, H, W) of the observed ``rows`` (M,), by name."""
    # An attack shared by two names (a black-box attacker whose recovered belief is the truth) is one object: its
    # reconstructions are made, and so judged, once.
    made: dict[int, torch.Tensor] = {}
    for reconstructor in reconstructors.values():
        if id(reconstructor) not in made:
            made[id(reconstructor)] = reconstruct_observed(reconstructor, observed, rows)
    return {name: made[id(reconstructor)] for name, reconstructor in reconstructors.items()}


def _score_all(kit: AttackerKit, outputs: dict[str, torch.Tensor], recon: list[str], fitted: dict[str, Any],
               mixing: tuple[torch.Tensor, torch.Tensor], identities: torch.Tensor
               ) -> dict[str, tuple[dict[str, dict[str, Any]], dict[str, dict[str, np.ndarray]]]]:
    """Per family: (scores by attack, per-image values by attack) of every attack's outputs."""
    scored: dict[str, tuple[dict, dict]] = {family: ({}, {}) for family in FAMILIES}
    judged: dict[int, tuple[dict[str, Any], dict[str, np.ndarray]]] = {}  # by reconstructions: one tensor, one score
    for name, images in outputs.items():
        if name in recon:
            if id(images) not in judged:
                judged[id(images)] = _score_reconstructions(kit, images, *mixing)
            scores, per_image = dict(judged[id(images)][0]), judged[id(images)][1]
            curve = getattr(fitted[name], "curve", None)
            if curve is not None:
                scores["learning_curve"] = curve
            family = "reconstruction"
        else:
            (scores, per_image), family = _score_inversion(kit, images, identities), "inversion"
        scored[family][0][name], scored[family][1][name] = scores, per_image
    return scored


def _results(kit: AttackerKit, scored: dict[str, tuple[dict, dict]], exposure: dict[str, dict[str, float]],
             exposure_per_image: dict[str, dict[str, np.ndarray]], exposure_attack: str, attacked: int, seed: int
             ) -> dict[str, Any]:
    """The JSON-ready results: each family's scores, the strongest attack per figure (a reconstruction figure's over
    the observed epoch and the run's linked epochs, named in ``<figure>_view``), intervals, scores."""
    summary: dict[str, Any] = {}
    per_image: dict[str, list[float]] = {}
    for family, figures in (("reconstruction", RECONSTRUCTION_FIGURES), ("inversion", INVERSION_FIGURES)):
        attacks, values = scored[family]
        for figure, key_in_attack in figures.items():
            name = strongest(attacks, key_in_attack, figure in LOWER_IS_STRONGER)
            summary[figure], summary[f"{figure}_attack"] = attacks[name][key_in_attack], name
            per_image[figure] = values[name][figure].tolist()
            if family == "reconstruction":
                summary[f"{figure}_view"] = OBSERVED_VIEW
                # A run is as private as its weakest exposure: the linked and merged epochs compete with the observed
                # one (the oracle pick of the best single exposure is reported beside, not taken in).
                for key, reading in exposure.items():
                    if key != "best" and reading[figure] > summary[figure]:
                        summary[figure], summary[f"{figure}_attack"] = reading[figure], exposure_attack
                        summary[f"{figure}_view"] = exposure_view(key)
                        per_image[figure] = exposure_per_image[key][figure].tolist()
    summary["mia_prior"] = summary["mia_top5_attack"]
    for encodings, values in exposure_per_image.items():
        for figure, v in values.items():
            per_image[exposure_column(figure, encodings)] = v.tolist()
    intervals = {figure: figure_interval(np.asarray(v), figure, seed) for figure, v in per_image.items()}
    num_identities = kit.private.num_identities
    return {
        "reconstruction": {**scored["reconstruction"][0], "attacked_tensors": attacked},
        "inversion": scored["inversion"][0], "exposure": exposure, "exposure_attack": exposure_attack,
        "summary": summary, "intervals": intervals, "per_image": per_image,
        "scores": summary_scores(summary, num_identities),
        "chance": {"identity": 1 / num_identities, "top5": min(TOP_K, num_identities) / num_identities},
        "judge": {"name": PretrainedJudge.name, "alignment": kit.judge.alignment,
                  "heldout_accuracy": kit.judge_accuracy},
        "evaluator": {"heldout_accuracy": kit.second_opinion_accuracy, "role": "second opinion, not scored"},
    }


def summary_scores(summary: dict[str, Any], num_identities: int) -> dict[str, float]:
    """S1–S4 and ``score_pp`` of a summary's strongest figures (:func:`attacks.metrics.privacy_scores`)."""
    return privacy_scores(summary["ssim"], summary["psnr"], summary["recon_id_accuracy"], summary["mia_top5"],
                          num_identities)


def exposure_column(figure: str, exposure: str | int) -> str:
    """The name of ``figure`` (``"ssim"``, ...) of an exposure: ``exposure_ssim_E20`` for 20 linked epochs,
    ``exposure_ssim_best`` for the best single one, ``exposure_ssim_merged20`` for 20 merged ones."""
    return f"exposure_{figure}_E{exposure}" if str(exposure).isdigit() else f"exposure_{figure}_{exposure}"


def exposure_view(exposure: str) -> str:
    """The name of the view an exposure reading (``"20"``, ``"merged20"``, ``"identity"``) takes of the run."""
    if exposure == IDENTITY_MERGED:
        return "identity's faces merged"
    if exposure.startswith("merged"):
        return f"{exposure[len('merged'):]} merged epochs"
    return f"{exposure} linked epoch{'s' if int(exposure) > 1 else ''}"


def _samples(kit: AttackerKit, rows: torch.Tensor, outputs: dict[str, torch.Tensor], attacks: dict[str, Attack],
             identities: torch.Tensor) -> dict[str, torch.Tensor]:
    """Up to SAMPLES images per figure row: the targets, reconstructions, the inverted identities, inversions."""
    first = torch.stack([(identities == k).nonzero()[0, 0] for k in range(min(SAMPLES, kit.private.num_identities))])
    shown = {family: {name: outputs[name] for name, attack in attacks.items()
                      if attack.family == family and attack.in_samples} for family in FAMILIES}
    identity = torch.stack([kit.private.images[kit.private.labels == identities[i]][0] for i in first]).float()
    return {"target": kit.private.images[rows[:SAMPLES]].float(),
            **{name: images[:SAMPLES] for name, images in shown["reconstruction"].items()},
            "identity": identity, **{name: images[first] for name, images in shown["inversion"].items()}}


def sample_label(name: str) -> str:
    """The row title of ``name`` in the sample figure (an attack's label, or the targets' / identities')."""
    return SAMPLE_LABELS.get(name) or ATTACKS.get(name).label
