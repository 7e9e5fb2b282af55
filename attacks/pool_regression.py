"""The attack on partners from a public pool (InstaHide's cross-dataset mode): regress the pool out, then decode.

A recipe with ``partners="pool"`` mixes each private face with k − 1 public faces, never with another private one,
so a batch holds no mixture of private faces to separate. But by Kerckhoffs the pool is public: the attacker holds
every face a row may have been mixed with. A row is ``y = w₀ x + Σⱼ wⱼ pⱼ`` over pool tensors pⱼ, so the attacker
regresses y on the pool's tensors (non-negative least squares) over the sparse high-frequency channels, where a face
and the pool's faces are close to orthogonal (:func:`mixup_env.separation.sparse_channels`), keeps the k − 1 largest
weights (k is the method's, public) and fits them again alone, subtracts that pool part from every channel and
divides what is left by the weight that remains (the weights sum to 1): the row's own k = 1 tensor, which the
decoder trained under the unmixed belief then reads, as it reads ``ppfr``'s. On ORL's private faces with the 200
auxiliary faces as the pool (hybrid mask) the recovered tensor correlates with the true k = 1 tensor at a median
0.999 for k = 2, 4 and 6, where the mixes themselves correlate 0.70, 0.29 and 0.21.

Sign flips make a row non-linear in the faces (its magnitudes are what is read); there the attack is the white-box
decoder of |y| trained on mixes with the same pool, as it is for every defense whose partners are not a pool.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy.optimize import nnls

from attacks.attack import AttackSetting, Reconstructor, seconds_once
from attacks.decoder_attacks import decoder_seconds, decoder_white_box, fit_decoder
from attacks.protection import Protection, white_box
from mixup_env.separation import sparse_channels

MIN_OWN_WEIGHT = 0.05  # the smallest weight a row's own face is taken to hold (a division guard)
GRAM_RIDGE = 1e-9  # relative to the pool's mean energy: keeps the Cholesky factor of near-duplicate faces finite


def regress_pool(tensors: torch.Tensor, pool: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C, h, w) rows that each mix their own face with ``k − 1`` of the (M, C, h, w) ``pool`` tensors ->
    (N, C, h, w) each row's own tensor: the pool part regressed out and the rest rescaled (module docstring)."""
    fit = sparse_channels(torch.cat([tensors, pool]))
    design = pool[:, fit].reshape(len(pool), -1).double().numpy().T
    # The least squares over every coefficient in the Gram form: ||R b − z||² differs from ||design b − y||² by a
    # constant (Rᵀ R = designᵀ design, Rᵀ z = designᵀ y), and an M × M problem is solved far faster than a D × M one.
    gram = design.T @ design
    factor = np.linalg.cholesky(gram + GRAM_RIDGE * np.trace(gram) / len(gram) * np.eye(len(gram))).T
    out = torch.empty_like(tensors)
    for i, row in enumerate(tensors):
        target = row[fit].reshape(-1).double().numpy()
        weights, _ = nnls(factor, np.linalg.solve(factor.T, design.T @ target))
        chosen = np.argsort(weights)[len(weights) - (k - 1):] if k > 1 else np.array([], dtype=np.int64)
        refit = np.zeros_like(weights)
        if len(chosen):
            refit[chosen], _ = nnls(design[:, chosen], target)
        part = torch.einsum("m,mchw->chw", torch.from_numpy(refit).to(pool.dtype), pool)
        out[i] = (row - part) / max(1.0 - float(refit.sum()), MIN_OWN_WEIGHT)
    return out


@dataclass
class PoolRegression:
    """Regress the public pool out of each row (:func:`regress_pool`), then decode with ``attack``.

    :param attack: the single-tensor attack on unmixed (k = 1) tensors.
    :param pool: (M, C, h, w) the pool's tensors under the attacker's transform.
    :param k: images per mix (the truth's single k; a run whose k varies is regressed at its largest).
    """

    attack: Reconstructor
    pool: torch.Tensor
    k: int

    def reconstruct(self, tensors: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P, H, W) faces 0..255, row i its own face."""
        return self.attack.reconstruct(regress_pool(tensors, self.pool, self.k))


def _regressable(truth: Protection) -> bool:
    """Whether rows are linear mixes with pool partners: every recipe draws them from the pool and is linear (no
    flips, drops or noise), and some mix."""
    return truth.mixes and all(recipe.partners == "pool" and recipe.linear for recipe in truth.recipes)


def _unmixed(truth: Protection) -> Protection:
    """What the regressed tensors are to the attacker: the pipeline with nothing mixed (``ppfr``'s belief, whose
    decoder a comparison shares)."""
    return replace(truth.mapped(lambda recipe: replace(recipe, k=1, partners="batch")), pool=None)


def pool_white_box(setting: AttackSetting) -> Reconstructor:
    """Regress the pool out of each observed row, then decode under the true pipeline with nothing mixed; where the
    rows are not linear mixes with pool partners, the white-box decoder itself."""
    truth = white_box(setting.truth)
    if not _regressable(truth):
        return decoder_white_box(setting)
    decoder = fit_decoder(setting, _unmixed(truth), "decoder white-box, unmixed")
    return PoolRegression(decoder, truth.pool_tensors, truth.kmax)


def pool_white_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds: the decoder under the unmixed truth, unless one is shared."""
    belief = _unmixed(setting.truth) if _regressable(setting.truth) else setting.truth
    return seconds_once(setting, "decoder", belief, decoder_seconds(setting), before=(setting.truth,))
