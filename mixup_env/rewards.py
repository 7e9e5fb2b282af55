"""Rewards of the FreqMixUp env as named, pluggable pieces (the task apart from the reward, as in DACBench).

Each reward turns what one step measured (:class:`StepSignals`) into ``(reward, cost, lambda)``:

- ``loss`` — **the paper's**: the recognition loss of the mixed batch, which the agent maximises while the
  recognizer minimises it, minus an optional fixed penalty ``utility_weight × cost`` (off at weight 0; its
  ``lambda`` is that fixed weight).
- ``constrained`` — a privacy reward minus ``λ × cost × blame``, with ``λ >= 0`` adapted by dual ascent on the
  measured violation (the PPO-Lagrangian recipe of constrained RL): after every clean probe, ``λ <- max(0, λ +
  lambda_lr × (accuracy_target − probe accuracy))``, so λ grows while accuracy is short of the target and shrinks to
  0 while it is above. The privacy reward (``privacy``) is the batch's recognition loss (``"loss"``, the default) or
  ``1 − leakage`` (``"leakage"``: the free analytic attack's best-component SSIM on this batch,
  :mod:`mixup_env.leakage`; ``"decoder-leakage"``: the same SSIM of a decoder trained before the run on the
  attacker's faces, which the env is given as ``leakage_attack``). A leakage term reads the batch as it is
  (``exposure="batch"``) or as the run's weakest exposure sees it (``exposure="worst"``): the attacker of a whole run
  keeps each face's best exposure, so a run is as private as the worst exposure of each of its faces; the env follows
  that worst exposure per face, and the privacy reward is 1 − the step's rise of it per row, which sums over a run to
  (steps − the faces' total worst exposure ÷ batch size): an agent that maximises it minimises the run's worst
  exposures, and a batch that exposes its faces no worse than before costs nothing. On the hybrid mask
  (high-frequency channels) the analytic inverse is about as far from the faces at k = 2 as at k = 6 (ORL:
  best-component SSIM 0.45 for every k), so leakage gives the agent no direction there; the loss does. ``blame`` is the step's share
  of the mixing, ``(k − k_min) / (k_max − k_min)``: one step's effect on accuracy is far below batch noise, so with
  per-step returns (the agents' ``gamma = 0``) a penalty the action cannot change would carry no gradient; charging
  the shortfall in proportion to the mixing chosen makes the least mixing free and the most mixing pay it all.
  ``ascent="conditional"`` (the default) scales each step on λ by how far the mixing since the last probe can still
  respond — up-steps by its mean share of the mixing, down-steps by the complement — the conditional integration
  that keeps a PID controller's integrator from winding up while its actuator is saturated: early in training
  accuracy is short of any target whatever the recipe, and plain ascent kept raising λ after the policy had already
  moved to the least mixing (ORL, hybrid mask, 600 steps, REINFORCE, 5 seeds: λ peaks 48–59 plain, 20–23
  conditional). The constraint binds from ``constraint_start`` of the run on (cost 0 and no ascent before; 0 by
  default): a later start let the agent mix heavily while the recognizer was immature, and that damage lasted (ORL,
  5 seeds: identification 0.66–0.86 binding from 0.25 of the run, 0.905–0.945 from the start). ``lambda_kp`` (0 by
  default) adds the proportional term of a PID Lagrangian (Stooke, Achiam and Abbeel 2020): the price of a unit of
  cost is ``λ + lambda_kp × cost``, which rises the moment accuracy falls short and drops the moment it recovers,
  where the dual-ascent λ (the integral term) lags both ways.

In both, ``cost = max(0, accuracy_target − probe accuracy)`` (the Safety-Gymnasium convention: a non-negative
cost per step, in ``info["cost"]``), from the last clean probe. Register another with ``REWARDS.register(name,
factory)``, ``factory(config) -> Reward``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

from freqmix_base.errors import FreqmixError
from freqmix_base.fields import option
from freqmix_base.registry import Registry

PRIVACY_TERMS = ("loss", "leakage", "decoder-leakage")
#: How a leakage privacy term reads a batch: ``batch`` (its own mean leakage) or ``worst`` (how far it raised the
#: worst exposure of the faces it holds, over the run so far).
EXPOSURE_READINGS = ("batch", "worst")
#: The privacy terms whose leakage comes from an attack trained before the run (the env's ``leakage_attack``).
TRAINED_LEAKAGE_TERMS = ("decoder-leakage",)
ASCENTS = ("plain", "conditional")
# Filled below; the flag of RewardConfig.reward offers whatever is registered when the command line is built.
REWARDS: Registry[Callable[[RewardConfig], Reward]] = Registry("reward", "--reward")


@dataclass(frozen=True)
class RewardConfig:
    """The reward of an env.

    :param reward: a registered reward name (``loss``, ``constrained``).
    :param accuracy_target: the clean-probe accuracy (0..1) below which a step has a cost.
    :param utility_weight: ``loss`` only: the fixed weight of the cost (0 = the paper's pure loss).
    :param lambda_lr: ``constrained`` only: dual ascent step on λ per probe, per unit of violation.
    :param privacy: ``constrained`` only: its privacy reward, ``"loss"``, ``"leakage"`` or ``"decoder-leakage"``.
    :param constraint_start: ``constrained`` only: the share of the run (0..1) from which the constraint binds.
    :param lambda_kp: ``constrained`` only: proportional gain; the price of the cost is ``λ + lambda_kp × cost``.
    :param ascent: ``constrained`` only: ``"plain"`` dual ascent, or ``"conditional"``: each step on λ scaled by
        how far the mixing since the last probe can still respond (up: its mean share of the mixing; down: the
        complement), the conditional integration that keeps a PID integrator from winding up.
    :param exposure: a leakage privacy term only: ``"batch"`` (1 − the batch's mean leakage) or ``"worst"`` (1 − the
        rise of the worst exposure of the batch's faces over the run so far, per row; see the module docstring).
    """

    reward: str = option("loss", "constrained: privacy (--privacy) - λ × accuracy shortfall × the step's share of "
                                 "the mixing, λ by dual ascent; loss: the paper's (recognition loss)", choices=REWARDS)
    accuracy_target: float = option(0.85, "clean-probe accuracy below which a step has a cost")
    utility_weight: float = option(0.0, "loss reward: reward -= weight × the accuracy shortfall",
                                   needs=("reward", "loss"))
    lambda_lr: float = option(2.0, "constrained reward: dual ascent step on λ per probe and unit of shortfall",
                              needs=("reward", "constrained"))
    privacy: str = option("loss", "constrained reward's privacy term: loss (of the mixed batch), leakage (1 - SSIM "
                                  "of the free analytic attack on it) or decoder-leakage (1 - SSIM of a decoder "
                                  "trained on the attacker's faces before the run)", choices=PRIVACY_TERMS,
                         needs=("reward", "constrained"))
    constraint_start: float = option(0.0, "constrained reward: share of the run from which the constraint binds",
                                     needs=("reward", "constrained"))
    lambda_kp: float = option(0.0, "constrained reward: proportional gain (PID Lagrangian): the price of the "
                                   "shortfall is λ + gain × shortfall", needs=("reward", "constrained"))
    exposure: str = option("batch", "constrained reward's leakage term: batch (1 - the batch's mean leakage) or "
                                    "worst (1 - how far the batch raised the worst exposure of its faces over the "
                                    "run so far, which sums over a run to the faces' mean worst exposure)",
                           choices=EXPOSURE_READINGS, needs=("privacy", ("leakage", "decoder-leakage")))
    ascent: str = option("conditional", "constrained reward: plain dual ascent on λ, or conditional (each step "
                                         "scaled by how far the mixing since the last probe can still respond: no "
                                         "wind-up while k is already the least)", choices=ASCENTS,
                        needs=("reward", "constrained"))


@dataclass(frozen=True)
class StepSignals:
    """What one env step measured.

    :param loss: recognition loss of the mixed batch.
    :param blame: the step's share of the mixing, ``(k − k_min) / (k_max − k_min)`` in [0, 1].
    :param accuracy: the last clean-probe accuracy (0..1).
    :param evaluated: whether ``accuracy`` was measured at this step.
    :param progress: recognizer steps done / steps planned for the run (0..1; 1 when no plan is known).
    :param leakage: mean best-component SSIM of the attack's readings of the batch (None if not computed).
    :param exposure_rise: per row of the batch, how far it raised the worst exposure of the faces it shows over the
        run so far (None if not computed).
    """

    loss: float
    blame: float
    accuracy: float
    evaluated: bool
    progress: float = 1.0
    leakage: float | None = None
    exposure_rise: float | None = None


@dataclass(frozen=True)
class RewardTerms:
    """A step's reward, its constraint cost, and the price per unit of cost the reward used (λ + kp × cost)."""

    reward: float
    cost: float
    multiplier: float


class Reward(Protocol):
    """A reward piece: ``needs_leakage`` says whether the env must compute the leakage signal, ``needs_exposure``
    (optional, False when absent) whether it must follow each face's worst exposure over the run."""

    needs_leakage: bool
    needs_exposure: bool

    def __call__(self, signals: StepSignals) -> RewardTerms: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class LossReward:
    """The paper's reward: the mixed batch's recognition loss (minus ``utility_weight × cost``)."""

    needs_leakage = needs_exposure = False

    def __init__(self, config: RewardConfig) -> None:
        self.target, self.weight = config.accuracy_target, config.utility_weight

    def __call__(self, signals: StepSignals) -> RewardTerms:
        cost = max(0.0, self.target - signals.accuracy)
        return RewardTerms(signals.loss - self.weight * cost, cost, self.weight)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


class ConstrainedReward:
    """``privacy − (λ + kp × cost) × cost × blame``, λ by dual ascent after every probe (see the module
    docstring)."""

    def __init__(self, config: RewardConfig) -> None:
        if config.privacy not in PRIVACY_TERMS:
            raise FreqmixError(f"unknown privacy term {config.privacy!r}; choose one of {', '.join(PRIVACY_TERMS)}")
        if config.ascent not in ASCENTS:
            raise FreqmixError(f"unknown ascent {config.ascent!r}; choose one of {', '.join(ASCENTS)}")
        self.target, self.lambda_lr, self.start = config.accuracy_target, config.lambda_lr, config.constraint_start
        if config.exposure not in EXPOSURE_READINGS:
            raise FreqmixError(f"unknown exposure reading {config.exposure!r}; choose one of "
                               f"{', '.join(EXPOSURE_READINGS)}")
        self.needs_leakage = config.privacy != "loss"
        self.needs_exposure = self.needs_leakage and config.exposure == "worst"
        self.kp, self.conditional = config.lambda_kp, config.ascent == "conditional"
        self.multiplier = 0.0
        self.blame_sum, self.blame_steps = 0.0, 0  # the mixing since the last probe

    def __call__(self, signals: StepSignals) -> RewardTerms:
        if self.needs_leakage and signals.leakage is None:
            raise FreqmixError("the constrained reward needs the leakage signal of the step")
        if self.needs_exposure and signals.exposure_rise is None:
            raise FreqmixError("the constrained reward needs the step's rise of its faces' worst exposure")
        if self.needs_exposure:
            privacy = 1.0 - signals.exposure_rise
        elif self.needs_leakage:
            privacy = 1.0 - signals.leakage
        else:
            privacy = signals.loss
        binds = signals.progress >= self.start
        cost = max(0.0, self.target - signals.accuracy) if binds else 0.0
        price = self.multiplier + self.kp * cost
        terms = RewardTerms(privacy - price * cost * signals.blame, cost, price)
        self.blame_sum, self.blame_steps = self.blame_sum + signals.blame, self.blame_steps + 1
        if signals.evaluated:
            if binds:
                self.ascend(self.target - signals.accuracy, self.blame_sum / self.blame_steps)
            self.blame_sum, self.blame_steps = 0.0, 0
        return terms

    def ascend(self, violation: float, mixing: float) -> None:
        """One dual ascent step on a measured violation (target − accuracy; negative when satisfied); ``mixing``
        is the mean share of the mixing (0..1) since the last probe, used by the conditional ascent only: a
        higher price cannot lower mixing that is already the least (nor a lower price raise the most)."""
        response = (mixing if violation > 0 else 1.0 - mixing) if self.conditional else 1.0
        self.multiplier = max(0.0, self.multiplier + self.lambda_lr * violation * response)

    def state_dict(self) -> dict[str, Any]:
        return {"lambda": self.multiplier, "blame_sum": self.blame_sum, "blame_steps": self.blame_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.multiplier = float(state.get("lambda", 0.0))
        self.blame_sum, self.blame_steps = float(state.get("blame_sum", 0.0)), int(state.get("blame_steps", 0))


REWARDS.register("loss", LossReward)
REWARDS.register("constrained", ConstrainedReward)


def build_reward(config: RewardConfig) -> Reward:
    """The reward ``config`` names; FreqmixError for an unknown name or values out of range."""
    factory = REWARDS.get(config.reward)
    if not 0 <= config.accuracy_target <= 1:
        raise FreqmixError(f"accuracy_target must be in [0, 1], not {config.accuracy_target}")
    weights = (config.utility_weight, config.lambda_lr, config.lambda_kp)
    if not all(0 <= w < float("inf") for w in weights):
        raise FreqmixError("need a finite utility_weight, lambda_lr and lambda_kp >= 0; got "
                           + ", ".join(map(str, weights)))
    return factory(config)
