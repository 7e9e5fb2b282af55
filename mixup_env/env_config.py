"""Everything a :class:`mixup_env.env.FreqMixUpEnv` is apart from its data: :class:`EnvConfig`, the piece
configurations nested whole, without torch (the run configuration reads its defaults before any command runs)."""
from __future__ import annotations

from dataclasses import dataclass

from mixup_env.recipe import Recipe
from mixup_env.rewards import RewardConfig
from mixup_env.spaces import PAPER_K_CHOICES
from mixup_env.transform_config import TransformConfig
from recognizer.config import RecognizerConfig
from recognizer.sampling import DEFAULT_SAMPLER

EPISODES = ("epoch", "run")


@dataclass(frozen=True)
class EnvConfig:
    """Everything a :class:`FreqMixUpEnv` is, apart from its data.

    :param action: ``"k"`` (Discrete over ``k_choices``, the paper's) or ``"recipe"`` (MultiDiscrete).
    :param k_choices: the k values actions choose among.
    :param default_recipe: the recipe fields the action does not choose (for ``action="k"``: weights, alpha, sign
        flip, drop, noise; for ``"recipe"``: noise); its k stays 1, since k is the action.
    :param transform: the frequency transform (channels kept, shuffle key, upsampling).
    :param recognizer: the recognizer (backbone, head, embedding size, lr, device).
    :param batch_size: images per step (the last incomplete batch of an epoch is dropped).
    :param episode: ``"epoch"`` (one long game, the recognizer persists) or ``"run"`` (each episode trains a fresh
        recognizer, with a fresh seed drawn from the env's generator, for ``total_steps`` steps).
    :param steps_per_episode: recognizer steps per episode; default one epoch (``"epoch"``) or ``total_steps``
        (``"run"``).
    :param total_steps: planned recognizer steps of the whole run (cosine lr schedule; of each episode with
        ``episode="run"``); None = constant lr.
    :param probe_every: clean-probe accuracy every this many steps (0 = only at episode ends).
    :param probe_size: training images in the fixed clean probe (unmixed, masked).
    :param objective: the reward (:class:`mixup_env.rewards.RewardConfig`: name, accuracy target, weights).
    :param augment_shift: training images are translated by up to this fraction of their side (borders
        replicated; 0.07 is 8 pixels at 112) before the frequency transform, drawn from the data-order
        generator; 0 turns it off.
    :param augment_step: the translation moves faces in steps of this many pixels: 8 moves them by whole DCT blocks,
        which show an observer that links the epochs no new phase of the block grid (the one-pixel steps of 1 do).
    :param sampler: the order of the training faces in each epoch (:mod:`recognizer.sampling`): ``"balanced"``
        (each identity an equal share, its faces repeated as needed) or ``"shuffle"`` (each face once).
    """

    action: str = "k"
    k_choices: tuple[int, ...] = PAPER_K_CHOICES
    default_recipe: Recipe = Recipe()
    transform: TransformConfig = TransformConfig()
    recognizer: RecognizerConfig = RecognizerConfig()
    batch_size: int = 32
    episode: str = "epoch"
    steps_per_episode: int | None = None
    total_steps: int | None = None
    probe_every: int = 0
    probe_size: int = 128
    objective: RewardConfig = RewardConfig()
    augment_shift: float = 0.07
    augment_step: int = 1
    sampler: str = DEFAULT_SAMPLER
