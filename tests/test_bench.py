"""``freqmix bench`` at tiny sizes: the JSON has every figure, each a positive finite ratio with its spread. No
timing is asserted (a test machine's speed says nothing about the code)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from freqmix.benchmarks.dct_vs_cv2 import cv2_block_dct, measure
from freqmix.benchmarks.timing import Timings, interleaved, ratio
from freqmix.cli import main
from mixup_env.frequency import FrequencyTransform

FIGURES = {"env_step_over_plain", "env_episodes_over_plain", "dct_speedup_vs_cv2", "dct_over_copy",
           "leakage_over_step", "decoder_leakage_over_step", "probe_over_step"}


def _positive_finite(value: float) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def test_bench_writes_every_figure_inside_out(tmp_path, monkeypatch, capsys):
    out = tmp_path / "bench"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    command = ["bench", "--out", str(out), "--rounds", "2", "--image-size", "16", "--train-steps", "2"]
    assert main(command) == 2  # a non-empty --out is refused before anything is measured or written
    assert "--overwrite" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert main([*command, "--overwrite"]) == 0
    result = json.loads((out / "bench.json").read_text())

    assert set(result["figures"]) == FIGURES
    for name, fig in result["figures"].items():
        for key in ("value", "q25", "q75", "wall_value", "numerator_ms", "denominator_ms"):
            assert _positive_finite(fig[key]), (name, key, fig[key])
        assert fig["q25"] <= fig["value"] <= fig["q75"] and fig["rounds"] == 2 and fig["what"]
        assert fig["met"] in (True, False, None) and (fig["met"] is None) == (not fig["goal"])
    train = result["train"]
    assert _positive_finite(train["images_per_second"]) and _positive_finite(train["peak_rss_mib"])
    assert train["steps"] == 2 and "freqmix train" in train["command"]
    assert result["settings"]["torch_threads"] == 1 and result["settings"]["image_size"] == 16

    printed = capsys.readouterr().out
    assert all(name in printed for name in FIGURES) and "peak RSS" in printed
    assert (out / "notes.txt").read_text() == "keep me"
    assert not list(cwd.iterdir())  # nothing written outside --out


def test_bench_rejects_bad_settings(tmp_path, capsys):
    assert main(["bench", "--out", str(tmp_path), "--rounds", "0", "--no-train"]) == 2
    assert capsys.readouterr().err.startswith("freqmix: error: need --rounds >= 1")


def test_interleaved_rotates_the_order_and_ratio_reads_goals():
    calls = []
    timings = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3,
                          calls={"a": 1, "b": 2})
    assert calls == ["a", "b", "b", "b", "b", "a", "a", "b", "b"]
    assert all(len(t) == 3 for t in (*timings.cpu.values(), *timings.wall.values()))

    fixed = Timings(cpu={"x": np.array([2.0, 3.0, 4.0]), "y": np.array([1.0, 1.0, 1.0])},
                    wall={"x": np.array([2.0, 2.0, 2.0]), "y": np.array([1.0, 1.0, 1.0])})
    figure = ratio(fixed, "x", "y", "<= 2.5", what="test")
    assert (figure.value, figure.q25, figure.q75, figure.wall_value, figure.met) == (3.0, 2.5, 3.5, 2.0, False)
    assert ratio(fixed, "x", "y", ">= 2.5", what="test").met is True
    assert ratio(fixed, "x", "y", "", what="test").met is None


def test_the_cv2_loop_computes_our_coefficients():
    images = torch.randint(0, 256, (2, 1, 16, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert np.abs(cv2_block_dct(images.numpy()) - FrequencyTransform(1)(images).numpy()).max() < 1e-3


@pytest.mark.parametrize("bad", [torch.zeros(1, 3, 8, 8, dtype=torch.uint8), torch.zeros(1, 1, 8, 8)])
def test_the_cv2_figure_takes_gray_uint8_only(bad):
    with pytest.raises(ValueError, match="gray uint8"):
        measure(bad, rounds=1)
