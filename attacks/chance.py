"""Chance levels of the privacy figures: what an attacker who holds no tensor and no model gets. Without them a
figure cannot be read: SSIM 0.45 is leakage only if a guess scores less.

The guess is the attacker's mean face (the mean of its own faces), offered as every reconstruction and every
inversion, and scored as the attacks are: SSIM and PSNR against each scored private face itself, the judge's
descriptor distance to the nearest gallery face of each private identity. Identity figures need no guess: 1/K for
top-1 (K private identities), min(5, K)/K for top-5.
"""
from __future__ import annotations

import torch

from attacks.judge import PretrainedJudge
from attacks.metrics import TOP_K, knn_distances, psnr, ssim


def chance_levels(judge: PretrainedJudge, scored_faces: torch.Tensor, num_identities: int,
                  attacker_faces: torch.Tensor) -> dict[str, float]:
    """Each figure's chance level, by figure name.

    :param judge: the pretrained judge whose gallery is the private identities' clean faces.
    :param scored_faces: (M, P, H, W) 0..255 the private faces reconstructions are scored against.
    :param num_identities: K, the private identities.
    :param attacker_faces: (A, P, H, W) 0..255 the attacker's own faces; their mean is the guess.
    """
    guess = attacker_faces.float().mean(dim=0, keepdim=True)
    guesses = guess.expand(len(scored_faces), -1, -1, -1)
    identities = torch.arange(num_identities)
    distances = knn_distances(judge.embed(guess).expand(num_identities, -1), identities, judge.gallery_embeddings,
                              judge.gallery_labels)
    identity = 1 / num_identities
    return {"ssim": float(ssim(guesses, scored_faces.float()).mean()),
            "psnr": float(psnr(guesses, scored_faces.float()).mean()),
            "recon_id_accuracy": identity, "mia_top1": identity,
            "mia_top5": min(TOP_K, num_identities) / num_identities,
            "knn_distance": float(distances.mean())}
