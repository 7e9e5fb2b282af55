"""The bad-input catalogue (docs/bad_inputs.md), one test per row.

A user error ends with exit code 2, exactly one ``freqmix: error:`` line on stderr, no traceback, and every file
that was already in ``--out`` still there (runs that train into it pass ``--overwrite``, which replaces only
freqmix's own files there). A handled input (corrupt files, odd sizes, gray/colour mix) trains, with
at most one ``freqmix: warning:`` line that says what was done.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from freqmix.cli import main
from freqmix_base.errors import CheckpointError
from mixup_env.env import FreqMixUpEnv
from mixup_env.spaces import ActionError
from recognizer.data import synthetic_faces
from recognizer.trainer import Recognizer

# Tiny runs: 16-pixel faces, two recognizer steps, batches of 6 (the largest default k).
FAST = ["--image-size", "16", "--steps", "2", "--batch-size", "6", "--no-progress"]
SENTINELS = {"notes.txt": "written before the run", "metrics.json": '{"from": "an earlier run"}'}



@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("FREQMIX_DEBUG", raising=False)  # it would turn every error line into a traceback


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output folder that already holds files a failed run must not lose."""
    folder = tmp_path / "out"
    folder.mkdir()
    for name, text in SENTINELS.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def stderr_warnings(monkeypatch):
    # pytest records warnings instead of printing them; print them as Python does outside pytest, through the
    # format the CLI installs, so that the test sees the user's stderr.
    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", show)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # Python's own filters, as a user's process has them
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.simplefilter("ignore", category)
        yield


