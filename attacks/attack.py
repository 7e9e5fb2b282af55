"""The one interface of every attack on a defense: what it is given (:class:`AttackSetting`), what it is
(:class:`Attack`: a family, a label, a fit and an expected cost), and how a black-box attacker forms its belief.

A *reconstruction* attack fits on the attacker's own faces under the pipeline it assumes and returns an object
whose ``reconstruct(tensors)`` turns ``(N, C, h, w)`` protected tensors into ``(N, P, H, W)`` faces (0..255; a
``curve`` attribute, if it has one, is reported as its learning curve), one tensor at a time; or, an attack on what
a batch observer holds, whose ``reconstruct_batches(tensors, batches)`` takes the tensors with the batches they were
mixed in (:class:`BatchReconstructor`; :func:`reconstruct_observed` calls either kind). An *inversion* attack returns ``(M, P, H,
W)`` images of ``setting.identities`` pulled out of the attacked recognizer. Each family is scored on its own named
figures (:data:`attacks.privacy.RECONSTRUCTION_FIGURES`, :data:`attacks.privacy.INVERSION_FIGURES`), and the
summary reports the strongest attack that ran. Attacks are registered in :data:`attacks.registry.ATTACKS`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from attacks.budget import AttackBudget
from attacks.inversion import GeneratorPrior
from attacks.protection import ProtectedSet, Protection
from mixup_env.leakage import Reconstructor
from recognizer.faces import FaceDataset
from recognizer.trainer import Recognizer

FAMILIES = ("reconstruction", "inversion")


@dataclass
class AttackSetting:
    """What an attack against one defense holds.

    :param truth: the defender's real pipeline; only white-box attacks may read it.
    :param observed: the protected training tensors the attacker holds (every private training face once, in the
        batches they were mixed in); what is scored is reconstructed from them.
    :param guess: what a black-box attacker knows of the method before reading the tensors' statistics
        (:func:`attacks.protection.black_box_guess`: whether channels are selected and shuffled, images mixed, ...).
    :param belief: what a black-box attacker believes the pipeline is (see :func:`attacks.privacy.black_box_belief`).
    :param auxiliary: the attacker's own faces (identities disjoint from the private ones).
    :param public_faces: every face the attacker trains decoders on: ``auxiliary`` plus any further public faces
        (:func:`attacks.attacker_faces.attacker_faces`).
    :param recognizer: the defender's trained recognizer (the target of model inversion, behind ``truth.transform``).
    :param identities: (M,) private identities to invert.
    :param prior: the generator prior of model inversion (trained on ``auxiliary``).
    :param budget: how hard to work; ``seed``: the evaluation's seed (each attack derives its own with ``sub_seed``).
    :param device: where attack networks train; ``progress``: show their own progress bars.
    :param shared: fitted attacks shared by every defense of a comparison, keyed by what they depend on (a black-box
        attack under the same belief is the same attack).
    """

    truth: Protection
    observed: ProtectedSet
    guess: Protection
    belief: Protection
    auxiliary: FaceDataset
    public_faces: FaceDataset
    recognizer: Recognizer
    identities: torch.Tensor
    prior: GeneratorPrior
    budget: AttackBudget
    seed: int
    device: str = "cpu"
    progress: bool = False
    shared: dict[Any, Any] = field(default_factory=dict)


class BatchReconstructor(Protocol):
    """A fitted reconstruction attack on whole batches (e.g. :class:`attacks.unmixing.BatchUnmixing`)."""

    def reconstruct_batches(self, tensors: torch.Tensor, batches: list[torch.Tensor]) -> torch.Tensor:
        """(N, C, h, w) protected tensors and the batches they were mixed in (row indices) -> (N, P, H, W) faces."""


def reconstruct_observed(attack: Reconstructor | BatchReconstructor, observed: ProtectedSet,
                         rows: torch.Tensor | None = None) -> torch.Tensor:
    """``attack``'s faces (M, P, H, W) of the observed ``rows`` (None: all): a batch attack takes every batch whole
    (the rows it is asked for are among them), a single-tensor attack only the rows asked for."""
    if hasattr(attack, "reconstruct_batches"):
        faces = attack.reconstruct_batches(observed.tensors, observed.batches)
        return faces if rows is None else faces[rows]
    return attack.reconstruct(observed.tensors if rows is None else observed.tensors[rows])


@dataclass(frozen=True)
class Attack:
    """A registered attack.

    :param family: ``"reconstruction"`` (``fit`` returns a :class:`Reconstructor`) or ``"inversion"`` (``fit``
        returns the images of ``setting.identities``).
    :param label: its row title in the sample figure.
    :param fit: trains or sets up the attack on what ``setting`` gives it.
    :param seconds: its expected seconds on one CPU thread (only ratios matter: they shape the progress ETA).
    :param black_box: it uses ``setting.belief``, never the defender's secrets (reports group attacks by this).
    :param in_samples: its outputs get a row in the sample figure.
    :param stage: its name in the progress line (default: ``label``).
    """

    family: str
    label: str
    fit: Callable[[AttackSetting], Any]
    seconds: Callable[[AttackSetting], float]
    black_box: bool = False
    in_samples: bool = True
    stage: str | None = None

    @property
    def stage_name(self) -> str:
        """What the progress line shows while the attack fits."""
        return self.stage or self.label

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"attack family {self.family!r} is not one of {', '.join(FAMILIES)}")


def belief_key(belief: Protection) -> tuple:
    """What a fitted attack under ``belief`` depends on of it (equal keys: the same attack)."""
    return (tuple(belief.transform.kept.tolist()), tuple(sorted(belief.recipes.items(), key=repr)),
            belief.batch_size)


def fitted_once(setting: AttackSetting, name: str, belief: Protection, fit: Callable[[Protection], Any]) -> Any:
    """The attack ``name`` fitted under ``belief``: ``fit(belief)`` the first time, then the same object for every
    defense, and for the white- or black-box side, whose attacker holds an equal belief (an attack depends on the
    belief it is trained under, not on who holds it)."""
    key = (name, belief_key(belief))
    if key not in setting.shared:
        setting.shared[key] = fit(belief)
    return setting.shared[key]


def seconds_once(setting: AttackSetting, name: str, belief: Protection, seconds: float,
                 before: tuple[Protection, ...] = ()) -> float:
    """Expected seconds of :func:`fitted_once`: nothing when an attack under ``belief`` is already shared or one of
    the beliefs fitted ``before`` it in this evaluation equals it."""
    key = belief_key(belief)
    taken = (name, key) in setting.shared or any(belief_key(other) == key for other in before)
    return 0.0 if taken else seconds


def no_seconds(setting: AttackSetting) -> float:
    """The expected cost of an attack that trains nothing (its outputs are judged with the others)."""
    return 0.0
