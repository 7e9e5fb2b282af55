"""The defenses compared side by side: name -> a :class:`Defense`, the typed override of the run configuration
that makes it (the protection pieces whole, :class:`mixup_env.transform_config.TransformConfig` and
:class:`mixup_env.recipe.Recipe`, plus who chooses k and under which reward), in the :data:`DEFENSES` registry.
Training, ``freqmix compare`` and the attacker's view of a run all read those same fields; the catalogue lives
in the experiment, beside ``TrainConfig.defended_by`` that applies it (it holds no attack).

- ``none``: all channels, k = 1 (no protection, the reference of ``score_cls``);
- ``ppfr``: PPFR-FD-like channel masking: keep the 36 highest-frequency channels per plane, keyed shuffle, k = 1;
- ``partial``: PartialFace-like: ``ppfr``'s 36 high-frequency channels and keyed shuffle, and each tensor keeps
  its own random quarter of them (:data:`PARTIAL_DROP` of the channels zeroed per image, k = 1): less of each face
  in each tensor (its fixed key is still mostly recovered, docs/threat_model.md);
- ``partial-secret``: ``partial`` with PartialFace's per-image subset: each face keeps the same quarter of the
  channels in every epoch, drawn from the client's key and the face (``Recipe.drop_secret``), so that an observer of
  the whole run holds one exposure of each face, not a fresh subset per epoch to merge;
- ``dctdp``: DCTDP-like: drop the DC channel, Laplace noise of budget ε = :data:`DCTDP_EPSILON` per coefficient;
- ``instahide``: all channels, k = 4, InstaHide weights (each <= 0.65) and random sign flips;
- ``fixed2`` … ``fixed6``: the paper's hybrid mask (:func:`hybrid`: PPFR-FD's high-frequency channel
  selection and keyed shuffle, then frequency MixUp) with k fixed;
- ``random``: the hybrid mask with k drawn uniformly from {2..6} per batch;
- ``linear``, ``step``, ``cosine``: the hybrid mask with k following a schedule of the run's progress
  (:mod:`agents.schedules`: 2 -> 6 as a ramp, a step at half time, a half cosine);
- ``adaptive``: the hybrid mask with random sign flips (the recipe field that protected best, docs/threat_model.md),
  k chosen per batch among the paper's by the REINFORCE agent learning during the run under the constrained reward
  (:mod:`mixup_env.rewards`);
- ``reinforce-loss``, ``reinforce-constrained``, ``ppo-loss``, ``ppo-constrained``: the adaptive agents under
  each reward on the paper's hybrid mask, without flips (``reinforce-constrained``: the paper's method with our
  reward, ``adaptive`` before sign flips);
- ``hybrid4-pool``, ``hybrid4-flip-pool``: the hybrid mask at k = 4 with every partner a public face (InstaHide's
  cross-dataset mode: the run's attacker identities, ``Recipe.partners="pool"``), without and with sign flips;
- ``adaptive-recipe``: the adaptive decision over recipes: REINFORCE on ``FreqMixUpRecipe-v0`` chooses each
  batch's k (1 to 6: not mixing is a choice), weights, sign flip and channel-drop level over the hybrid mask, each
  face dropping the same channels in every epoch (``drop_secret``), under the constrained reward whose privacy term is
  the rise of the worst exposure of the batch's faces (``--privacy leakage --exposure worst``);
- ``reinforce-decoder``: REINFORCE under the constrained reward whose privacy term is the leakage a decoder trained
  before the run on the attacker's faces scores on each batch (``--privacy decoder-leakage``);
- ``fixed2-nodc`` … ``fixed6-nodc``, ``random-nodc``, ``adaptive-nodc``: the paper's hybrid mask with the weaker
  channel selection that only drops the DC channel (``hybrid(channels="no-dc")``; ``adaptive-nodc`` is
  ``reinforce-constrained``'s agent, without flips), kept for comparison with earlier results;
- ``hybrid1-flip`` … ``hybrid4-flip-drop-noise``: the recipe grid (:func:`recipe_defenses`): the hybrid mask at k = 1
  and 4 with each combination of the fields that are not linear in the faces (sign flips, :data:`RECIPE_DROP` of
  each tensor's channels dropped, Laplace noise of budget :data:`DCTDP_EPSILON`), which a batch's separation cannot
  undo by itself; ``-secret`` (``hybrid1-flip-drop-secret``): the drop fixed per face by the key.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from freqmix_base.errors import FreqmixError
from freqmix_base.registry import Registry
from mixup_env.recipe import Recipe
from mixup_env.spaces import PAPER_K_CHOICES
from mixup_env.transform_config import TransformConfig

DCTDP_EPSILON = 1.0
# PartialFace trains on random channel subsets of each face; the share kept (9 of the 36 channels) is our choice.
PARTIAL_DROP = 0.75
RECIPE_DROP = 0.5  # the recipe grid's channel drop: half of each mix's channels zeroed, on top of mixing
_KEY_STREAM = 7919  # keeps the secret key's draw apart from every other use of the seed

#: The run-configuration options of the protection: the transform's and the recipe's (but k, the agent's choice).
PROTECTION_OPTIONS = (*(f.name for f in fields(TransformConfig)), *(f.name for f in fields(Recipe) if f.name != "k"))


@dataclass(frozen=True)
class Defense:
    """A defense as a typed override of the run configuration: its protection pieces whole (every field at its
    piece's default unless the defense sets it, so that a defense never inherits one from the command line, and a new
    field of the transform or the recipe joins every defense), who chooses k, and under which reward. A run takes
    it with ``TrainConfig.defended_by``.

    :param transform: the frequency transform; its ``key`` is drawn per seed when ``keyed`` (:meth:`for_seed`).
    :param recipe: the non-k fields of the recipe.
    :param agent: who chooses k (``agents.registry.AGENTS``), on the paper's env ``FreqMixUp-v0``; a name with
        ``{seed}`` is a template, e.g. of a policy saved per seed.
    :param k: the fixed agent's k (its hyperparameter; None: its default); refused with an agent that chooses k.
    :param reward: the reward the agent learns under (``mixup_env.rewards.REWARDS``).
    :param privacy: the constrained reward's privacy term (``mixup_env.rewards.PRIVACY_TERMS``); None: the run's.
    :param keyed: the channels are shuffled with the defender's secret key.
    :param env_id: the env the agent acts on (None: the paper's, ``FreqMixUp-v0``, whose actions choose k only;
        ``FreqMixUpRecipe-v0``'s choose the recipe's other fields too).
    :param k_min: the smallest k the agent chooses among (None: the paper's).
    :param exposure: the leakage privacy term's reading (``RewardConfig.exposure``); None: the run's.
    """

    transform: TransformConfig = field(default_factory=TransformConfig)
    recipe: Recipe = field(default_factory=Recipe)
    agent: str = "fixed"
    k: int | None = None
    reward: str = "loss"
    privacy: str | None = None
    keyed: bool = False
    env_id: str | None = None
    k_min: int | None = None
    exposure: str | None = None

    def __post_init__(self) -> None:
        if self.agent != "fixed" and self.k is not None:
            raise FreqmixError(f"a defense whose agent is {self.agent!r} chooses k itself; k={self.k} would do nothing")

    def for_seed(self, seed: int) -> Defense:
        """This defense under the run seed ``seed``: its secret key drawn where it shuffles, an agent template
        filled in."""
        return replace(self, transform=replace(self.transform, key=secret_key(seed) if self.keyed else None),
                       agent=self.agent.format(seed=seed))


def hybrid(agent: str = "fixed", k: int | None = None, reward: str = "loss", channels: str = "high",
           privacy: str | None = None, recipe: Recipe = Recipe()) -> Defense:
    """The paper's hybrid mask (PPFR-FD's channel selection ``channels`` and keyed shuffle, then frequency MixUp
    with Dirichlet(1) weights and the other fields of ``recipe``), k chosen by ``agent`` (``k``: the fixed agent's)
    under ``reward`` (and its privacy term ``privacy``)."""
    return Defense(TransformConfig(channels=channels), replace(recipe, weights="dirichlet", alpha=1.0), agent, k,
                   reward, privacy, keyed=True)


# The recipe fields that are not linear in the faces, each a thing a batch's separation cannot undo by itself
# (docs/threat_model.md): sign flips, RECIPE_DROP of each tensor's channels dropped, Laplace noise of DCTDP's budget.
RECIPE_FIELDS = ("flip", "drop", "noise")
RECIPE_KS = (1, 4)  # unmixed, and the paper's middle k


def recipe_defenses() -> dict[str, Defense]:
    """``hybrid<k>-<fields>``: the hybrid mask at k in :data:`RECIPE_KS` with every non-empty combination of
    :data:`RECIPE_FIELDS` (``hybrid4-flip-drop``: k = 4, sign flips and half the channels dropped per tensor), and
    each combination that drops channels also with the drop fixed per face by the key (``-secret``,
    ``Recipe.drop_secret``)."""
    defenses = {}
    for k in RECIPE_KS:
        for mask in range(1, 2 ** len(RECIPE_FIELDS)):
            chosen = [name for bit, name in enumerate(RECIPE_FIELDS) if mask >> bit & 1]
            recipe = Recipe(sign_flip="flip" in chosen, drop=RECIPE_DROP if "drop" in chosen else 0.0,
                            laplace_epsilon=DCTDP_EPSILON if "noise" in chosen else None)
            name = "-".join([f"hybrid{k}", *chosen])
            defenses[name] = hybrid(k=k, recipe=recipe)
            if "drop" in chosen:
                defenses[f"{name}-secret"] = hybrid(k=k, recipe=replace(recipe, drop_secret=True))
    return defenses


SCHEDULE_DEFENSES = ("linear", "step", "cosine")
# The adaptive agents: name -> (agent, reward, the constrained reward's privacy term; None: the run's).
ADAPTIVE_AGENTS = {"reinforce-loss": ("reinforce", "loss", None),
                   "reinforce-constrained": ("reinforce", "constrained", None),
                   "ppo-loss": ("ppo", "loss", None), "ppo-constrained": ("ppo", "constrained", None),
                   "reinforce-decoder": ("reinforce", "constrained", "decoder-leakage")}
ADAPTIVE_DEFENSES = tuple(ADAPTIVE_AGENTS)

DEFENSES: Registry[Defense] = Registry("defense", "--defenses")
DEFENSES.register("none", Defense(k=1))
DEFENSES.register("ppfr", Defense(TransformConfig(channels="high"), k=1, keyed=True))
DEFENSES.register("partial", Defense(TransformConfig(channels="high"), Recipe(drop=PARTIAL_DROP), k=1, keyed=True))
DEFENSES.register("partial-secret", Defense(TransformConfig(channels="high"),
                                           Recipe(drop=PARTIAL_DROP, drop_secret=True), k=1, keyed=True))
DEFENSES.register("dctdp", Defense(TransformConfig(channels="no-dc"), Recipe(laplace_epsilon=DCTDP_EPSILON), k=1))
DEFENSES.register("instahide", Defense(recipe=Recipe(weights="instahide", sign_flip=True), k=4))
for _suffix, _channels in (("", "high"), ("-nodc", "no-dc")):
    for _k in PAPER_K_CHOICES:
        DEFENSES.register(f"fixed{_k}{_suffix}", hybrid(k=_k, channels=_channels))
    DEFENSES.register(f"random{_suffix}", hybrid("random", channels=_channels))
DEFENSES.register("adaptive", hybrid("reinforce", reward="constrained", recipe=Recipe(sign_flip=True)))
DEFENSES.register("adaptive-nodc", hybrid("reinforce", reward="constrained", channels="no-dc"))
for _name in SCHEDULE_DEFENSES:
    DEFENSES.register(_name, hybrid(_name))
for _name, (_agent, _reward, _privacy) in ADAPTIVE_AGENTS.items():
    DEFENSES.register(_name, hybrid(_agent, reward=_reward, privacy=_privacy))
for _name, _defense in recipe_defenses().items():
    DEFENSES.register(_name, _defense)
for _name, _flip in (("hybrid4-pool", False), ("hybrid4-flip-pool", True)):
    DEFENSES.register(_name, hybrid(k=4, recipe=Recipe(sign_flip=_flip, partners="pool")))
DEFENSES.register("adaptive-recipe", Defense(TransformConfig(channels="high"), Recipe(drop_secret=True), "reinforce",
                                             reward="constrained", privacy="leakage", keyed=True,
                                             env_id="FreqMixUpRecipe-v0", k_min=1, exposure="worst"))


# freqmix train's protection unless --defense names another: the best trade measured on ORL (identification 0.970
# against the strongest attack's SSIM 0.463 and recon-id 0.113, the recipe-aware linked reading included, 3 seeds;
# ``hybrid1-flip``, the best fixed recipe, 0.963 at 0.525 / 0.157; docs/threat_model.md).
DEFAULT_DEFENSE = "adaptive"


class DefenseError(FreqmixError):
    """An empty or unusable ``--defenses`` list."""


def secret_key(seed: int) -> int:
    """The defender's channel-shuffle key, derived from the run's one seed (>= 0, as ``TrainConfig`` checks)."""
    return int(np.random.default_rng([seed, _KEY_STREAM]).integers(2**31))


def parse_defenses(text: str) -> list[str]:
    """``"none,ppfr,fixed2"`` -> the names, in order, without repeats; a FreqmixError for an unknown or empty
    list."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise DefenseError("--defenses is empty; give a comma-separated list such as none,ppfr,fixed4")
    for name in names:
        DEFENSES.get(name)
    return names


def defense_of(name: str, seed: int, option: str | None = None) -> Defense:
    """Defense ``name`` under the run seed ``seed`` (:meth:`Defense.for_seed`); UnknownNameError naming ``option``
    (default ``--defenses``) if unknown."""
    return DEFENSES.get(name, option).for_seed(seed)
