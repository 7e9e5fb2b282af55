"""What the decision signals cost per step, each timed against the same env without it:

- ``leakage_over_step``: ``env.step`` whose reward reads the leakage signal (the batch as it is and separated, the
  free analytic inverse of each reading and its best-component SSIM: ``--reward constrained --privacy leakage``) ÷
  the same step under the paper's loss reward, at the largest k (the SSIM is taken against every face mixed in, so
  k = 6 is its dearest case);
- ``decoder_leakage_over_step``: the same with the leakage of ``--privacy decoder-leakage`` (the decoder at
  :data:`freqmix.experiment.leakage_decoder.LEAKAGE_BUDGET`'s widths, one decoding per face as the run's signal
  makes it, on the rows the signal samples (:data:`mixup_env.leakage.LEAKAGE_ROWS`) as they are and separated; its
  weights do not change its cost, so it is timed untrained) ÷ the same step under the loss reward;
- ``probe_over_step``: ``env.step`` with a clean probe every :data:`PROBE_EVERY` steps (the CLI default, what the
  constrained reward's λ reads) ÷ the same step without probes.
"""
from __future__ import annotations

from dataclasses import replace

from attacks.budget import get_budget
from attacks.decoder import DecoderAttack, train_decoder
from attacks.protection import Protection
from freqmix.benchmarks.timing import Ratio, interleaved, ratio
from freqmix.experiment.leakage_decoder import LEAKAGE_BUDGET
from mixup_env.env import FreqMixUpEnv
from mixup_env.recipe import Recipe
from recognizer.faces import FaceDataset

PROBE_EVERY = 10  # freqmix train's default --probe-every
ENDLESS = 10**9  # steps per episode that never end within a benchmark


def measure(train: FaceDataset, batch_size: int, rounds: int, seed: int = 0) -> tuple[Ratio, Ratio, Ratio]:
    """``(leakage_over_step, decoder_leakage_over_step, probe_over_step)`` on the training faces ``train`` with
    the hybrid mask."""
    common = dict(batch_size=batch_size, steps_per_episode=ENDLESS, channels="high", key=1)
    plain = FreqMixUpEnv(train, **common)
    envs = {"loss": plain,
            "leakage": FreqMixUpEnv(train, **common, reward="constrained", privacy="leakage"),
            "decoder": FreqMixUpEnv(train, **common, reward="constrained", privacy="decoder-leakage",
                                    leakage_attack=_untrained_decoder(plain, train, seed)),
            "probed": FreqMixUpEnv(train, **common, probe_every=PROBE_EVERY)}
    for env in envs.values():
        env.reset(seed=seed)
    k = plain.codec.k_choices[-1]
    action = plain.codec.encode(Recipe(k=k))
    candidates = {name: (lambda env=env: env.step(action)) for name, env in envs.items()}
    for _ in range(PROBE_EVERY):  # warm-up: first calls allocate
        for fn in candidates.values():
            fn()
    timings = interleaved(candidates, rounds, PROBE_EVERY)  # every round holds exactly one probe
    _, c, h, w = train.images.shape
    setting = f"batch {batch_size} of {c}x{h}x{w} faces, hybrid mask, k={k}"
    leakage = ratio(timings, "leakage", "loss", "", f"env.step with the leakage signal ÷ without; {setting}")
    decoder = ratio(timings, "decoder", "loss", "<= 1.5", f"env.step with the decoder-leakage signal ({LEAKAGE_BUDGET} "
                                                      f"budget's decoder) ÷ without; {setting}")
    probe = ratio(timings, "probed", "loss", "",
                  f"env.step with a clean probe of {min(envs['probed'].probe_size, len(train))} images every "
                  f"{PROBE_EVERY} steps ÷ without; {setting}")
    return leakage, decoder, probe


def _untrained_decoder(env: FreqMixUpEnv, faces: FaceDataset, seed: int) -> DecoderAttack:
    """A decoder of ``--privacy decoder-leakage``'s size under ``env``'s pipeline, untrained (step 0)."""
    budget = get_budget(LEAKAGE_BUDGET)
    belief = Protection.of(env.transform, {k: 1 / len(env.codec.k_choices) for k in env.codec.k_choices},
                        batch_size=env.batch_size)
    decoder = train_decoder(belief, faces.images, faces.labels, steps=0, seed=seed, widths=budget.decoder_widths,
                            progress=False)
    return replace(decoder, mirrored=False)