def freqmix(args: list[str], capsys) -> tuple[int, str]:  # noqa: ANN001
    """Run ``freqmix ARGS`` in this process: (exit code, stderr)."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    return code, capsys.readouterr().err


def lines(stderr: str, kind: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"freqmix: {kind}:")]


def assert_user_error(code: int, stderr: str, *fragments: str) -> str:
    """Exit 2, one error line containing ``fragments``, no traceback; returns the line."""
    errors = lines(stderr, "error")
    assert code == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def assert_kept(out: Path) -> None:
    for name, text in SENTINELS.items():
        assert (out / name).read_text() == text


def assert_trained(code: int, stderr: str, out: Path, warning: str | None) -> None:
    """Exit 0, a finished run in ``out``, and exactly the expected warning line (or none)."""
    assert code == 0 and not lines(stderr, "error") and "Traceback" not in stderr, stderr
    found = lines(stderr, "warning")
    if warning is None:
        assert not found, stderr
    else:
        assert len(found) == 1 and warning in found[0], stderr
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2
    assert (out / "notes.txt").read_text() == SENTINELS["notes.txt"]


def test_missing_path(out, capsys):
    assert_user_error(*freqmix(["train", "--data", str(out.parent / "nowhere"), "--out", str(out), *FAST], capsys),
                      "does not exist")
    assert_kept(out)


def test_empty_folder(out, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert_user_error(*freqmix(["train", "--data", str(tmp_path / "empty"), "--out", str(out), *FAST], capsys),
                      "contains no identity folders with images")
    assert_kept(out)


def test_files_that_are_not_images(out, tmp_path, capsys):
    for person in ("ann", "bob"):
        (tmp_path / "docs" / person).mkdir(parents=True)
        (tmp_path / "docs" / person / "notes.txt").write_text("not a face")
    error = assert_user_error(*freqmix(["train", "--data", str(tmp_path / "docs"), "--out", str(out), *FAST], capsys),
                              "contains no identity folders with images")
    assert ".png" in error  # says which files count as images
    assert_kept(out)


def test_corrupt_images_are_skipped_with_one_counted_warning(out, image_folder, stderr_warnings, capsys):
    root = image_folder({"ann": 4, "bob": 4, "cy": 4})
    (root / "ann" / "broken.png").write_bytes(b"not a png")
    (root / "bob" / "broken.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    assert_trained(*freqmix(["train", "--data", str(root), "--out", str(out), "--overwrite", *FAST], capsys), out,
                   warning="skipped 2 unreadable image file(s)")


def test_corrupt_images_end_to_end_in_a_subprocess(out, image_folder):
    # The console a user sees: a real process, real stderr, the installed warning format.
    root = image_folder({"ann": 4, "bob": 4, "cy": 4})
    (root / "cy" / "broken.png").write_bytes(b"\x89PNG cut short")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("FREQMIX_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "freqmix.cli", "train", "--data", str(root), "--out", str(out),
                           "--overwrite", *FAST],
                          capture_output=True, text=True, env=env, timeout=300)
    assert_trained(done.returncode, done.stderr, out, warning="skipped 1 unreadable image file(s)")


def test_one_image_per_identity(out, image_folder, capsys):
    root = image_folder({"ann": 1, "bob": 1, "cy": 1})
    assert_user_error(*freqmix(["train", "--data", str(root), "--out", str(out), *FAST], capsys),
                      "has 1 readable image(s)", "--drop-small-identities")
    assert_kept(out)


def test_one_identity_only(out, image_folder, capsys):
    root = image_folder({"ann": 8})
    assert_user_error(*freqmix(["train", "--data", str(root), "--out", str(out), *FAST], capsys),
                      "needs at least 2")
    assert_kept(out)


def test_tiny_images(out, image_folder, capsys):
    root = image_folder({"ann": 3, "bob": 3}, size=(4, 4))
    assert_user_error(*freqmix(["train", "--data", str(root), "--out", str(out), *FAST], capsys),
                      "is 4×4 pixels", "at least 8×8")
    assert_kept(out)


def test_odd_sizes_are_resized(out, image_folder, stderr_warnings, capsys):
    root = image_folder({"ann": 4, "bob": 4, "cy": 4}, size=(37, 53))
    assert_trained(*freqmix(["train", "--data", str(root), "--out", str(out), "--overwrite", *FAST], capsys), out,
                   warning=None)


def test_gray_and_color_mix_is_promoted_to_rgb_with_one_warning(out, image_folder, stderr_warnings, capsys):
    image_folder({"ann": 4, "bob": 4}, channels=1)
    root = image_folder({"cy": 4}, channels=3)
    assert_trained(*freqmix(["train", "--data", str(root), "--out", str(out), "--overwrite", *FAST], capsys), out,
                   warning="converted 8 single-channel image(s)")
    assert json.loads((out / "config.json").read_text())["task"]["data"] == str(root)


@pytest.mark.parametrize("option, value, fragment", [
    ("--agent", "genius", "unknown agent 'genius'"),
    ("--channels", "mid", "invalid choice: 'mid'"),
    ("--seed", "-1", "--seed must be a non-negative integer"),
])
def test_unknown_train_names(option, value, fragment, out, capsys):
    assert_user_error(*freqmix(["train", option, value, "--out", str(out), *FAST], capsys), fragment)
    assert_kept(out)


def test_unknown_defense_name(out, capsys):
    assert_user_error(*freqmix(["compare", "--defenses", "none,cloak", "--out", str(out), "--steps", "2"], capsys),
                      "unknown defense 'cloak'")
    assert_kept(out)


@pytest.mark.parametrize("k, fragment", [("0", "k must be an integer >= 1"), ("-3", "k must be an integer >= 1"),
                                         ("7", "needs batch_size >= 7")])
def test_out_of_range_k(k, fragment, out, image_folder, capsys):
    root = image_folder({"ann": 4, "bob": 4, "cy": 4})
    assert_user_error(*freqmix(["train", "--data", str(root), "--k", k, "--out", str(out), *FAST], capsys), fragment)
    assert_kept(out)


@pytest.mark.parametrize("action", [5, -1, 1.5, np.nan, [0, 1], "2", None, True])
def test_invalid_actions_passed_to_step(action):
    env = FreqMixUpEnv(synthetic_faces(num_identities=3, images_per_identity=4, image_size=16), batch_size=6,
                       embedding_dim=16)
    env.reset(seed=0)
    with pytest.raises(ActionError) as caught:
        env.step(action)
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)
    # A rejected action changes nothing: the game goes on from where it was.
    assert env.recognizer.step == 0
    assert env.step(0)[4]["step"] == 1


def test_nan_loss(out, image_folder, capsys):
    root = image_folder({"ann": 4, "bob": 4, "cy": 4})
    assert_user_error(*freqmix(["train", "--data", str(root), "--lr", "1e10", "--out", str(out), "--overwrite", *FAST],
                               capsys),
                      "non-finite recognition loss", "lower --lr")
    # What the run wrote before it stopped stays, for the user to inspect.
    assert (out / "config.json").is_file() and len((out / "steps.csv").read_text().splitlines()) >= 2
    assert (out / "notes.txt").read_text() == SENTINELS["notes.txt"]


@pytest.fixture
def finished_run(tmp_path, image_folder, capsys) -> Path:
    """A finished ``freqmix train --private-fraction 0.5`` run, as ``freqmix evaluate`` takes."""
    root = image_folder({name: 4 for name in ("ann", "bob", "cy", "dee", "eve", "fay")})
    run = tmp_path / "run"
    assert main(["train", "--data", str(root), "--private-fraction", "0.5", "--out", str(run), *FAST]) == 0
    capsys.readouterr()
    return run


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_checkpoint_from_another_configuration(finished_run, capsys):
    saved = Recognizer.load(finished_run / "recognizer.pt")
    other = Recognizer(saved.config["in_channels"] - 1, saved.config["num_classes"], embedding_dim=16)
    with pytest.raises(CheckpointError, match="from another configuration: in_channels="):
        other.load_state_dict(saved.state_dict())
    other.save(finished_run / "recognizer.pt")
    before = _contents(finished_run)
    assert_user_error(*freqmix(["evaluate", "--run", str(finished_run), "--budget", "smoke"], capsys),
                      "does not match config.json")
    assert _contents(finished_run) == before


def test_truncated_checkpoint_file(finished_run, capsys):
    checkpoint = finished_run / "recognizer.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or not a torch file") as caught:
        Recognizer.load(checkpoint)
    assert isinstance(caught.value, ValueError)
    before = _contents(finished_run)
    assert_user_error(*freqmix(["evaluate", "--run", str(finished_run), "--budget", "smoke"], capsys),
                      "cannot read checkpoint")
    assert _contents(finished_run) == before


@pytest.mark.parametrize("option, value, fragment", [
    ("--device", "tpu9", "unknown device 'tpu9'"),
    ("--lr", "nan", "finite lr > 0"),
    ("--key", "-1", "shuffle key must be a non-negative integer"),
    ("--probe-every", "-1", "probe_every must be >= 0"),
    ("--utility-weight", "nan", "finite utility_weight"),
    ("--steps", "many", "invalid int value: 'many'"),
    ("--augment-step", "0", "augment_step must be a whole number of pixels >= 1"),
    ("--augment-shift", "0.6", "augment_shift must be a fraction of the image side in [0, 0.5)"),
    ("--k-min", "7", "invalid choice: 7"),
])
def test_bad_numbers_and_devices(option, value, fragment, out, image_folder, capsys):
    root = image_folder({"ann": 4, "bob": 4, "cy": 4})
    # The option comes last, so it wins over FAST's (argparse keeps the last value).
    reward = ["--reward", "loss"] if option == "--utility-weight" else []  # the loss reward's weight
    assert_user_error(*freqmix(["train", "--data", str(root), "--out", str(out), *FAST, *reward, option, value],
                               capsys), fragment)
    assert_kept(out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_device_without_cuda(out, image_folder, capsys):
    root = image_folder({"ann": 4, "bob": 4, "cy": 4})
    assert_user_error(*freqmix(["train", "--data", str(root), "--device", "cuda", "--out", str(out), *FAST], capsys),
                      "device 'cuda' is not available", "use cpu")
    assert_kept(out)
