"""The MixUp half of the hybrid mask: the operator that applies a :class:`mixup_env.recipe.Recipe` to a frequency batch.

Every output row mixes its own tensor with ``k - 1`` partners (other rows of the batch, or rows of a public
pool in InstaHide's cross-dataset mode) with weights that sum to 1; its soft label mixes the partners'
identities with the same weights. Pool tensors carry no private label, so in pool mode the soft label is the
row's own identity alone (InstaHide labels only the private images).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mixup_env.recipe import Recipe, RecipeError

INSTAHIDE_MAX_WEIGHT = 0.65
# One pixel moving over its whole range (255) moves any orthonormal 8×8 DCT coefficient of its block by at most
# 255 × max|basis| <= 255 × (1/2)² (each 1-D DCT row is bounded by sqrt(2/8) = 1/2): the per-coefficient L1
# sensitivity of the DCTDP Laplace mechanism. A weighted mix (weights <= 1) can only lower it.
LAPLACE_SENSITIVITY = 255.0 / 4
_MAX_REJECTION_ROUNDS = 10_000
_SECRET_STREAM = 104729  # keeps the per-face drop draws apart from the key's other uses


@dataclass
class MixedBatch:
    """The result of mixing a batch of N rows over K identities.

    :param x: (N, C, h, w) mixed frequency tensors.
    :param soft_labels: (N, K) float32, rows sum to 1.
    :param partners: (N, k) int64; column 0 is the row itself, ``j >= 0`` is batch row j, ``-1 - j`` is pool row j.
    :param weights: (N, k) float32 mixing weights in the column order of ``partners``; rows sum to 1.
    """

    x: torch.Tensor
    soft_labels: torch.Tensor
    partners: torch.Tensor
    weights: torch.Tensor


def draw_weights(recipe: Recipe, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, k) float64 mixing weights of the recipe's scheme; every row sums to 1."""
    k = recipe.k
    if k == 1:
        return np.ones((n, 1))
    if recipe.weights == "uniform":
        return np.full((n, k), 1.0 / k)
    if recipe.weights == "dirichlet":
        return rng.dirichlet(np.full(k, recipe.alpha), size=n)
    weights = np.empty((n, k))
    todo = np.arange(n)
    for _ in range(_MAX_REJECTION_ROUNDS):
        draw = np.abs(rng.standard_normal((len(todo), k)))
        draw /= draw.sum(axis=1, keepdims=True)
        ok = draw.max(axis=1) <= INSTAHIDE_MAX_WEIGHT
        weights[todo[ok]] = draw[ok]
        todo = todo[~ok]
        if not len(todo):
            return weights
    # k >= 2 accepts a large share of draws, so this only guards against an endless loop.
    raise RecipeError("could not draw InstaHide weights with max <= 0.65")


def _draw_partners(n: int, k: int, pool_size: int, rng: np.random.Generator) -> np.ndarray:
    # Distinct partners per row, vectorised: rank random keys and keep the k-1 smallest.
    if pool_size:
        if k - 1 > pool_size:
            raise RecipeError(f"k={k} needs a public pool of at least {k - 1} images, the pool has {pool_size}")
        picks = np.argsort(rng.random((n, pool_size)), axis=1)[:, : k - 1]
        others = -1 - picks
    else:
        if k > n:
            raise RecipeError(f"k={k} needs a batch of at least {k} images, the batch has {n}")
        keys = rng.random((n, n))
        np.fill_diagonal(keys, np.inf)
        others = np.argsort(keys, axis=1)[:, : k - 1]
    return np.concatenate([np.arange(n)[:, None], others], axis=1)


