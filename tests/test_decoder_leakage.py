"""The ``decoder-leakage`` privacy term: the constrained reward's leakage scored by a decoder trained before the run
(``FreqMixUpEnv(leakage_attack=...)``, ``freqmix train --privacy decoder-leakage``)."""
from __future__ import annotations

import csv
import json
import textwrap

import numpy as np
import pytest

from attacks.decoder import train_decoder
from attacks.protection import Protection
from freqmix.cli import main
from freqmix_base.errors import FreqmixError
from mixup_env.env import FreqMixUpEnv
from recognizer.data import synthetic_faces
from test_real_clients import run_without_thread_setting

TINY = ["--image-size", "32", "--batch-size", "8", "--embedding-dim", "32", "--no-progress", "--seed", "3"]


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)


def _env(faces, privacy, **kw):
    return FreqMixUpEnv(faces, batch_size=12, embedding_dim=32, steps_per_episode=50, reward="constrained",
                        privacy=privacy, channels="high", n_high=20, key=4, probe_every=2, total_steps=12, **kw)


def test_decoder_leakage_without_its_attack_is_one_clear_error_at_reset(faces):
    env = _env(faces, "decoder-leakage")
    with pytest.raises(FreqmixError, match="leakage_attack="):
        env.reset(seed=0)


def test_a_decoder_at_step_0_scores_exactly_the_analytic_leakage(faces):
    analytic = _env(faces, "leakage")
    choices = analytic.codec.k_choices
    belief = Protection.of(analytic.transform, {k: 1 / len(choices) for k in choices}, batch_size=12)
    # The env's analytic inverse fills dropped channels with its training faces' mean: so does this decoder.
    untrained = train_decoder(belief, faces.images, faces.labels, steps=0, seed=0, widths=(8, 16),
                              fill_faces=faces.images, progress=False)
    decoded = _env(faces, "decoder-leakage", leakage_attack=untrained)
    analytic.reset(seed=5)
    decoded.reset(seed=5)
    for action in [0, 4, 2, 3]:
        a, b = analytic.step(action)[4], decoded.step(action)[4]
        assert 0 < a["leakage"] < 1 and b["leakage"] == pytest.approx(a["leakage"], abs=1e-5)
        assert b["reward"] == pytest.approx(a["reward"], abs=1e-5)


def test_train_with_decoder_leakage_trains_the_decoder_first_and_logs_its_leakage(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--data", "synthetic", "--private-fraction", "0.5", "--agent", "reinforce",
                 "--reward", "constrained", "--privacy", "decoder-leakage", "--channels", "high", "--key", "2",
                 "--steps", "6", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "steps.csv").open()))
    leakage = np.array([float(row["leakage"]) for row in rows])
    assert len(rows) == 6 and ((leakage > 0) & (leakage < 1)).all()
    assert json.loads((out / "config.json").read_text())["objective"]["privacy"] == "decoder-leakage"


@pytest.mark.parametrize("extra, message", [
    ([], "--private-fraction"),
    (["--private-fraction", "0.5", "--nproc", "2"], "one process"),
])
def test_decoder_leakage_without_attacker_faces_or_in_many_processes_fails_before_any_file(tmp_path, capsys, extra,
                                                                                           message):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--reward", "constrained", "--privacy", "decoder-leakage", "--agent", "reinforce",
                 "--steps", "4", *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()


ASYNC_DECODER_SCRIPT = textwrap.dedent("""
    import gymnasium as gym, numpy as np, torch
    import mixup_env
    from attacks.decoder import train_decoder
    from attacks.protection import Protection
    from mixup_env.env import FreqMixUpEnv
    from recognizer.data import synthetic_faces
    options = dict(data="synthetic", image_size=32, batch_size=8, embedding_dim=16, steps_per_episode=3,
                   channels="high", n_high=20, key=2, reward="constrained", privacy="decoder-leakage")
    public = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=1)
    transform = FreqMixUpEnv(**{**options, "privacy": "loss"}).transform
    belief = Protection.of(transform, {k: 0.2 for k in (2, 3, 4, 5, 6)}, batch_size=8)
    decoder = train_decoder(belief, public.images, public.labels, steps=3, seed=0, widths=(8, 16), progress=False)
    envs = gym.make_vec("FreqMixUp-v0", num_envs=2, vectorization_mode="async", leakage_attack=decoder, **options)
    envs.reset(seed=0)
    for _ in range(2):  # inside the first episode: the autoreset step after it measures nothing
        *_, info = envs.step(np.array([0, 4]))
    envs.close()
    print("threads", torch.get_num_threads())
    print("leakage", info["leakage"].tolist())
""")


def test_async_make_vec_hands_each_worker_the_decoder_under_default_threads():
    done = run_without_thread_setting(ASYNC_DECODER_SCRIPT, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().split("\n"))
    leakage = json.loads(lines["leakage"])
    assert len(leakage) == 2 and all(0 < value < 1 for value in leakage)


def test_compare_refuses_a_decoder_defense_it_cannot_run_before_any_other_defense_trains(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", *TINY, "--data", "synthetic", "--defenses", "fixed2,reinforce-decoder", "--nproc", "2",
                 "--budget", "smoke", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "one process" in err and len(err.strip().splitlines()) == 1 and not out.exists()
