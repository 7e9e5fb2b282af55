"""The env and the command line as other people's code and a newcomer's terminal meet them: async vector envs
with torch's default thread count, reset()'s info, plain progress lines in logs, honest single-seed summaries."""
import os
import re
import signal
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

import mixup_env  # noqa: F401  (registers the env ids)
from mixup_env.env import INFO_KEYS, WEIGHT_FILL, FreqMixUpEnv
from recognizer.data import synthetic_faces

TINY = dict(data="synthetic", image_size=32, batch_size=8, embedding_dim=16, steps_per_episode=2)


def run_without_thread_setting(script: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh Python whose torch keeps its default thread count (the suite's OMP_NUM_THREADS and
    MKL_NUM_THREADS removed); on a hang, kill its whole process group (workers included) and fail."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    child = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail(f"hung: no exit within {timeout} s")
    return subprocess.CompletedProcess(child.args, child.returncode, out, err)


ASYNC_SCRIPT = textwrap.dedent("""
    import gymnasium as gym, numpy as np, os, torch
    import mixup_env
    print("threads", torch.get_num_threads(), os.cpu_count())
    envs = gym.make_vec("FreqMixUp-v0", num_envs=2, vectorization_mode="async", **{options!r})
    infos = [envs.reset(seed=0)[1]]
    truncations = []
    for _ in range(5):
        *_, truncated, info = envs.step(np.array([0, 4]))
        infos.append(info)
        truncations.append(truncated.tolist())
    envs.close()
    print("truncated", truncations)
    print("steps", [info["step"].tolist() for info in infos])
    print("keys", len({{tuple(sorted(info)) for info in infos}}), sorted(infos[0]))
""")


def test_async_make_vec_with_default_threads_crosses_an_episode_boundary():
    # The parent runs torch ops on its default pool (Gymnasium builds a dummy env there) before forking workers.
    done = run_without_thread_setting(ASYNC_SCRIPT.format(options=TINY), timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().split("\n"))
    threads, cores = map(int, lines["threads"].split())
    assert threads == cores  # torch's default: the suite's one-thread setting did not reach the script
    assert lines["truncated"] == str([[False, False], [True, True], [False, False], [False, False], [True, True]])
    # reset: step 0; two trained steps; the autoreset trains nothing; two more.
    assert lines["steps"] == str([[0, 0], [1, 1], [2, 2], [2, 2], [3, 3], [4, 4]])
    count, keys = lines["keys"].split(" ", 1)
    assert count == "1" and keys == str(sorted(INFO_KEYS + tuple(f"_{key}" for key in INFO_KEYS)))


def signature(info: dict) -> tuple:
    return tuple((key, np.shape(value), np.asarray(value).dtype.kind) for key, value in sorted(info.items()))


def test_reset_info_is_a_step_info_that_trained_nothing():
    faces = synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)
    env = FreqMixUpEnv(faces, batch_size=8, embedding_dim=16, k_choices=(1, 2, 3, 4, 5, 6), steps_per_episode=2)
    _, first = env.reset(seed=0)
    _, _, _, _, step = env.step(3)
    env.step(1)
    _, again = env.reset()
    assert signature(first) == signature(step) == signature(again)
    assert first["k"] == 0 and np.all(first["weights"] == WEIGHT_FILL) and first["weights"].shape == (8, 6)
    assert (first["step"], again["step"]) == (0, 2) and first["reward"] == 0.0 and first["error"] == ""
    assert again["lr"] == env.recognizer.lr and not again["evaluated"]


def test_make_vec_autoreset_step_has_every_key():
    envs = gym.make_vec("FreqMixUp-v0", num_envs=2, vectorization_mode="sync", **TINY)
    _, reset_info = envs.reset(seed=0)
    infos = [envs.step(np.array([0, 1]))[4] for _ in range(3)]  # the third step is the autoreset
    envs.close()
    keys = [sorted(k for k in info if not k.startswith("_")) for info in (reset_info, *infos)]
    assert all(k == keys[0] for k in keys) and "step" in keys[0]
    assert infos[2]["step"].tolist() == infos[1]["step"].tolist() == [2, 2]  # the autoreset trained nothing
    assert infos[2]["k"].tolist() == [0, 0] and infos[1]["k"].tolist() == [2, 3]


