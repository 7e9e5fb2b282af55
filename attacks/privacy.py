"""Every attack on one trained recognizer, scored: white-box and black-box CGAN reconstruction of the private
protected training tensors, model inversion with both priors, the evaluator's verdicts and the privacy scores.

What does not depend on the defense (the attacker's faces, the evaluator, the generator prior, black-box CGANs whose
guessed pipeline coincides) lives in an :class:`AttackerKit`, built once and shared by every defense of a comparison.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attacks.budget import AttackBudget
from attacks.evaluator import Evaluator, train_evaluator
from attacks.inversion import GeneratorPrior, TargetModel, invert_gmi, invert_tv, train_generator_prior
from attacks.metrics import TOP_K, component_scores, knn_distance, privacy_scores, topk_accuracy
from attacks.protection import Protection, black_box_guess, white_box
from attacks.reconstruction import ReconstructionAttack, train_reconstruction
from recognizer.data import FaceDataset
from recognizer.trainer import Recognizer

SAMPLES = 8  # images per row of the sample figure


def sub_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose, derived from the one run seed (independent streams for independent draws)."""
    return int(np.random.default_rng([seed, zlib.crc32(purpose.encode())]).integers(2**31))


@dataclass
class AttackerKit:
    """What the attacker and the judge hold for one data set and seed.

    :param private: the defender's private training faces (targets of reconstruction, gallery of KNN distance).
    :param auxiliary: the attacker's own faces (identities disjoint from the private ones).
    :param evaluator: the independent evaluation recognizer (trained on ``private``).
    :param evaluator_accuracy: its identification accuracy on held-out private faces.
    :param prior: the generator prior of model inversion (trained on ``auxiliary``).
    :param black_box: black-box reconstruction attacks by guessed pipeline (the same guess is the same attack).
    """

    private: FaceDataset
    auxiliary: FaceDataset
    evaluator: Evaluator
    evaluator_accuracy: float
    prior: GeneratorPrior
    black_box: dict[Any, ReconstructionAttack] = field(default_factory=dict)


def prepare_kit(private: FaceDataset, private_test: FaceDataset, auxiliary: FaceDataset, budget: AttackBudget,
                seed: int, progress: bool = True) -> AttackerKit:
    """Train the evaluator on ``private`` (checked on ``private_test``) and the generator prior on ``auxiliary``."""
    evaluator = train_evaluator(private.images, private.labels, budget.evaluator_steps, sub_seed(seed, "evaluator"),
                                progress=progress)
    accuracy = topk_accuracy(evaluator.logits(private_test.images.float()), private_test.labels, 1)
    prior = train_generator_prior(auxiliary.images, budget.prior_steps, sub_seed(seed, "generator-prior"),
                                  progress=progress)
    return AttackerKit(private, auxiliary, evaluator, accuracy, prior)


def _score_reconstructions(kit: AttackerKit, reconstructions: torch.Tensor, components: torch.Tensor,
                           weights: torch.Tensor) -> dict[str, float]:
    scores = component_scores(reconstructions, kit.private.images.float(), components, weights)
    predicted = kit.evaluator.logits(reconstructions).argmax(dim=1).numpy()
    labels = kit.private.labels.numpy()
    return {"psnr_best": float(np.mean(scores["psnr_best"])), "ssim_best": float(np.mean(scores["ssim_best"])),
            "psnr_dominant": float(np.mean(scores["psnr_dominant"])),
            "ssim_dominant": float(np.mean(scores["ssim_dominant"])),
            "id_accuracy_best": float(np.mean(predicted == labels[scores["best"]])),
            "id_accuracy_dominant": float(np.mean(predicted == labels[scores["dominant"]]))}


def _belief_key(belief: Protection) -> tuple:
    return (tuple(belief.transform.kept.tolist()), tuple(sorted(belief.k_probs.items())), belief.recipe,
            belief.batch_size)


def _score_inversion(kit: AttackerKit, images: torch.Tensor, identities: torch.Tensor) -> dict[str, float]:
    logits = kit.evaluator.logits(images)
    gallery = kit.evaluator.embed(kit.private.images)
    return {"top1": topk_accuracy(logits, identities, 1), "top5": topk_accuracy(logits, identities, TOP_K),
            "knn_distance": knn_distance(kit.evaluator.embed(images), identities, gallery, kit.private.labels)}


