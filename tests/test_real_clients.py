"""The env and the command line as other people's code and a newcomer's terminal meet them: async vector envs
with torch's default thread count, reset()'s info, plain progress lines in logs, honest single-seed summaries."""
import os
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
