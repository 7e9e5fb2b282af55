"""How actions encode recipes and how observations are laid out: the one place for both.

Actions:
- ``FreqMixUp-v0`` (the paper's): ``Discrete(len(k_choices))``, action i -> ``Recipe(k=k_choices[i])`` with the
  env's default weight scheme.
- ``FreqMixUpRecipe-v0``: ``MultiDiscrete([len(k_choices), len(WEIGHT_OPTIONS), 2, len(DROP_LEVELS)])`` =
  (k, weight scheme and concentration, sign flip off/on, channel-drop level).

Observation (float32, flat so that every SB3 algorithm takes it): the training-state part first
(:data:`STATE_FIELDS` then the recent-k histogram), then the upcoming-batch part (log energy of every frequency
channel, then the share of distinct identities). :class:`ObservationLayout` says where each part starts.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

from freqmix_base.errors import FreqmixError
from mixup_env.recipe import Recipe

PAPER_K_CHOICES = (2, 3, 4, 5, 6)
WEIGHT_OPTIONS: tuple[tuple[str, float], ...] = (
    ("dirichlet", 0.5), ("dirichlet", 1.0), ("dirichlet", 4.0), ("instahide", 1.0), ("uniform", 1.0),
)
DROP_LEVELS = (0.0, 0.1, 0.25, 0.5)
ACTION_KINDS = ("k", "recipe")
#: The recipe fields each kind of action chooses for every batch (the rest come from the codec's default recipe).
ACTION_FIELDS = {"k": ("k",), "recipe": ("k", "weights", "alpha", "sign_flip", "drop")}
OBSERVATION_HIGH = 100.0

STATE_FIELDS = (
    "episode_progress",  # step within the episode / episode length
    "log_global_step",   # log1p(recognizer steps) / 10
    "log_last_loss",     # log1p of the last reward loss
    "log_loss_mean",     # log1p of the mean loss over the recent window
    "log_loss_std",      # log1p of its standard deviation
    "lr_ratio",          # current lr / initial lr
    "probe_accuracy",    # last clean-probe accuracy (0 before the first probe)
)


class ActionError(FreqmixError):
    """An action that is not in the env's action space."""


class ActionCodec:
    """Maps actions of one Gymnasium space to :class:`Recipe` values and back.

    :param kind: ``"k"`` (Discrete, the paper's) or ``"recipe"`` (MultiDiscrete).
    :param k_choices: the k values the actions choose among (ascending, distinct, >= 1).
    :param default: the recipe whose fields the action does not choose (:data:`ACTION_FIELDS`) every action takes.
    """

    def __init__(self, kind: str = "k", k_choices: Sequence[int] = PAPER_K_CHOICES,
                 default: Recipe = Recipe()) -> None:
        if kind not in ACTION_KINDS:
            raise ActionError(f"unknown action kind {kind!r}; choose one of {', '.join(ACTION_KINDS)}")
        k_choices = tuple(int(k) for k in k_choices)
        if k_choices and k_choices[0] < 1:
            raise ActionError(f"k={k_choices[0]} is not a number of images to mix; k must be an integer >= 1 "
                              "(1 = no mixing)")
        if not k_choices or list(k_choices) != sorted(set(k_choices)):
            raise ActionError(f"k_choices must be distinct ascending integers >= 1, not {k_choices}")
        self.kind, self.k_choices, self.default = kind, k_choices, default
        if kind == "k":
            self.space: spaces.Space = spaces.Discrete(len(k_choices))
        else:
            self.space = spaces.MultiDiscrete([len(k_choices), len(WEIGHT_OPTIONS), 2, len(DROP_LEVELS)])

    def decode(self, action: Any) -> Recipe:
        """The recipe an action stands for; :class:`ActionError` if the action is outside the space."""
        a = np.asarray(action)
        if not np.issubdtype(a.dtype, np.integer):
            if not np.issubdtype(a.dtype, np.floating) or not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
                raise ActionError(f"action {action!r} is not an integer action of {self.space}")
            a = a.astype(np.int64)
        expected_size = 1 if self.kind == "k" else len(self.space.nvec)
        if a.size != expected_size:
            raise ActionError(f"action {action!r} has {a.size} values; {self.space} takes {expected_size}")
        a = a.reshape(-1) if self.kind == "recipe" else a.reshape(())
        if not self.space.contains(a.astype(self.space.dtype)):
            raise ActionError(f"action {action!r} is outside the action space {self.space}")
        if self.kind == "k":
            return replace(self.default, k=self.k_choices[int(a)])
        k_i, w_i, flip, drop_i = (int(v) for v in a)
        scheme, alpha = WEIGHT_OPTIONS[w_i]
        # Fields the action does not encode (e.g. DCTDP noise) come from the default recipe.
        return replace(self.default, k=self.k_choices[k_i], weights=scheme, alpha=alpha, sign_flip=bool(flip),
                       drop=DROP_LEVELS[drop_i])

    def encode(self, recipe: Recipe) -> Any:
        """The action for ``recipe`` (k must be in ``k_choices``; for ``"recipe"`` its other fields must be
        among the options)."""
        if recipe.k not in self.k_choices:
            raise ActionError(f"k={recipe.k} is not among this env's k choices {self.k_choices}")
        k_i = self.k_choices.index(recipe.k)
        if self.kind == "k":
            return k_i
        try:
            w_i = WEIGHT_OPTIONS.index((recipe.weights, recipe.alpha))
            d_i = DROP_LEVELS.index(recipe.drop)
        except ValueError:
            raise ActionError(f"{recipe} has a weight scheme or drop level that the recipe actions cannot express; "
                              f"options: {WEIGHT_OPTIONS}, drops {DROP_LEVELS}") from None
        return np.array([k_i, w_i, int(recipe.sign_flip), d_i], dtype=self.space.dtype)


@dataclass(frozen=True)
class ObservationLayout:
    """Where each part of the flat observation lives.

    :param num_k: bins of the recent-k histogram (one per k choice).
    :param num_channels: frequency channels of the upcoming batch.
    """

    num_k: int
    num_channels: int

    @property
    def state_dim(self) -> int:
        """Length of the training-state part (it comes first)."""
        return len(STATE_FIELDS) + self.num_k

    @property
    def batch_dim(self) -> int:
        """Length of the upcoming-batch part: channel log energies, then the distinct-identity share."""
        return self.num_channels + 1

    @property
    def size(self) -> int:
        """Total observation length."""
        return self.state_dim + self.batch_dim

    def space(self) -> spaces.Box:
        """The observation space: float32 in [0, OBSERVATION_HIGH]; every feature is a fraction or the log1p of a
        non-negative statistic, so the bound is never reached in practice (log1p of float32's max is 88.7)."""
        return spaces.Box(0.0, OBSERVATION_HIGH, shape=(self.size,), dtype=np.float32)

    def build(self, state: dict[str, float], k_histogram: np.ndarray, channel_energy: np.ndarray,
              distinct_share: float) -> np.ndarray:
        """Assemble one observation from its named parts."""
        head = np.array([state[name] for name in STATE_FIELDS], dtype=np.float32)
        return np.concatenate([head, k_histogram.astype(np.float32), np.log1p(channel_energy).astype(np.float32),
                               np.array([distinct_share], dtype=np.float32)])

    def split(self, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(training-state part, upcoming-batch part) of an observation (or a batch of them, last axis)."""
        return observation[..., : self.state_dim], observation[..., self.state_dim:]
