"""The decoder attack: a residual U-Net on top of the analytic inverse, trained on the attacker's faces."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from attacks.attacker_faces import attacker_faces
from attacks.budget import get_budget
from attacks.decoder import ResidualUNet, native_bfloat16, train_decoder
from attacks.metrics import ssim
from attacks.networks import PixelGrid
from attacks.privacy import prepare_kit
from attacks.protection import Protection
from freqmix.experiment.defenses import secret_key
from freqmix_base.errors import FreqmixError
from mixup_env.analytic_inverse import AnalyticInverse
from mixup_env.frequency import FrequencyTransform
from mixup_env.recipe import Recipe
from recognizer.data import load_dataset, synthetic_faces
from recognizer.splits import private_split


@pytest.mark.parametrize("k", [1, 3])
def test_the_untrained_decoder_is_the_analytic_attack(k):
    ds = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    belief = Protection.of(FrequencyTransform(1, "high", 36, key=7), {k: 1.0}, batch_size=8)
    tensors = belief.protect_all(ds.images.float(), ds.labels, np.random.default_rng(1)).tensors
    decoder = train_decoder(belief, ds.images, ds.labels, steps=0, seed=0, widths=(8, 16), progress=False)
    expected = AnalyticInverse.fit(belief.transform, ds.images).reconstruct(tensors)
    assert torch.allclose(decoder.reconstruct(tensors), expected)
    assert [point["step"] for point in decoder.curve] == [0]
    # The mean face of other faces may fill the dropped channels; the untrained decoder is then that analytic attack.
    own = train_decoder(belief, ds.images, ds.labels, steps=0, seed=0, widths=(8, 16), fill_faces=ds.images[:8],
                        progress=False)
    assert torch.allclose(own.reconstruct(tensors), AnalyticInverse.fit(belief.transform, ds.images[:8]).reconstruct(tensors))
    assert not torch.allclose(own.reconstruct(tensors), expected)


def test_a_decoder_needs_two_levels_and_steps_at_least_zero():
    ds = synthetic_faces(num_identities=2, images_per_identity=4, image_size=16, seed=0)
    belief = Protection.of(FrequencyTransform(1), {1: 1.0})
    with pytest.raises(FreqmixError, match="2 levels"):
        train_decoder(belief, ds.images, ds.labels, steps=1, seed=0, widths=(8,), progress=False)
    with pytest.raises(FreqmixError, match="steps"):
        train_decoder(belief, ds.images, ds.labels, steps=-1, seed=0, progress=False)


def test_a_trained_decoder_beats_the_analytic_inverse_on_unseen_orl_faces(shared_data):
    torch.manual_seed(0)
    full = load_dataset(shared_data("orl"), image_size=64, seed=0)
    split = private_split(full, 0.5, seed=0)
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {1: 1.0}, batch_size=16)
    decoder = train_decoder(truth, split.auxiliary.images, split.auxiliary.labels, steps=120, seed=0,
                            batch_size=16, widths=(16, 32, 64), learning_rate=3e-3, progress=False)
    tensors = truth.protect_all(split.train.images.float(), split.train.labels, np.random.default_rng(1)).tensors
    analytic = ssim(decoder.inverse(tensors), split.train.images.float()).mean()
    decoded = ssim(decoder.reconstruct(tensors), split.train.images.float()).mean()
    assert decoded > analytic + 0.02
    # The learning curve's held-out attacker faces improve too.
    assert decoder.curve[-1]["ssim"] > decoder.curve[0]["ssim"] + 0.02


def test_attacker_faces_join_a_folder_at_the_private_size_and_planes(image_folder):
    private = synthetic_faces(num_identities=3, images_per_identity=2, image_size=16, seed=0)
    folder = image_folder({"ann": 2, "bob": 1}, size=(20, 20), channels=3)
    faces = attacker_faces(private, folder)
    assert faces.images.shape == (9, 1, 16, 16)
    assert faces.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4]
    assert faces.names[3:] == ["faces/ann", "faces/bob"]
    assert attacker_faces(private, None) is private


def test_the_pixel_grid_puts_each_2x2_cell_in_channels_and_inverts_exactly():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).view(1, 2, 4, 6) * 2
    grid = PixelGrid(torch.zeros(8), torch.ones(8))
    z = grid.encode(x)
    assert z.shape == (1, 8, 2, 3)
    # Channel p*4 + 2i + j at cell (y, x) holds pixel (2y + i, 2x + j) of plane p.
    assert z[0, 4 + 2 * 1 + 0, 1, 2] == x[0, 1, 3, 4]
    fitted = PixelGrid.fit(torch.rand(5, 2, 8, 8) * 255)
    assert torch.allclose(fitted.decode(fitted.encode(x)), x, atol=1e-4)


def test_decoding_averages_a_face_and_its_mirror_image():
    ds = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    belief = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {1: 1.0}, batch_size=8)
    decoder = train_decoder(belief, ds.images, ds.labels, steps=0, seed=0, widths=(8, 16), progress=False)
    torch.nn.init.normal_(decoder.network.out.weight, std=0.1)  # a decoder that is not the identity
    x = ds.images.float()
    single, mirrored = decoder.network(x), decoder.network(x.flip(3)).flip(3)
    assert not torch.allclose(single, mirrored, atol=1e-3)  # the network alone is not symmetric
    assert torch.allclose(decoder.decode(x.flip(3)), decoder.decode(x).flip(3), atol=1e-3)
    assert torch.allclose(decoder.decode(x), ((single + mirrored) / 2).clamp(0, 255), atol=1e-3)
    # The per-step leakage signal's decoder decodes once, at half the cost.
    assert torch.allclose(replace(decoder, mirrored=False).decode(x), single.clamp(0, 255), atol=1e-3)


def test_the_untrained_residual_unet_returns_its_input_in_colour():
    x = torch.rand(2, 3, 32, 32) * 255
    net = ResidualUNet(PixelGrid.fit(x), (8, 16, 32))
    assert torch.equal(net(x), x)  # zero-initialised last layer


@pytest.mark.skipif(not native_bfloat16(torch.device("cpu")), reason="this CPU has no bfloat16 instructions")
def test_on_a_bfloat16_cpu_the_convolutions_run_in_bfloat16_and_the_output_in_float32():
    x = torch.rand(2, 1, 32, 32) * 255
    net = ResidualUNet(PixelGrid.fit(x), (8, 16))
    torch.nn.init.normal_(net.out.weight, std=0.1)
    seen = []
    net.down[0][0][0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    out = net(x)
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    assert not native_bfloat16(torch.device("cuda")) and not native_bfloat16(torch.device("meta"))


def test_the_kit_refuses_a_missing_attacker_folder_before_training_anything(tmp_path):
    faces = synthetic_faces(num_identities=2, images_per_identity=2, image_size=16, seed=0)
    with pytest.raises(FreqmixError, match="does not exist"):
        prepare_kit(faces, faces, faces, get_budget("full"), 0, progress=False, attacker_folder=tmp_path / "none")


def test_one_decoder_per_belief_and_the_black_box_attacker_holding_the_truth_reuses_it():
    from attacks.attack import AttackSetting
    from attacks.decoder_attacks import (decoder_black_box, decoder_black_box_seconds, decoder_white_box,
                                         decoder_white_box_seconds)
    from attacks.protection import black_box_guess
    from recognizer.splits import split_identities

    faces = synthetic_faces(num_identities=4, images_per_identity=4, image_size=32, seed=0)
    truth = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {1: 1.0}, batch_size=8)
    tiny = get_budget("smoke")
    recovered = Protection.of(FrequencyTransform(1, "high", 36, secret_key(0)), {1: 1.0}, batch_size=8)
    _, aux = split_identities(faces, 0.5, seed=0)

    def setting(belief):
        return AttackSetting(truth, None, belief, belief, aux, aux, None, torch.arange(2), None, tiny, seed=0, shared=shared)

    shared = {}
    assert decoder_black_box_seconds(setting(recovered)) == 0 < decoder_white_box_seconds(setting(recovered))
    white = decoder_white_box(setting(recovered))
    assert decoder_black_box(setting(recovered)) is white and len(shared) == 1
    guessed = black_box_guess(truth, seed=1)  # a wrong key: its own decoder, trained under the guess
    assert decoder_black_box_seconds(setting(guessed)) > 0
    other = decoder_black_box(setting(guessed))
    assert other is not white and other.protection == guessed and len(shared) == 2
    assert decoder_white_box_seconds(setting(guessed)) == 0  # the truth's decoder is shared by the next defense


def test_no_decoder_is_trained_where_the_inverse_is_exact():
    from attacks.attack import AttackSetting
    from attacks.decoder_attacks import decoder_black_box, decoder_white_box, decoder_white_box_seconds

    faces = synthetic_faces(num_identities=2, images_per_identity=4, image_size=32, seed=0)
    none = Protection.of(FrequencyTransform(1), {1: 1.0}, batch_size=8)  # all channels, nothing mixed: `none`
    setting = AttackSetting(none, None, none, none, faces, faces, None, torch.arange(2), None, get_budget("default"),
                            seed=0, shared={})
    assert none.invertible and not Protection.of(FrequencyTransform(1, "no-dc"), {1: 1.0}).invertible
    assert decoder_white_box_seconds(setting) == 0
    exact = decoder_white_box(setting)
    assert isinstance(exact, AnalyticInverse) and decoder_black_box(setting) is exact
    x = faces.images.float()
    assert torch.allclose(exact.reconstruct(none.transform(x)), x, atol=1e-3)


def test_under_a_sign_flipping_belief_the_decoder_reads_magnitudes():
    faces = synthetic_faces(num_identities=2, images_per_identity=4, image_size=32, seed=0)
    flips = Protection.of(FrequencyTransform(1, "high", 36, key=3), {2: 1.0}, Recipe(sign_flip=True), batch_size=8)
    decoder = train_decoder(flips, faces.images, faces.labels, steps=0, seed=0, widths=(8, 16), progress=False)
    tensors = flips.protect(faces.images.float(), faces.labels, np.random.default_rng(0)).x
    assert torch.equal(decoder.reconstruct(tensors), decoder.reconstruct(-tensors))
    assert torch.equal(decoder.inverse(tensors), decoder.analytic.reconstruct(tensors.abs()))
    plain = flips.mapped(lambda recipe: replace(recipe, sign_flip=False))
    assert torch.equal(plain.readable(tensors), tensors)
