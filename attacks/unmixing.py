"""The batch observer's attack: blind separation of each observed batch (:mod:`mixup_env.separation`), then the
strongest single-tensor attack on the separated tensors.

The attacker of a curious server or a leaked training log holds the protected tensors batch by batch, and every row
of a batch mixes faces of that same batch, so FastICA undoes the mixing with no key, no weights and no partners
known (ORL hybrid mask, k = 2 … 6: median correlation 0.995 of each true k = 1 tensor with its recovered source).
The separated tensors are the ``ppfr`` tensors (k = 1) to the attacker, which then decodes them with the decoder
trained under the k = 1 belief: the white-box attacker under the true key (``unmix_white_box``), the black-box
attacker under the key it recovers from the separated tensors' statistics (``unmix_black_box``,
:func:`attacks.key_recovery.recovered_belief`). Each row's reconstruction is a face it mixes and is scored, like every
reconstruction of a mix, against the best-matching face it mixes.

A leaked, shuffled training set (no batch structure) is one pool of N mixtures of N faces: the same separation on
the whole pool (``unmix_pooled``) recovers the faces less well (median correlation 0.96–0.97 on ORL's 100 private
training faces) at a cost that grows with N².
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from attacks.attack import AttackSetting, Reconstructor, seconds_once
from attacks.decoder_attacks import decoder_black_box, decoder_seconds, decoder_white_box, fit_decoder
from attacks.key_recovery import KeyRecovery, recovered_belief
from attacks.protection import Protection, white_box
from freqmix_base.seeds import sub_seed
from mixup_env.separation import separate


def separate_batches(tensors: torch.Tensor, batches: list[torch.Tensor], seed: int) -> torch.Tensor:
    """(N, C, h, w) protected tensors and the batches they were mixed in (row indices) -> (N, C, h, w): for each row,
    the unmixed tensor of the source :func:`separate` assigns it."""
    out = torch.empty_like(tensors)
    for number, rows in enumerate(batches):
        separation = separate(tensors[rows], seed + number)
        out[rows] = separation.sources[separation.assignment]
    return out


@dataclass
class BatchUnmixing:
    """A reconstruction attack on whole batches: separate each batch, then reconstruct the separated tensors.

    :param attack: the single-tensor attack on unmixed (k = 1) tensors, e.g. a decoder trained under the k = 1
        belief.
    :param seed: seeds the separations.
    :param pooled: ignore the batches and separate all tensors as one pool (a leaked, shuffled training set).
    :param recovery: what a black-box attacker read off the separated tensors (its channel set and key); None for
        the white-box attacker, who knows them.
    """

    attack: Reconstructor
    seed: int
    pooled: bool = False
    recovery: KeyRecovery | None = None

    def reconstruct_batches(self, tensors: torch.Tensor, batches: list[torch.Tensor]) -> torch.Tensor:
        """(N, C, h, w) protected tensors and their batches -> (N, P, H, W) faces 0..255, row i a face mixed into
        row i."""
        groups = [torch.arange(len(tensors))] if self.pooled else batches
        return self.attack.reconstruct(separate_batches(tensors, groups, self.seed))


def unmixed_belief(belief: Protection) -> Protection:
    """What an attacker believes of the separated tensors: ``belief``'s pipeline and recipe, with nothing mixed."""
    return belief.with_k(1)


def _separation_seed(setting: AttackSetting) -> int:
    return sub_seed(setting.seed, "separation")


def unmix_white_box(setting: AttackSetting) -> Reconstructor:
    """Separate each observed batch, then decode under the true pipeline with nothing mixed. A defense that mixes
    nothing (public: the method is known) leaves nothing to separate: the attack is then the white-box decoder
    itself."""
    if not setting.truth.mixes:
        return decoder_white_box(setting)
    decoder = fit_decoder(setting, unmixed_belief(white_box(setting.truth)), "decoder white-box, unmixed")
    return BatchUnmixing(decoder, _separation_seed(setting))


def unmix_black_box(setting: AttackSetting) -> Reconstructor:
    """Separate each observed batch, recover the channel set and key from the separated tensors' statistics, and
    decode under that belief with nothing mixed (the black-box decoder itself where the defense mixes nothing)."""
    if not setting.truth.mixes:
        return decoder_black_box(setting)
    observed, seed = setting.observed, _separation_seed(setting)
    separated = separate_batches(observed.tensors, observed.batches, seed)
    # Recovered afresh from what the attacker knows of the method (whether it shuffles, among others), not from the
    # belief read off the mixes.
    belief, recovery = recovered_belief(unmixed_belief(setting.guess), separated, setting.auxiliary.images,
                                        sub_seed(setting.seed, "key-recovery"), read_k=False)
    return BatchUnmixing(fit_decoder(setting, belief, "decoder black-box, unmixed"), seed, recovery=recovery)


def unmix_pooled(setting: AttackSetting) -> Reconstructor:
    """The white-box attacker of a leaked, shuffled training set: the whole set separated as one pool."""
    if not setting.truth.mixes:
        return decoder_white_box(setting)
    decoder = fit_decoder(setting, unmixed_belief(white_box(setting.truth)), "decoder white-box, unmixed")
    return BatchUnmixing(decoder, _separation_seed(setting), pooled=True)


def unmix_white_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds: the decoder under the unmixed truth, unless one is shared (e.g. trained for ``ppfr``)."""
    belief = unmixed_belief(white_box(setting.truth)) if setting.truth.mixes else white_box(setting.truth)
    return seconds_once(setting, "decoder", belief, decoder_seconds(setting), before=(setting.truth,))


def unmix_black_box_seconds(setting: AttackSetting) -> float:
    """Expected seconds: nothing when the key read off the separated tensors is the true one (its decoder is then
    the white-box one), which is what the estimate assumes."""
    return 0.0