def test_train_piped_prints_plain_progress_lines(tmp_path):
    # stderr is a pipe, as under nohup or a job scheduler; a short interval stands in for the 15 s of a real log.
    env = {**os.environ, "FREQMIX_PROGRESS_SECONDS": "0.2", "PYTHONPATH": os.path.dirname(os.path.dirname(__file__))}
    done = subprocess.run([sys.executable, "-m", "freqmix.cli", "train", "--image-size", "32", "--batch-size", "8",
                           "--embedding-dim", "16", "--steps", "30", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.split("\n") if line.startswith("recognizer steps: ")]
    assert lines[0].startswith("recognizer steps: 0/30 step (0%)")
    assert lines[-1].startswith("recognizer steps: 30/30 step (100%)") and " step/s, " in lines[-1]
    assert "ETA 00:00" in lines[-1] and "loss=" in lines[-1]
    assert "\x1b" not in done.stderr + done.stdout and "\r" not in done.stderr + done.stdout


def test_evaluate_off_a_terminal_prints_plain_lines_for_every_stage(tmp_path, capsys, monkeypatch):
    from attacks.budget import AttackBudget
    from attacks.registry import ATTACKS
    from freqmix.evaluate import evaluate_run
    from freqmix.experiment.config import TrainConfig
    from freqmix.experiment.launch import run_training

    budget = AttackBudget("plain-lines", recognizer_epochs=1, evaluator_steps=2, cgan_steps=2, cgan_batch=8,
                          cgan_width=8, prior_steps=2, inversion_steps=2, inversions_per_identity=1, decoder_steps=2,
                          decoder_widths=(8, 16), decoder_batch=8)
    run_training(TrainConfig.of(data="synthetic", image_size=32, private_fraction=0.1, train_per_identity=3, steps=2,
                             batch_size=6, embedding_dim=16, agent="fixed", hyperparams={"k": 3}), tmp_path, progress=False)
    capsys.readouterr()
    monkeypatch.setenv("FREQMIX_PROGRESS_SECONDS", "0")  # a line at every update: one per stage at least
    evaluate_run(tmp_path, budget, progress=True, reference_accuracy=0.5)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err
    lines = [line for line in err.split("\n") if line.startswith("evaluate [stage ")]
    stages = {line[line.index(": ") + 2:line.index("]")] for line in lines}
    assert {"CGAN white-box", "CGAN black-box", "white-box decoder", "black-box decoder", "judging",
            "exposure"} <= stages, stages
    # Progress in stages of work and the share of the whole done, never in estimated seconds.
    total = len(ATTACKS) + 2
    assert lines[0].startswith(f"evaluate [stage 1 of {total}: ") and f"[stage {total} of {total}: exposure]" in err
    assert all(line.split("]: ")[1].split(",")[0].endswith("% done") for line in lines), lines
    assert not any(" s (" in line or " s/s" in line for line in lines)


def test_ablate_with_one_seed_claims_no_difference_and_names_no_late_window(tmp_path, capsys):
    from freqmix.ablate import ONE_SEED_NOTE
    from freqmix.cli import main

    assert main(["ablate", "--agents", "fixed:2,fixed:6", "--seeds", "1", "--image-size", "32", "--batch-size", "12",
                 "--embedding-dim", "16", "--steps", "4", "--no-progress", "--out", str(tmp_path)]) == 0
    table = (tmp_path / "ablation.md").read_text()
    assert ONE_SEED_NOTE in table and ONE_SEED_NOTE in capsys.readouterr().out
    assert "beyond seed noise" not in table and "last" not in table and "±" not in table and "[" not in table
    assert "| fixed:6 | " in table and " | 6.00 | " in table  # the one seed's mean k, without an interval


def test_compare_row_of_one_seed_has_intervals_only_over_images_and_the_frontier_no_verdict():
    from freqmix.compare import ATTACK_COLUMNS, NUMERIC, PER_IMAGE, _aggregate
    from freqmix.frontier import ONE_SEED, verdict

    def run(value):
        return {"values": {figure: value for figure in NUMERIC},
                "per_image": {figure: [value - 0.1, value + 0.1] for figure in PER_IMAGE},
                "attacks": {column: "analytic" for column in ATTACK_COLUMNS}}

    one, two = _aggregate("fixed2", [run(0.5)], seed=0), _aggregate("fixed2", [run(0.5), run(0.7)], seed=0)
    assert one["identification_accuracy"] == 0.5 and one["identification_accuracy_ci_low"] is None
    assert one["ssim_ci_low"] < 0.5 < one["ssim_ci_high"]  # the attacked images still vary
    assert two["identification_accuracy_ci_low"] == pytest.approx(0.5)  # two seeds: an interval over seeds
    assert verdict(one, [two]) == ONE_SEED and verdict(two, [one]) != ONE_SEED


def test_unknown_env_option_lists_the_envs_own_names_and_the_closest():
    from freqmix_base.errors import FreqmixError

    with pytest.raises(FreqmixError, match=r"'image_sise' for FreqMixUpEnv \(did you mean 'image_size'\?\)") as err:
        gym.make("FreqMixUp-v0", image_sise=32)
    taken = str(err.value).split("it takes ")[1].split(", ")
    for name in ("data", "image_size", "data_seed", "render_mode", "config", "batch_size", "channels", "lr"):
        assert name in taken, name


def test_help_of_evaluate_and_compare(capsys):
    from freqmix.cli import main

    for command in ("evaluate", "compare"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
    evaluate_help, compare_help = capsys.readouterr().out.split("usage: freqmix compare")
    assert "no --out" in evaluate_help and "privacy.json" in evaluate_help
    offered = set(re.findall(r"^  (--[\w-]+)", compare_help, flags=re.MULTILINE))
    refused = {"--channels", "--key", "--upsample", "--weights", "--alpha", "--sign-flip", "--drop", "--stream",
               "--data-workers", "--n-high", "--laplace-epsilon"}
    assert not offered & refused and {"--defenses", "--seeds", "--data", "--steps"} <= offered


def test_resume_of_a_missing_folder_says_so(tmp_path, capsys):
    from freqmix.cli import main

    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"freqmix: error: --resume {tmp_path / 'nope'}: no such folder; pass the --out folder of a run "
                   "trained with --save-every N or --stop-at STEP")


def test_a_run_without_tensorboard_says_why_it_has_no_tensorboard_folder(tmp_path, monkeypatch):
    import importlib.util

    from freqmix.experiment.config import TrainConfig
    from freqmix.experiment.launch import run_training

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else
                        find_spec(name, *a))
    with pytest.warns(UserWarning, match=r"tensorboard is not installed, so this run writes no tensorboard/") as seen:
        run_training(TrainConfig.of(image_size=32, batch_size=8, embedding_dim=16, steps=2), tmp_path, progress=False)
    assert len([w for w in seen if "tensorboard" in str(w.message)]) == 1
    assert not (tmp_path / "tensorboard").exists() and (tmp_path / "metrics.json").is_file()


