"""Gymnasium conventions: ``render_mode`` through ``gymnasium.make``, a useful ``rgb_array`` (the batch as the analytic
inverse shows it, before and after mixing), ``info`` values of one shape every step, and ``gymnasium.make_vec`` with
two envs that pick different k in the same step (sync, and async in a child process so that a hang fails)."""
import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch

import mixup_env  # noqa: F401  (registers the env ids)
from freqmix_base.errors import FreqmixError
from mixup_env.env import WEIGHT_FILL, FreqMixUpEnv
from recognizer.data import synthetic_faces

SIZE = 32
ENV_OPTIONS = dict(data="synthetic", image_size=SIZE, batch_size=8, embedding_dim=16, steps_per_episode=50)


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=SIZE, seed=0)


def test_make_accepts_both_render_modes():
    assert FreqMixUpEnv.metadata["render_modes"] == ["rgb_array"]
    for mode in (None, "rgb_array"):
        env = gym.make("FreqMixUp-v0", render_mode=mode, **ENV_OPTIONS)
        env.reset(seed=0)
        frame = env.render()
        assert env.unwrapped.render_mode == mode
        assert frame is None if mode is None else (frame.shape == (2 * SIZE, 8 * SIZE, 3) and frame.dtype == np.uint8)
        env.close()
    with pytest.raises(FreqmixError, match="render_mode 'human' is not supported"):
        FreqMixUpEnv("synthetic", image_size=SIZE, render_mode="human")


def test_rgb_array_shows_the_batch_and_its_mix_as_the_inverse_sees_them(faces):
    # All channels and no augmentation: the transform is linear and exactly invertible, so the bottom row must be
    # the weighted sum of the top row's faces with the step's own partners and weights.
    env = FreqMixUpEnv(faces, render_mode="rgb_array", batch_size=8, embedding_dim=16, augment_shift=0.0)
    captured = []
    mix = env.mixup
    env.mixup = lambda *args: captured.append((args[1], mix(*args))) or captured[-1][1]
    env.reset(seed=0)
    env.step(3)  # k = 5
    frame = torch.from_numpy(env.render()).float()
    source, mixed = captured[-1]
    assert frame.shape == (2 * SIZE, 8 * SIZE, 3)
    assert torch.equal(frame[..., 0], frame[..., 1]) and torch.equal(frame[..., 0], frame[..., 2])  # gray faces
    top, bottom = frame[:SIZE, :, 0], frame[SIZE:, :, 0]
    images = env.transform.inverse(source.double())[:, 0]  # (8, H, W), the drawn faces
    train = faces.images[:, 0].float()
    for i in range(8):
        tile = top[:, i * SIZE:(i + 1) * SIZE]
        assert (tile - images[i].clamp(0, 255).float()).abs().max() <= 1
        assert (train - tile).abs().amax(dim=(1, 2)).min() <= 1  # one of the training faces, as drawn
        expected = sum(w * images[int(p)] for p, w in zip(mixed.partners[i], mixed.weights[i].double()))
        assert (bottom[:, i * SIZE:(i + 1) * SIZE] - expected.clamp(0, 255).float()).abs().max() <= 1
    assert (bottom - top).abs().mean() > 5  # k = 5: the mix is not the face


def test_every_info_value_keeps_its_shape_and_dtype(faces):
    env = FreqMixUpEnv(faces, batch_size=8, embedding_dim=16, k_choices=(1, 2, 3, 4, 5, 6), probe_every=2)
    env.reset(seed=0)
    signatures = set()
    for action in (0, 5, 2, 1, 4, 3):
        info = env.step(action)[4]
        signatures.add(tuple((key, np.shape(value), np.asarray(value).dtype.kind) for key, value in info.items()))
        k = info["k"]
        assert info["weights"].shape == (8, 6) and info["weights"].dtype == np.float32
        assert np.allclose(info["weights"][:, :k].sum(axis=1), 1) and np.all(info["weights"][:, k:] == WEIGHT_FILL)
    assert len(signatures) == 1, signatures


def test_sync_vector_env_with_different_k_per_env():
    envs = gym.make_vec("FreqMixUp-v0", num_envs=2, vectorization_mode="sync", **ENV_OPTIONS)
    envs.reset(seed=0)
    for actions, ks in (([0, 4], [2, 6]), ([3, 1], [5, 3])):
        obs, rewards, terminated, truncated, infos = envs.step(np.array(actions))
        assert infos["k"].tolist() == ks and infos["weights"].shape == (2, 8, 6)
        assert np.all(infos["weights"][0, :, ks[0]:] == WEIGHT_FILL) and np.isfinite(rewards).all()
    envs.close()


ASYNC_SCRIPT = textwrap.dedent("""
    import gymnasium as gym, numpy as np
    import mixup_env
    envs = gym.make_vec("FreqMixUp-v0", num_envs=2, vectorization_mode="async", **{options!r})
    envs.reset(seed=0)
    for actions in ([0, 4], [4, 0]):
        infos = envs.step(np.array(actions))[4]
        print(infos["k"].tolist(), infos["weights"].shape)
    envs.close()
    print("closed")
""")


def test_async_vector_env_with_different_k_per_env_steps_and_closes():
    script = ASYNC_SCRIPT.format(options=ENV_OPTIONS)
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("the async vector env hung (no exit within 240 s)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:3] == ["[2, 6] (2, 8, 6)", "[6, 2] (2, 8, 6)", "closed"], done.stdout
