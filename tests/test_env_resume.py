"""The env's state_dict continues the game bit-identically and rejects states of other configurations."""
import io

import numpy as np
import pytest
import torch

from mixup_env.env import FreqMixUpEnv
from recognizer.data import synthetic_faces


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(num_identities=6, images_per_identity=6, image_size=32, seed=0)


def _env(faces, **kw):
    return FreqMixUpEnv(faces, batch_size=12, embedding_dim=32, steps_per_episode=4, **kw)


def _roll(env, actions):
    out = []
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(a)
        out.append((reward, obs.copy()))
        if truncated:
            env.reset()
    return out


def _through_disk(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_resumed_env_matches_uninterrupted(faces):
    actions = [0, 3, 1, 4, 2, 2, 0, 1, 3]
    straight = _env(faces)
    straight.reset(seed=4)
    expected = _roll(straight, actions)

    first = _env(faces)
    first.reset(seed=4)
    head = _roll(first, actions[:5])
    resumed = _env(faces)
    resumed.load_state_dict(_through_disk(first.state_dict()))
    assert np.array_equal(resumed.current_observation(), head[-1][1])
    tail = _roll(resumed, actions[5:])
    for (r1, o1), (r2, o2) in zip(expected, head + tail):
        assert r1 == r2 and np.array_equal(o1, o2)


def test_state_of_another_configuration_is_rejected(faces):
    env = _env(faces)
    env.reset(seed=0)
    other = _env(faces, channels="no-dc")
    with pytest.raises(ValueError, match="another configuration"):
        other.load_state_dict(env.state_dict())
    with pytest.raises(ValueError, match="not a FreqMixUpEnv state"):
        other.load_state_dict({"recognizer": {}})


def test_a_resumed_env_reports_the_price_it_stopped_at(faces):
    # A constrained reward whose target cannot be met: λ rises at every probe, and info["lambda"] shows it.
    env = _env(faces, reward="constrained", accuracy_target=1.0, probe_every=1)
    env.reset(seed=1)
    for action in (4, 4, 4):
        *_, info = env.step(action)
    assert info["lambda"] > 0
    resumed = _env(faces, reward="constrained", accuracy_target=1.0, probe_every=1)
    resumed.load_state_dict(_through_disk(env.state_dict()))
    assert resumed._untrained_info()["lambda"] == info["lambda"]