class FrequencyMixUp:
    """Frequency MixUp: configure once (classes, optional public pool), call on a batch with a recipe.

    :param num_classes: number of identities K of the soft labels.
    :param pool: optional (M, C, h, w) public frequency tensors, the partners of a recipe whose ``partners`` is
        ``"pool"``.
    """

    def __init__(self, num_classes: int, pool: torch.Tensor | None = None) -> None:
        if num_classes < 1:
            raise RecipeError(f"num_classes must be >= 1, not {num_classes}")
        self.num_classes = num_classes
        self.pool = pool

    def __call__(self, recipe: Recipe, x: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator,
                 faces: torch.Tensor | None = None, secret: int | None = None) -> MixedBatch:
        """Mix ``x`` (N, C, h, w) with identity ``labels`` (N,) as ``recipe`` says, drawing from ``rng``.

        :param faces: (N,) int64 an index naming each row's own face, and ``secret`` the client's key: with
            ``recipe.drop_secret`` each row drops the channels that the secret draws for its face, the same at every
            call. Without them (a party simulating the defense on its own faces) the channels are drawn afresh.
        """
        n = x.shape[0]
        if labels.shape != (n,):
            raise RecipeError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
        if recipe.drop_secret and faces is not None and (secret is None or faces.shape != (n,)):
            raise RecipeError(f"drop_secret draws each face's channels from the secret key: it needs a key and one "
                              f"face index per row, got key {secret} and faces of shape {tuple(faces.shape)}")
        if recipe.partners == "pool" and self.pool is None:
            raise RecipeError("partners='pool' mixes each face with public faces, but no pool was given")
        pool_size = len(self.pool) if recipe.partners == "pool" and recipe.k > 1 else 0
        partners = _draw_partners(n, recipe.k, pool_size, rng)
        weights = draw_weights(recipe, n, rng)
        w = torch.from_numpy(weights).to(dtype=x.dtype, device=x.device)
        p = torch.from_numpy(partners).to(x.device)

        if recipe.k == 1:
            mixed = x.clone()
        else:
            source = x if not pool_size else torch.cat([x, self.pool.to(device=x.device, dtype=x.dtype)])
            rows = torch.where(p >= 0, p, n - 1 - p)  # pool row j sits at n + j of source
            # One partner column at a time (index_select, then a fused multiply-add) instead of an einsum over an
            # (N, k, C, h, w) gather: the same sum, at a third of the memory traffic. Column 0 is the row itself.
            scale = (-1,) + (1,) * (x.dim() - 1)
            mixed = x * w[:, 0].view(scale)
            for j in range(1, recipe.k):
                mixed.addcmul_(source.index_select(0, rows[:, j]), w[:, j].view(scale))

        mixed = self._perturb(recipe, mixed, rng, faces if recipe.drop_secret else None, secret)
        soft = self._soft_labels(labels.to(x.device), p, w, pool_size > 0)
        return MixedBatch(x=mixed, soft_labels=soft, partners=p, weights=w.float())

    def _soft_labels(self, labels: torch.Tensor, partners: torch.Tensor, weights: torch.Tensor,
                     pooled: bool) -> torch.Tensor:
        n = len(labels)
        soft = torch.zeros(n, self.num_classes, dtype=torch.float32, device=labels.device)
        if pooled:
            soft[torch.arange(n, device=labels.device), labels] = 1.0
            return soft
        soft.scatter_add_(1, labels[partners], weights.float())
        return soft

    @staticmethod
    def _perturb(recipe: Recipe, mixed: torch.Tensor, rng: np.random.Generator, faces: torch.Tensor | None,
                 secret: int | None) -> torch.Tensor:
        if not recipe.sign_flip and recipe.drop == 0 and recipe.laplace_epsilon is None:
            return mixed
        # Element-wise draws are many; a torch generator seeded from rng keeps them fast and still reproducible.
        gen = torch.Generator().manual_seed(int(rng.integers(2**63)))
        n, c = mixed.shape[:2]
        if recipe.sign_flip:
            signs = torch.randint(0, 2, mixed.shape, generator=gen).to(mixed) * 2 - 1
            mixed = mixed * signs
        if recipe.laplace_epsilon is not None:
            # Laplace(0, b) is the difference of two Exponential(1) draws scaled by b.
            scale = LAPLACE_SENSITIVITY / recipe.laplace_epsilon
            e1 = torch.empty(mixed.shape).exponential_(generator=gen)
            e2 = torch.empty(mixed.shape).exponential_(generator=gen)
            mixed = mixed + ((e1 - e2) * scale).to(mixed)
        n_drop = int(round(recipe.drop * c))
        if n_drop:
            draws = (torch.rand(n, c, generator=gen) if faces is None else
                     torch.stack([torch.rand(c, generator=_face_generator(secret, face)) for face in faces.tolist()]))
            dropped = draws.argsort(dim=1)[:, :n_drop]
            keep = torch.ones(n, c, dtype=mixed.dtype).scatter_(1, dropped, 0.0).to(mixed.device)
            mixed = mixed * keep[:, :, None, None]
        return mixed


def _face_generator(secret: int, face: int) -> torch.Generator:
    """The generator of one face's secret draws: a function of the client's key and the face alone."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([secret, face, _SECRET_STREAM]).generate_state(1)[0]))