def attack_recognizer(recognizer: Recognizer, truth: Protection, kit: AttackerKit, budget: AttackBudget, seed: int,
                      progress: bool = True) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Run every attack against one defense and score it.

    :param recognizer: the defender's trained recognizer (white-box target of model inversion).
    :param truth: the defender's real pipeline (it regenerates the private protected tensors the attacker sees).
    :return: ``(results, samples)``: results as JSON-ready nested dicts (``reconstruction``, ``inversion``,
        ``summary``, ``scores``, ``evaluator``); samples: (SAMPLES, P, H, W) images for a figure (``target``,
        ``white_box``, ``black_box``, ``identity``, ``tv_prior``, ``generator_prior``).
    """
    aux = kit.auxiliary
    num_identities = kit.private.num_identities
    if recognizer.config["num_classes"] != num_identities:
        raise ValueError(f"the recognizer knows {recognizer.config['num_classes']} identities but the private set "
                         f"has {num_identities}; the checkpoint does not match the run's data")
    rng = np.random.default_rng(sub_seed(seed, "private-protection"))
    tensors, components, weights = truth.protect_all(kit.private.images, kit.private.labels, rng)

    cgan = dict(steps=budget.cgan_steps, batch_size=budget.cgan_batch, width=budget.cgan_width, progress=progress)
    white = train_reconstruction(white_box(truth), aux.images, aux.labels, seed=sub_seed(seed, "cgan-white"),
                                 desc="CGAN white-box", **cgan)
    belief = black_box_guess(truth, sub_seed(seed, "black-box-guess"))
    key = _belief_key(belief)
    if key not in kit.black_box:
        kit.black_box[key] = train_reconstruction(belief, aux.images, aux.labels, seed=sub_seed(seed, "cgan-black"),
                                                  desc="CGAN black-box", **cgan)
    white_images = white.reconstruct(tensors)
    black_images = kit.black_box[key].reconstruct(tensors)
    reconstruction = {"white_box": _score_reconstructions(kit, white_images, components, weights),
                      "black_box": _score_reconstructions(kit, black_images, components, weights),
                      "attacked_tensors": len(tensors)}

    target = TargetModel(recognizer, truth.transform)
    identities = torch.arange(num_identities).repeat(budget.inversions_per_identity)
    tv_images = invert_tv(target, identities, aux.images.float().mean(dim=0), budget.inversion_steps,
                          sub_seed(seed, "inversion-tv"), progress=progress)
    gmi_images = invert_gmi(target, kit.prior, identities, budget.inversion_steps, sub_seed(seed, "inversion-gmi"),
                            progress=progress)
    inversion = {"tv_prior": _score_inversion(kit, tv_images, identities),
                 "generator_prior": _score_inversion(kit, gmi_images, identities)}
    # The privacy reading takes the stronger prior (top-5, then top-1), as an attacker would.
    strongest = max(inversion, key=lambda name: (inversion[name]["top5"], inversion[name]["top1"]))

    wb = reconstruction["white_box"]
    summary = {"psnr": wb["psnr_best"], "ssim": wb["ssim_best"], "recon_id_accuracy": wb["id_accuracy_best"],
               "mia_top1": inversion[strongest]["top1"], "mia_top5": inversion[strongest]["top5"],
               "knn_distance": inversion[strongest]["knn_distance"], "mia_prior": strongest}
    results = {
        "reconstruction": reconstruction, "inversion": inversion, "summary": summary,
        "scores": privacy_scores(wb["ssim_best"], wb["psnr_best"], wb["id_accuracy_best"],
                                 inversion[strongest]["top5"], num_identities),
        "chance": {"identity": 1 / num_identities, "top5": min(TOP_K, num_identities) / num_identities},
        "evaluator": {"heldout_accuracy": kit.evaluator_accuracy},
    }
    first = torch.stack([(identities == k).nonzero()[0, 0] for k in range(min(SAMPLES, num_identities))])
    samples = {"target": kit.private.images[:SAMPLES].float(), "white_box": white_images[:SAMPLES],
               "black_box": black_images[:SAMPLES],
               "identity": torch.stack([kit.private.images[kit.private.labels == identities[i]][0] for i in first]
                                       ).float(),
               "tv_prior": tv_images[first], "generator_prior": gmi_images[first]}
    return results, samples
