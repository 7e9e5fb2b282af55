"""What a party believes the defense does: the masking transform and the recipe distribution, and how the attacker
rebuilds protected tensors from face images with that belief.

The defender's own pipeline is one :class:`Protection` (the truth, which also regenerates the private protected
training tensors the attacker observes); a white-box attacker holds the same one; a black-box attacker holds a
guess (:func:`black_box_guess`) whose channel set and key it then recovers from statistics
(:func:`attacks.privacy.black_box_belief`). ``docs/threat_model.md`` says who knows what.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

import numpy as np
import torch

from freqmix_base.errors import FreqmixError
from freqmix_base.seeds import sub_seed
from mixup_env.frequency import COEFFS_PER_BLOCK, FrequencyTransform
from mixup_env.masking import FrequencyMixUp, MixedBatch
from mixup_env.recipe import Recipe
from mixup_env.spaces import PAPER_K_CHOICES

# The black-box attacker's guess of the noise budget when it knows that the method adds Laplace noise.
GUESSED_EPSILON = 1.0


@dataclass(frozen=True)
class Protection:
    """A masking transform plus a distribution over recipes: how protected tensors are made.

    :param transform: block DCT, channel selection and keyed shuffle (``upsample`` must be 1).
    :param recipes: each batch's recipe (its k included) and its probability, e.g. a run's recipes by how often its
        agent chose them (:meth:`of`: one recipe and a distribution over k).
    :param batch_size: rows mixed together (partners come from the same batch, as in the env).
    :param shift: the training's random translation, in pixels along each axis (the env's ``augment_shift``): every
        exposure of a face moves it afresh, which the stream observer's readings model (:mod:`attacks.exposure`).
    :param shift_step: the translation moves faces in steps of this many pixels (the env's ``augment_step``).
    :param pool: (M, P, H, W) 0..255 the public faces that partner each face of a recipe whose ``partners`` is
        ``"pool"`` (the run's attacker identities: every party holds them), else None.
    """

    transform: FrequencyTransform
    recipes: dict[Recipe, float]
    batch_size: int = 32
    shift: int = 0
    shift_step: int = 1
    pool: torch.Tensor | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.transform.upsample != 1:
            raise FreqmixError(f"attacks support upsample=1 only, the run used upsample={self.transform.upsample}")
        if not self.recipes or not np.isclose(sum(self.recipes.values()), 1.0):
            raise FreqmixError(f"recipe probabilities must sum to 1, got {list(self.recipes.values())}")
        if self.shift < 0 or self.shift_step < 1:
            raise FreqmixError(f"shift must be >= 0 pixels in steps >= 1, not {self.shift} in {self.shift_step}")
        if self.kmax > self.batch_size:
            raise FreqmixError(f"k up to {self.kmax} needs batch_size >= {self.kmax}")
        if any(recipe.partners == "pool" for recipe in self.recipes) and self.pool is None:
            raise FreqmixError("a recipe with partners 'pool' needs the public pool's faces (pool=)")

    @cached_property
    def pool_tensors(self) -> torch.Tensor | None:
        """(M, C, h, w) the pool's frequency tensors under this transform (None without a pool)."""
        return None if self.pool is None else self.transform(self.pool.float())

    @classmethod
    def of(cls, transform: FrequencyTransform, k_probs: dict[int, float], recipe: Recipe = Recipe(),
           batch_size: int = 32, shift: int = 0, pool: torch.Tensor | None = None) -> Protection:
        """One recipe whose k is drawn per batch from ``k_probs`` (probability of each k >= 1, e.g. ``{1: 1.0}``
        or a run's k histogram); ``recipe``'s own k is ignored."""
        if not k_probs or min(k_probs) < 1 or not np.isclose(sum(k_probs.values()), 1.0):
            raise FreqmixError(f"k_probs must map k >= 1 to probabilities summing to 1, got {k_probs}")
        return cls(transform, {replace(recipe, k=k): p for k, p in k_probs.items()}, batch_size, shift, pool=pool)

    @property
    def k_probs(self) -> dict[int, float]:
        """The probability of each k, over every recipe."""
        probs: dict[int, float] = {}
        for recipe, p in self.recipes.items():
            probs[recipe.k] = probs.get(recipe.k, 0.0) + p
        return probs

    @property
    def kmax(self) -> int:
        """The most images any recipe mixes."""
        return max(recipe.k for recipe in self.recipes)

    def mapped(self, change: Callable[[Recipe], Recipe]) -> Protection:
        """This protection with every recipe changed by ``change`` (the probabilities of recipes that become equal
        add up)."""
        recipes: dict[Recipe, float] = {}
        for recipe, p in self.recipes.items():
            changed = change(recipe)
            recipes[changed] = recipes.get(changed, 0.0) + p
        return replace(self, recipes=recipes)

    def with_k(self, k: int) -> Protection:
        """This protection with every recipe mixing ``k`` images."""
        return self.mapped(lambda recipe: replace(recipe, k=k))

    @property
    def planes(self) -> int:
        """Image planes P (1 gray, 3 colour)."""
        return self.transform.image_channels

    @property
    def mixes(self) -> bool:
        """Whether any recipe mixes more than one image."""
        return self.kmax > 1

    @property
    def deterministic(self) -> bool:
        """Whether every protection of a face is the same tensor (nothing mixed, and nothing sign-flipped, noised or
        dropped afresh: channels a face drops by the secret, ``drop_secret``, are the same every time)."""
        return not self.mixes and not any(recipe.fresh_per_exposure for recipe in self.recipes)

    @property
    def exposes_alike(self) -> bool:
        """Whether every exposure of a face reads the same to an attacker (:meth:`readable`): nothing mixed, no
        noise, no channels dropped afresh; signs flipped afresh read alike as magnitudes."""
        return not self.mixes and not any(recipe.fresh_beyond_signs for recipe in self.recipes)

    @property
    def invertible(self) -> bool:
        """Whether the pipeline's inverse gives every face back exactly (nothing mixed, flipped, noised or dropped;
        every channel kept)."""
        return (not self.mixes and all(recipe.linear for recipe in self.recipes)
                and self.transform.out_channels == self.planes * COEFFS_PER_BLOCK)

    def readable(self, tensors: torch.Tensor) -> torch.Tensor:
        """What of (N, C, h, w) protected tensors a party holding this belief can read: their magnitudes where signs
        are flipped at random (a random sign carries nothing; |y| is what Carlini et al. read off InstaHide), the
        tensors themselves otherwise. Where only some recipes flip, every row is read as magnitudes (a reading of
        the unflipped rows that drops their signs: a lower bound on what they leak)."""
        return tensors.abs() if any(recipe.sign_flip for recipe in self.recipes) else tensors

    def scatter(self, coeffs: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) protected tensors -> (N, P*64, h, w): each channel put back where this party believes it
        came from (inverse shuffle, dropped channels 0)."""
        n, _, h, w = coeffs.shape
        full = coeffs.new_zeros(n, self.planes * COEFFS_PER_BLOCK, h, w)
        full[:, self.transform.kept.to(coeffs.device)] = coeffs
        return full

    def protect(self, images: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator,
                faces: torch.Tensor | None = None) -> MixedBatch:
        """Protect one batch (N, P, H, W) 0..255 with one recipe drawn from ``recipes`` (its k capped at N, so that
        a dataset smaller than k still mixes all it has). ``faces``: (N,) int64 the index of each row's face, by
        which ``drop_secret`` draws its channels (None: afresh, as a party without the faces' names)."""
        recipes = list(self.recipes)
        recipe = recipes[int(rng.choice(len(recipes), p=list(self.recipes.values())))]
        num_classes = int(labels.max()) + 1
        return FrequencyMixUp(num_classes, self.pool_tensors)(replace(recipe, k=min(recipe.k, len(images))),
                                           self.transform(images.float()), labels, rng, faces, self.transform.key)

    def protect_all(self, images: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator,
                    named: bool = False) -> ProtectedSet:
        """Protect every image once, in shuffled batches of ``batch_size`` (a short last batch joins the one
        before, so that every batch can hold the largest k): an epoch of protected tensors as the recognizer trained
        on them, each batch mixed within itself.

        :param named: the images are the defender's own training faces, named by their index, so that
            ``drop_secret`` draws each one's channels from the key (the same every epoch); a party simulating the
            defense on its own faces draws afresh."""
        n = len(images)
        order = rng.permutation(n)
        starts = list(range(0, n, self.batch_size))
        if len(starts) > 1 and n - starts[-1] < self.kmax:
            starts.pop()
        bounds = starts[1:] + [n]
        kmax = self.kmax
        tensors = torch.empty(n, self.transform.out_channels, images.shape[2] // 8, images.shape[3] // 8)
        components = torch.full((n, kmax), -1, dtype=torch.long)
        weights = torch.zeros(n, kmax)
        batches = []
        for start, stop in zip(starts, bounds):
            idx = torch.from_numpy(order[start:stop])
            batch = self.protect(images[idx], labels[idx], rng, idx if named else None)
            k = batch.partners.shape[1]
            tensors[idx] = batch.x
            # Pool partners (negative) are public faces, not the set's: no component of a row to score.
            components[idx, :k] = torch.where(batch.partners >= 0, idx[batch.partners.clamp(min=0)], -1)
            weights[idx, :k] = batch.weights
            batches.append(idx)
        return ProtectedSet(tensors, components, weights, batches)


@dataclass(frozen=True)
class ProtectedSet:
    """Protected tensors of a set of faces, as an observer holds them.

    :param tensors: (N, C, h, w); row i mixes face i (column 0 of ``components``) with its partners.
    :param components: (N, kmax) int64 indices of the faces each row mixes, padded with -1 (also where a partner
        came from the public pool).
    :param weights: (N, kmax) float32 mixing weights in the order of ``components`` (0 for padding).
    :param batches: the rows mixed together, one (B,) int64 index tensor per batch: what an observer of the training
        batches holds beyond the tensors (a leaked, shuffled training set loses it).
    """

    tensors: torch.Tensor
    components: torch.Tensor
    weights: torch.Tensor
    batches: list[torch.Tensor]


def white_box(truth: Protection) -> Protection:
    """The white-box attacker knows the pipeline and its secrets: it holds the truth itself."""
    return truth


def black_box_guess(truth: Protection, seed: int) -> Protection:
    """The black-box attacker's belief: it sees the tensor shape and knows the method (whether channels are selected
    and shuffled, whether images are mixed, signs flipped, noise added), but guesses every secret.

    - channel set: known only when all ``P*64`` channels are kept; otherwise a random subset of the visible size;
    - key: a random key different from the true one when the method shuffles;
    - k distribution: uniform over the paper's k choices {2..6} when the method mixes, else k = 1;
    - Dirichlet concentration 1; noise budget :data:`GUESSED_EPSILON` when the method adds noise.
    """
    rng = np.random.default_rng(sub_seed(seed, "black-box-guess"))
    t = truth.transform
    total = truth.planes * COEFFS_PER_BLOCK
    if t.out_channels == total:
        selection = "all"
    else:
        selection = sorted(rng.choice(total, size=t.out_channels, replace=False).tolist())
    key = None
    if t.key is not None:
        key = int(rng.integers(2**31))
        key = key + 1 if key == t.key else key
    guessed = FrequencyTransform(truth.planes, selection=selection, key=key)
    ks = PAPER_K_CHOICES if truth.mixes else (1,)

    def known(recipe: Recipe) -> Recipe:
        noise = None if recipe.laplace_epsilon is None else GUESSED_EPSILON
        return replace(recipe, k=1, alpha=1.0, laplace_epsilon=noise)

    recipes = {replace(recipe, k=k): p / len(ks) for recipe, p in truth.mapped(known).recipes.items() for k in ks}
    return Protection(guessed, recipes, truth.batch_size, truth.shift, truth.shift_step, truth.pool)
