"""How one batch is mixed: :class:`Recipe`, without torch (the command line reads its fields and their flags
before any command runs; :mod:`mixup_env.masking` applies it)."""
from __future__ import annotations

from dataclasses import dataclass

from freqmix_base.errors import FreqmixError
from freqmix_base.fields import option

WEIGHT_SCHEMES = ("dirichlet", "instahide", "uniform")
PARTNER_SOURCES = ("batch", "pool")


class RecipeError(FreqmixError):
    """A recipe that cannot be applied (bad k, unknown scheme, batch too small...)."""


@dataclass(frozen=True)
class Recipe:
    """How one batch is mixed.

    :param k: images per mixed output (1 = no mixing, the no-defence baseline); no flag of its own: a run's k is
        its agent's choice (``--k`` is the fixed agent's).
    :param weights: ``"dirichlet"`` (Dirichlet(alpha) weights), ``"instahide"`` (|N(0,1)| normalised, the
        largest at most 0.65) or ``"uniform"`` (1/k each).
    :param alpha: Dirichlet concentration (> 0); small values give one dominant image, large ones even mixes.
    :param sign_flip: multiply every coefficient of a mixed output by an independent random sign (InstaHide).
    :param drop: fraction (0 <= drop < 1) of each output's channels zeroed at random, on top of the fixed
        channel selection.
    :param drop_secret: draw the dropped channels of each row from the client's secret key and the row's own face,
        so that a face drops the same channels in every epoch (PartialFace's per-image channel subset); otherwise
        they are drawn afresh at every exposure, which an observer of the whole run merges away.
    :param laplace_epsilon: DCTDP privacy budget ε per coefficient: add Laplace noise of scale
        ``LAPLACE_SENSITIVITY / ε`` to every mixed coefficient (after the sign flip, before the drop);
        ``None`` adds none.
    :param partners: where a mix's k − 1 partners come from: ``"batch"`` (the other private faces of its batch) or
        ``"pool"`` (public faces, InstaHide's cross-dataset mode: the run's attacker identities, which by Kerckhoffs
        the attacker holds).
    """

    k: int = 1
    weights: str = option("dirichlet", "mixing weight scheme", choices=WEIGHT_SCHEMES)
    alpha: float = option(1.0, "Dirichlet concentration", needs=("weights", "dirichlet"))
    sign_flip: bool = option(False, "random sign flip of mixed coefficients")
    drop: float = option(0.0, "fraction of channels zeroed per mixed output")
    drop_secret: bool = option(False, "each face drops the same channels in every epoch, drawn from the secret key "
                                      "and the face (default: drawn afresh per exposure)")
    laplace_epsilon: float | None = option(None, "DCTDP: Laplace noise of budget ε on the mixed coefficients "
                                                 "(default: none)")
    partners: str = option("batch", "where each mix's k - 1 partners come from: batch (the other private faces of "
                                    "its batch) or pool (public faces: the run's attacker identities, "
                                    "--private-fraction)", choices=PARTNER_SOURCES)

    @property
    def linear(self) -> bool:
        """Whether each mixed row is a weighted sum of its faces' tensors and nothing else (no sign flip, channel drop
        or noise): what a batch's blind separation undoes (:mod:`mixup_env.separation`)."""
        return not self.sign_flip and self.drop == 0 and self.laplace_epsilon is None

    @property
    def fresh_per_exposure(self) -> bool:
        """Whether a face's row holds randomness drawn afresh each time it is protected (sign flips, or
        :attr:`fresh_beyond_signs`): what an observer of many exposures averages or merges away."""
        return self.sign_flip or self.fresh_beyond_signs

    @property
    def fresh_beyond_signs(self) -> bool:
        """Whether the fresh randomness goes beyond signs (noise, or channels dropped without :attr:`drop_secret`),
        so that even the magnitudes differ from exposure to exposure."""
        return self.laplace_epsilon is not None or (self.drop > 0 and not self.drop_secret)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or int(self.k) != self.k or self.k < 1:
            raise RecipeError(f"k must be a positive integer (images mixed per output), not {self.k!r}")
        if self.weights not in WEIGHT_SCHEMES:
            raise RecipeError(f"unknown weight scheme {self.weights!r}; choose one of {', '.join(WEIGHT_SCHEMES)}")
        if not self.alpha > 0:
            raise RecipeError(f"alpha must be > 0, not {self.alpha!r}")
        if not 0.0 <= self.drop < 1.0:
            raise RecipeError(f"drop must be in [0, 1), not {self.drop!r}")
        if self.partners not in PARTNER_SOURCES:
            raise RecipeError(f"unknown partner source {self.partners!r}; choose one of {', '.join(PARTNER_SOURCES)}")
        if self.laplace_epsilon is not None and not 0 < self.laplace_epsilon < float("inf"):
            raise RecipeError(f"laplace_epsilon must be a finite ε > 0 or None, not {self.laplace_epsilon!r}")