def test_load_run_embeds_files_and_arrays_as_training_read_them(shared_data, tmp_path):
    import cv2
    import torch

    from freqmix import load_run
    from freqmix.experiment.config import TrainConfig
    from freqmix.experiment.launch import run_training
    from recognizer.data import load_dataset
    from recognizer.image_files import read_faces

    orl = shared_data("orl")
    run_training(TrainConfig.of(data=str(orl), image_size=32, batch_size=8, embedding_dim=16, steps=2), tmp_path,
                 progress=False)
    run = load_run(tmp_path)
    trained_on = load_dataset(str(orl), image_size=32)  # the training transform's view of the folder
    picks = [0, 57, 399]
    paths = [trained_on.paths[i] for i in picks]
    assert torch.equal(read_faces(paths, 32, 1), trained_on.images[picks])
    expected = run.embed(trained_on.images[picks])
    gray = [cv2.imread(p, cv2.IMREAD_UNCHANGED) for p in paths]  # 92×112 uint8 (H, W)
    rgb = [np.repeat(img[..., None], 3, axis=2) for img in gray]
    for given in (paths, gray, rgb):
        assert torch.allclose(run.embed(given), expected, atol=1e-6)
    assert expected.shape == (3, 16) and not torch.allclose(expected[0], expected[2])


def test_cleanrl_style_loop_over_the_tiny_preset_sees_episodic_returns():
    # CleanRL's make_env: gym.make(env_id) + RecordEpisodeStatistics per env, then a vector env. Gymnasium 1.x
    # autoreset gives no "final_info"; the episode statistics arrive as infos["episode"] with the "_episode" mask.
    envs = gym.vector.SyncVectorEnv([lambda: gym.wrappers.RecordEpisodeStatistics(gym.make("FreqMixUp-Tiny-v0"))
                                     for _ in range(2)])
    envs.reset(seed=0)
    totals, returns = np.zeros(2), []
    for _ in range(7):
        _, reward, terminated, truncated, infos = envs.step(np.array([0, 4]))
        totals += reward
        assert "final_info" not in infos
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                returns.append((i, float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i])))
    envs.close()
    assert [(i, length) for i, _, length in returns] == [(0, 6), (1, 6)]  # one 6-step epoch each
    assert [r for _, r, _ in returns] == pytest.approx(totals.tolist(), rel=1e-5)  # the 7th step (reset) pays 0


def test_the_tiny_preset_spec_gives_its_episode_length():
    # Code that sizes rollouts by the spec (SB3's n_steps in the README) gets the env's own episode.
    env = gym.make("FreqMixUp-Tiny-v0")
    assert env.spec.max_episode_steps == env.unwrapped.steps_per_episode == 6
    env.reset(seed=0)
    ends = [env.step(0)[3] for _ in range(6)]
    assert ends == [False] * 5 + [True]
    env.close()


def test_orl_preset_reads_the_faces_from_the_environment(shared_data, monkeypatch):
    from freqmix_base.errors import FreqmixError

    monkeypatch.delenv("FREQMIX_SHARED_DATA", raising=False)
    monkeypatch.delenv("FREQMIX_ORL", raising=False)
    with pytest.raises(FreqmixError, match="FreqMixUp-ORL32-v0 needs the ORL faces: set FREQMIX_ORL"):
        gym.make("FreqMixUp-ORL32-v0")
    monkeypatch.setenv("FREQMIX_ORL", str(shared_data("orl")))
    env = gym.make("FreqMixUp-ORL32-v0")
    obs, info = env.reset(seed=0)
    assert env.unwrapped.train_data.num_identities == 40
    assert env.unwrapped.steps_per_episode == env.spec.max_episode_steps == 6  # the spec says what an episode is
    assert env.unwrapped.train_data.images.shape[1:] == (1, 32, 32) and set(info) == set(INFO_KEYS)
    env.close()
