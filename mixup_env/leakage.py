"""Per-batch leakage: how well an attacker who holds the batch recovers its faces.

Every row of a batch mixes faces of that same batch, so the attacker of the threat model (a curious server, a leaked
training log) can separate the batch (:mod:`mixup_env.separation`: FastICA, signs and scales from the method's
public facts) as well as read each row as it is. The leakage of a row is the SSIM (:mod:`mixup_env.ssim`) of its
reconstruction against the best-matching face mixed into it, from the stronger of the two readings, averaged over a
sample of the batch's rows (:class:`BatchLeakage`). The reconstruction is any object with ``reconstruct(tensors) -> images``: by default
the free analytic inverse of the env's own pipeline (:class:`mixup_env.analytic_inverse.AnalyticInverse`, white-box:
the key is known, the training faces' mean fills the dropped channels), or a decoder trained before the run on mixes
and unmixed tensors alike (``attacks.decoder.DecoderAttack``, which ``freqmix train --privacy decoder-leakage`` trains
on the attacker's faces). Scoring the mixes one tensor at a
time only would price an attacker weaker than the one that exists: on linear mixes the separated tensors are the
k = 1 tensors (ORL hybrid mask: median correlation 0.99), so k hides nothing the separation does not give back;
where a recipe defeats the separation (sign flips, noise), the row as it is stays the attacker's reading. Where the
recipe is linear (:attr:`mixup_env.recipe.Recipe.linear`) the env, which holds the batch before mixing, stands the
separation in as exact: each row is read as its own face's unmixed tensor, an upper bound of the attacker's
separation that costs no FastICA (and one SSIM per row, where a mix is scored against each of its k faces).

The signal scores a sample of each batch's rows (:data:`LEAKAGE_ROWS`): ``freqmix bench`` puts a step that
computes it at 1.1 plain steps of the default small model at k = 6 with the analytic inverse and 1.4 with the
``frontier`` budget's decoder (gray 112 px, one thread; docs/rewards.md has the sample's noise).
"""
from __future__ import annotations

from typing import Protocol

import torch

from mixup_env.separation import separate
from mixup_env.ssim import pairwise_ssim

# Coefficient positions the per-step separation is fitted on (every position is unmixed): on ORL's hybrid mask 2,048
# of 7,056 keep the median correlation at 0.98 for about a third of the cost of all of them.
SEPARATION_SAMPLES = 2048
# Rows of a batch the signal scores (evenly spaced; the separation still reads the whole batch): the reconstruction
# and its SSIM cost in proportion to the rows, and the batch's mean leakage is a mean over its faces, which a sample
# of them estimates without bias (docs/rewards.md has what it costs and how much it varies).
LEAKAGE_ROWS = 2


class Reconstructor(Protocol):
    """A fitted reconstruction attack: turns protected tensors back into faces (``attacks`` builds them)."""

    def reconstruct(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, H, W) faces, float 0..255."""


class BatchLeakage:
    """The leakage an attack scores on a batch as its observer holds it: each row read as it is and, where the batch
    mixes, as the batch's separation gives it back, whichever shows a face it mixes better.

    :param attack: what reconstructs the tensors (the analytic inverse, a trained decoder).
    :param samples: coefficient positions the separation is fitted on (None: all).
    :param rows: rows of each batch scored, evenly spaced (None: all). A batch is a random draw of faces, so rows at
        fixed positions are a random sample of them, and the signal draws nothing from the env's generators.
    """

    def __init__(self, attack: Reconstructor, samples: int | None = SEPARATION_SAMPLES,
                 rows: int | None = LEAKAGE_ROWS) -> None:
        if rows is not None and rows < 1:
            raise ValueError(f"rows must be >= 1 or None, not {rows}")
        self.attack = attack
        self.samples = samples
        self.rows = rows

    def scored_rows(self, n: int) -> torch.Tensor:
        """The indices of the rows scored in a batch of ``n`` (all of them when ``rows`` is None or >= n)."""
        if self.rows is None or self.rows >= n:
            return torch.arange(n)
        return torch.linspace(0, n - 1, self.rows).round().long()

    def best_component_ssim(self, tensors: torch.Tensor, faces: torch.Tensor, partners: torch.Tensor,
                            unmixed: torch.Tensor | None = None) -> torch.Tensor:
        """(R,) for each scored row (:meth:`scored_rows`), the SSIM of its reconstruction against the best-matching
        face mixed into it, the stronger of the row's two readings (as it is; separated from its batch, where the
        batch mixes).

        :param tensors: (N, C, h, w) protected tensors of one batch, mixed within it.
        :param faces: (N, P, H, W) 0..255, the batch's faces as they were before the transform.
        :param partners: (N, k) indices into ``faces`` of the faces each row mixes (column 0 = the row itself).
        :param unmixed: (N, C, h, w) the batch's tensors before mixing, given where the recipe is linear: the
            separation then stands as exact (each row read as its own face's tensor), an upper bound of what the
            attacker's separation recovers (median correlation 0.99 on ORL), at no separation's cost.
        """
        return self.row_exposures(tensors, faces, partners, unmixed)[0]

    @torch.no_grad()
    def row_exposures(self, tensors: torch.Tensor, faces: torch.Tensor, partners: torch.Tensor,
                      unmixed: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ssim (R,), shown (R,) int64)``: :meth:`best_component_ssim` and, for each scored row, the index into
        ``faces`` of the face that reaches it (the face the row exposes)."""
        scored = self.scored_rows(len(tensors))
        partners = partners.cpu()[scored]
        if unmixed is not None:
            # Each row's own face, exactly: a mix of it holds nothing more.
            own = partners[:, 0]
            reconstructed = self.attack.reconstruct(unmixed.detach().cpu()[scored]).float()
            return pairwise_ssim(reconstructed, faces.cpu(), torch.arange(len(own)), own), own
        tensors = tensors.detach().cpu()
        readings = [tensors[scored]]
        if partners.shape[1] > 1:
            # A fixed seed: the signal draws nothing from the env's generators, whose streams stay those of a run
            # without it.
            separation = separate(tensors, seed=0, samples=self.samples)
            readings.append(separation.sources[separation.assignment[scored]])
        n, k = partners.shape
        rows = torch.arange(n).repeat_interleave(k)
        faces = faces.cpu()
        scores = torch.cat([pairwise_ssim(self.attack.reconstruct(reading).float(), faces, rows, partners.reshape(-1))
                            .reshape(n, k) for reading in readings], dim=1)  # (R, k per reading)
        best, column = scores.max(dim=1)
        return best, partners.repeat(1, len(readings)).gather(1, column[:, None])[:, 0]

    def leakage(self, tensors: torch.Tensor, faces: torch.Tensor, partners: torch.Tensor) -> float:
        """Mean best-component SSIM of the batch (1 = faces recovered exactly; lower = more private)."""
        return float(self.best_component_ssim(tensors, faces, partners).mean())
