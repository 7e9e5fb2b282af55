"""Property tests (hypothesis): the action codecs round-trip and reject everything outside their space, for both
action kinds and any k choices; frequency MixUp keeps its invariants; the block DCT equals its definition."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mixup_env.frequency import FrequencyTransform, block_dct, dct_matrix
from mixup_env.masking import INSTAHIDE_MAX_WEIGHT, FrequencyMixUp
from mixup_env.recipe import WEIGHT_SCHEMES, Recipe, RecipeError
from mixup_env.spaces import ACTION_KINDS, DROP_LEVELS, WEIGHT_OPTIONS, ActionCodec, ActionError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
K_CHOICES = st.lists(st.integers(1, 64), min_size=1, max_size=8, unique=True).map(lambda ks: tuple(sorted(ks)))
DEFAULTS = st.builds(Recipe, k=st.just(2), weights=st.sampled_from(WEIGHT_SCHEMES), alpha=st.floats(0.1, 10),
                     sign_flip=st.booleans(), drop=st.sampled_from(DROP_LEVELS))


def _valid_action(codec: ActionCodec, data: st.DataObject):
    if codec.kind == "k":
        return data.draw(st.integers(0, len(codec.k_choices) - 1))
    return np.array([data.draw(st.integers(0, int(n) - 1)) for n in codec.space.nvec])


@SETTINGS
@given(kind=st.sampled_from(ACTION_KINDS), k_choices=K_CHOICES, default=DEFAULTS, data=st.data())
def test_every_action_decodes_and_encodes_back(kind, k_choices, default, data):
    codec = ActionCodec(kind, k_choices, default)
    action = _valid_action(codec, data)
    recipe = codec.decode(action)
    assert recipe.k in k_choices
    assert np.array_equal(codec.encode(recipe), action)
    # The same action as floats of integers, or as numpy scalars, means the same recipe.
    assert codec.decode(np.asarray(action, dtype=np.float64)) == recipe
    if kind == "k":
        assert codec.decode(np.int64(action)) == recipe
        assert replace(recipe, k=default.k) == default  # only k comes from the action


@SETTINGS
@given(kind=st.sampled_from(ACTION_KINDS), k_choices=K_CHOICES, default=DEFAULTS, data=st.data())
def test_every_expressible_recipe_encodes_and_decodes_back(kind, k_choices, default, data):
    codec = ActionCodec(kind, k_choices, default)
    k = data.draw(st.sampled_from(k_choices))
    if kind == "k":
        recipe = replace(default, k=k)
    else:
        scheme, alpha = data.draw(st.sampled_from(WEIGHT_OPTIONS))
        recipe = replace(default, k=k, weights=scheme, alpha=alpha, sign_flip=data.draw(st.booleans()),
                         drop=data.draw(st.sampled_from(DROP_LEVELS)))
    assert codec.decode(codec.encode(recipe)) == recipe


def _bad_k_actions(n: int) -> st.SearchStrategy:
    return st.one_of(
        st.integers(max_value=-1), st.integers(min_value=n),  # outside the space
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not float(f).is_integer()),
        st.lists(st.integers(0, n - 1), min_size=2, max_size=4),  # several values for one choice
        st.just([]), st.text(max_size=3), st.none(), st.booleans(),
    )


def _bad_recipe_actions(nvec: np.ndarray) -> st.SearchStrategy:
    size = len(nvec)

    @st.composite
    def one_out_of_range(draw):
        action = [draw(st.integers(0, int(n) - 1)) for n in nvec]
        i = draw(st.integers(0, size - 1))
        action[i] = draw(st.one_of(st.integers(max_value=-1), st.integers(min_value=int(nvec[i]))))
        return action

    return st.one_of(
        one_out_of_range(),
        st.lists(st.integers(0, 1), min_size=0, max_size=8).filter(lambda a: len(a) != size),  # wrong length
        st.lists(st.floats(0.1, 0.9), min_size=size, max_size=size),  # not integers
        st.integers(0, 1), st.none(), st.text(max_size=3),
    )


@SETTINGS
@given(kind=st.sampled_from(ACTION_KINDS), k_choices=K_CHOICES, data=st.data())
def test_actions_outside_the_space_are_rejected_in_one_line(kind, k_choices, data):
    codec = ActionCodec(kind, k_choices)
    strategy = _bad_k_actions(len(k_choices)) if kind == "k" else _bad_recipe_actions(codec.space.nvec)
    action = data.draw(strategy)
    with pytest.raises(ActionError) as caught:
        codec.decode(action)
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)


@SETTINGS
@given(kind=st.sampled_from(ACTION_KINDS), k_choices=st.one_of(
    st.just(()),
    st.lists(st.integers(-5, 0), min_size=1, max_size=3).map(lambda ks: tuple(sorted(set(ks)))),  # k < 1
    st.lists(st.integers(1, 9), min_size=2, max_size=5).filter(lambda ks: list(ks) != sorted(set(ks))),
))
def test_bad_k_choices_are_rejected(kind, k_choices):
    with pytest.raises(ActionError):
        ActionCodec(kind, k_choices)


@st.composite
def _mix_case(draw):
    n = draw(st.integers(1, 10))
    return dict(n=n, k=draw(st.integers(1, n)), scheme=draw(st.sampled_from(WEIGHT_SCHEMES)),
                alpha=draw(st.floats(0.05, 20)), classes=draw(st.integers(1, 5)), channels=draw(st.integers(1, 6)),
                seed=draw(st.integers(0, 2**32 - 1)))


def _mix(case: dict, **recipe_fields) -> tuple:
    g = torch.Generator().manual_seed(case["seed"] % 2**31)
    x = torch.randn(case["n"], case["channels"], 2, 3, generator=g)
    labels = torch.randint(0, case["classes"], (case["n"],), generator=g)
    recipe = Recipe(k=case["k"], weights=case["scheme"], alpha=case["alpha"], **recipe_fields)
    out = FrequencyMixUp(case["classes"])(recipe, x, labels, np.random.default_rng(case["seed"]))
    return x, labels, out


@SETTINGS
@given(case=_mix_case())
def test_mix_invariants(case):
    x, labels, out = _mix(case)
    n, k = case["n"], case["k"]
    p, w = out.partners, out.weights.double()
    assert p.shape == w.shape == (n, k) and torch.equal(p[:, 0], torch.arange(n))
    assert all(len(set(row.tolist())) == k for row in p) and int(p.min()) >= 0 and int(p.max()) < n
    assert (w >= 0).all() and torch.allclose(w.sum(1), torch.ones(n, dtype=torch.float64), atol=1e-5)
    if case["scheme"] == "instahide" and k > 1:
        assert float(w.max()) <= INSTAHIDE_MAX_WEIGHT + 1e-6
    expected = (w[:, :, None, None, None] * x.double()[p]).sum(1)
    assert torch.allclose(out.x.double(), expected, atol=1e-5)
    soft = torch.zeros(n, case["classes"], dtype=torch.float64).scatter_add_(1, labels[p], w)
    assert torch.allclose(out.soft_labels.double(), soft, atol=1e-6)
    # Same generator state -> the same mix, bit for bit.
    again = _mix(case)[2]
    assert torch.equal(again.x, out.x) and torch.equal(again.partners, out.partners)


@SETTINGS
@given(case=_mix_case(), drop=st.sampled_from(DROP_LEVELS[1:]))
def test_sign_flip_and_drop_only_change_signs_and_zero_whole_channels(case, drop):
    _, _, plain = _mix(case)
    _, _, flipped = _mix(case, sign_flip=True)
    assert torch.equal(flipped.x.abs(), plain.x.abs()) and torch.equal(flipped.weights, plain.weights)
    _, _, dropped = _mix(case, drop=drop)
    zeroed = (dropped.x == 0).flatten(2).all(2) & ~(plain.x == 0).flatten(2).all(2)
    assert (zeroed.sum(1) == int(round(drop * case["channels"]))).all()
    kept = ~(dropped.x == 0).flatten(2).all(2)
    assert torch.equal(dropped.x[kept], plain.x[kept])


@SETTINGS
@given(n=st.integers(1, 6), extra=st.integers(1, 4), seed=st.integers(0, 1000))
def test_k_above_the_batch_is_a_recipe_error(n, extra, seed):
    with pytest.raises(RecipeError, match="needs a batch of at least"):
        FrequencyMixUp(3)(Recipe(k=n + extra), torch.zeros(n, 2, 1, 1), torch.zeros(n, dtype=torch.long),
                          np.random.default_rng(seed))


@SETTINGS
@given(n=st.integers(0, 3), planes=st.integers(1, 3), hb=st.integers(1, 4), wb=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1))
def test_block_dct_is_the_stride_8_basis_convolution(n, planes, hb, wb, seed):
    x = torch.rand(n, planes, 8 * hb, 8 * wb, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    c = dct_matrix()
    basis = torch.einsum("ua,vb->uvab", c, c).reshape(64, 1, 8, 8)
    expected = F.conv2d(x.reshape(n * planes, 1, 8 * hb, 8 * wb), basis, stride=8).reshape(n, planes * 64, hb, wb)
    assert torch.allclose(block_dct(x * 255), expected * 255, atol=1e-9)


@SETTINGS
@given(n=st.integers(1, 3), channels=st.sampled_from([1, 3]), hb=st.integers(1, 3), wb=st.integers(1, 3),
       selection=st.sampled_from(["all", "no-dc", "high"]), key=st.one_of(st.none(), st.integers(0, 99)),
       seed=st.integers(0, 2**31 - 1))
def test_uint8_images_give_the_coefficients_of_their_float_values(n, channels, hb, wb, selection, key, seed):
    images = torch.randint(0, 256, (n, channels, 8 * hb, 8 * wb), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(seed))
    transform = FrequencyTransform(channels, selection, key=key)
    fast, reference = transform(images), transform(images.double())
    assume(fast.numel())
    assert fast.dtype == torch.float32 and fast.is_contiguous()
    assert torch.allclose(fast.double(), reference, atol=2e-3)
