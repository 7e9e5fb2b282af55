"""``freqmix compare``: train every defense with the same data and budget under N seeds, attack each, and write the
table (``compare.csv``, ``compare.md``, ``compare.json``) with a mean and 95% bootstrap interval per figure, the
privacy–utility picture with error bars (``compare.png``) and the resolved configuration (``config.json``) to
``--out``; each defense's own run folder (with ``privacy.json``) lies beneath (``OUT/DEFENSE``, or
``OUT/DEFENSE/seedS`` with several seeds). Its options: :mod:`freqmix.compare_command`.
"""
from __future__ import annotations

import csv
import json
import math
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from agents.build import resolve_hyperparams
from attacks.budget import AttackBudget
from attacks.exposure import EXPOSURES
from attacks.privacy import RECONSTRUCTION_FIGURES, AttackerKit, exposure_column, prepare_kit
from attacks.registry import ATTACKS
from freqmix.evaluate import evaluate_run
from freqmix.gallery import GALLERY, write_gallery
from freqmix.experiment.assembly import hyperparams_for
from freqmix.experiment.config import TrainConfig
from freqmix.experiment.defenses import defense_of
from freqmix.experiment.launch import run_training
from freqmix.experiment.leakage_decoder import check_leakage_decoder, needs_leakage_decoder
from freqmix.experiment.run_folder import OutputExistsError, claim_output_folder
from freqmix.experiment.task import attack_split
from freqmix.options import refuse_streaming
from freqmix_base.errors import FreqmixError
from freqmix_base.intervals import bootstrap_interval
from freqmix_base.progress_bar import progress_bar
from freqmix_base.seeds import sub_seed
from recognizer.image_files import identity_folder_digest

COLUMNS = ("defense", "identification_accuracy", "verification_accuracy", "psnr", "ssim", "recon_id_accuracy",
           "mia_top1", "mia_top5", "knn_distance", "score_pp", "score_cls", "wall_seconds")
# Beyond the required columns: the black-box attacker's reading, what k the defense actually used, the exposure of
# a face over E linked encodings, and the judge's clean accuracy.
EXPOSURE_COLUMNS = tuple(exposure_column(figure, e) for e in (*EXPOSURES, "best")
                         for figure in ("ssim", "recon_id_accuracy"))
# What a guess that holds nothing scores on each figure (attacks.chance): the same for every defense of a seed.
CHANCE_FIGURES = ("psnr", "ssim", "recon_id_accuracy", "mia_top1", "mia_top5", "knn_distance")
EXTRA_COLUMNS = ("ssim_blackbox", "recon_id_accuracy_blackbox", "mean_k", *EXPOSURE_COLUMNS,
                 "judge_heldout_accuracy", *(f"{figure}_chance" for figure in CHANCE_FIGURES))
# Figures measured per attacked image: their interval resamples images within seeds, the others only seeds.
PER_IMAGE = ("psnr", "ssim", "recon_id_accuracy", "mia_top1", "mia_top5", "knn_distance", *EXPOSURE_COLUMNS)
# Which attack gave each strongest figure, and for a reconstruction figure from which view of the run.
ATTACK_COLUMNS = (*(f"{figure}_attack" for figure in ("psnr", "ssim", "recon_id_accuracy", "mia_top1",
                                                       "mia_top5", "knn_distance")),
                  *(f"{figure}_view" for figure in RECONSTRUCTION_FIGURES))
NUMERIC = tuple(c for c in COLUMNS + EXTRA_COLUMNS if c != "defense")
BEYOND_NOISE = "Two defenses differ beyond noise where their intervals do not overlap."
ONE_SEED_NOTE = ("One seed: the intervals cover the attacked images of one run, not seed noise, which needs at least "
                 "2 seeds (--seeds 2 or more), so no difference between defenses is claimed.")
REFERENCE = "none"
ROW_FILE = "compare_row.json"  # one finished defense/seed run: its fingerprint and table row
COMPARE_FILES = ("config.json", "compare.csv", "compare.md", "compare.json", "compare.png", GALLERY)


def run_compare(base: TrainConfig, defenses: list[str], budget: AttackBudget, out: Path, seeds: int = 1,
                progress: bool = True, device: str = "cpu", resume: bool = False,
                overwrite: bool = False, attacker_folder: str | Path | None = None) -> list[dict[str, Any]]:
    """Train and attack each defense under ``seeds`` seeds (``base.seed``, ``base.seed + 1``, ...); write every
    output file to ``out``; return the table rows (mean, ``_ci_low``, ``_ci_high`` per figure).

    :param base: the shared training configuration (data, recognizer, seed, private_fraction); each defense
        overrides it (``TrainConfig.defended_by``), ``budget.recognizer_epochs`` applies unless ``--steps`` is set;
        its ``--hp`` go to every defense whose agent learns (none to fixed k, random, schedules).
    :param device: where the attacks run (``--device`` of the command: the same as training).
    :param resume: reuse every defense/seed run of ``out`` that finished under the same configuration and budget
        (its ``compare_row.json``), and train and attack only the others.
    :param overwrite: replace the results of an earlier compare in ``out`` (else a non-empty ``out`` is refused).
    :param attacker_folder: an identity folder of more public faces for the decoder attacks (``--attacker-faces``).
    """
    if seeds < 1:
        raise FreqmixError(f"--seeds must be >= 1, not {seeds}")
    refuse_streaming(base)
    check_defense_hyperparams(base, defenses)
    check_leakage_decoders(base, defenses)
    started = time.perf_counter()
    seed_list = [base.seed + i for i in range(seeds)]
    _start(out, base, defenses, budget, seed_list, resume, overwrite)
    data_digest = _data_digest(base.task.data)

    # The reference goes first so that every later privacy.json can carry score_cls.
    order = sorted(defenses, key=lambda name: name != REFERENCE)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in defenses}
    judge_accuracy = []
    line = progress_bar(total=len(seed_list) * len(order), desc="compare", unit="run", disable=not progress)
    for seed in seed_list:
        config = replace(base, seed=seed)
        kit, reference = None, None
        for name in order:
            folder = run_folder(out, name, seed, seeds)
            defense = defense_of(name, seed)
            run_config = config.defended_by(defense, hyperparams_for(base, defense.agent))
            fingerprint = _fingerprint(run_config, budget, attacker_folder)
            row = _finished_row(folder, fingerprint) if resume else None
            if row is None:
                if kit is None:
                    line.set_description(f"compare [seed {seed}: attacker kit]")
                    kit = _attacker_kit(config, budget, progress, device, attacker_folder)
                line.set_description(f"compare [seed {seed}: {name}]")
                # resume: an unfinished run starts again
                row = _defense_row(name, run_config, folder, budget, seed, kit, reference, progress,
                                   overwrite or resume)
                (folder / ROW_FILE).write_text(json.dumps({**fingerprint, "defense": name, "data_digest": data_digest,
                                                           "row": row}))
            if name == REFERENCE:
                reference = row["values"]["identification_accuracy"]
            runs[name].append(row)
            line.update()
        judge_accuracy.append(runs[order[0]][-1]["values"]["judge_heldout_accuracy"])
    line.close()
    table = write_comparison({name: runs[name] for name in defenses}, out, base.task.data, budget.name, seed_list,
                             judge_accuracy, time.perf_counter() - started, runs[order[0]][-1]["private_identities"])
    write_gallery(out / GALLERY, {name: run_folder(out, name, seed_list[0], seeds) for name in defenses}, budget.name,
                  gallery_title(base.task.data, budget.name, seed_list[0]))
    return table


def run_folder(out: Path, defense: str, seed: int, seeds: int) -> Path:
    """Where a comparison in ``out`` of ``seeds`` seeds runs ``defense`` under ``seed``."""
    return out / defense if seeds == 1 else out / defense / f"seed{seed}"


def gallery_title(data: str, budget: str, seed: int) -> str:
    """The gallery's title: what was attacked, how hard, under which seed."""
    return f"{Path(data).name}: the same private faces under every defense (budget {budget}, seed {seed})"


def write_comparison(runs: dict[str, list[dict[str, Any]]], out: Path, data: str, budget_name: str,
                     seeds: list[int], judge_accuracy: list[float], seconds: float,
                     num_identities: int) -> list[dict[str, Any]]:
    """Aggregate each defense's runs (table rows of its seeds, in ``runs``' order) and write ``compare.csv/json/md``
    and ``compare.png`` to ``out``; return the table. The bootstrap of a defense is seeded by the first seed, so a
    comparison gathered from separate processes (:mod:`freqmix.gather`) is the one ``--seeds N`` writes."""
    table = [_aggregate(name, rows, sub_seed(seeds[0], f"compare-{name}")) for name, rows in runs.items()]
    _write_tables(table, out, data, budget_name, seeds, judge_accuracy, seconds, num_identities)
    _plot(table, out / "compare.png")
    return table


def _fingerprint(run_config: TrainConfig, budget: AttackBudget, attacker_folder: str | Path | None) -> dict[str, Any]:
    """What a finished defense/seed run must match for ``--resume`` to reuse it."""
    return {"config": run_config.flat(), "budget": asdict(budget),
            "attacker_faces": None if attacker_folder is None else str(attacker_folder)}


def _data_digest(data: str) -> str | None:
    """The content digest of an identity-folder data set (:func:`recognizer.image_files.identity_folder_digest`),
    by which ``--gather`` tells one data set at two paths from two data sets; None for generated faces."""
    return identity_folder_digest(data) if Path(data).is_dir() else None


def _attacker_kit(config: TrainConfig, budget: AttackBudget, progress: bool, device: str,
                  attacker_folder: str | Path | None) -> AttackerKit:
    """The attacker's faces and fitted priors for one seed, shared by every defense of that seed."""
    data = attack_split(config)
    return prepare_kit(data.train, data.test, data.auxiliary, budget, config.seed, progress, device, attacker_folder)


def check_defense_hyperparams(base: TrainConfig, defenses: list[str]) -> None:
    """FreqmixError naming the agent when a defense's learning agent does not take a key of ``--hp``:
    before hours of training, not after."""
    for name in defenses:
        agent = defense_of(name, base.seed).agent
        if hyperparams_for(base, agent):
            resolve_hyperparams(agent, base.agent.env_id, base.agent.hyperparams)


def check_leakage_decoders(base: TrainConfig, defenses: list[str]) -> None:
    """FreqmixError when a defense whose reward needs a decoder trained before the run (``reinforce-decoder``) cannot
    have one under ``base``: before the other defenses train, not after."""
    for name in defenses:
        config = base.defended_by(defense_of(name, base.seed))
        if needs_leakage_decoder(config):
            check_leakage_decoder(config, config.training.nproc)


def _start(out: Path, base: TrainConfig, defenses: list[str], budget: AttackBudget, seed_list: list[int],
           resume: bool, overwrite: bool) -> None:
    """Claim ``out`` (unless resuming) and write the comparison's ``config.json``."""
    if not resume:
        if (out / "config.json").exists() and not overwrite:
            raise OutputExistsError(f"{out} already holds a comparison; --resume continues it, --overwrite replaces "
                                    "it, or choose another --out")
        claim_output_folder(out, overwrite, COMPARE_FILES)
    out.mkdir(parents=True, exist_ok=True)
    overrides = {name: asdict(defense_of(name, base.seed)) for name in defenses}
    (out / "config.json").write_text(json.dumps(
        {"defenses": defenses, "seeds": seed_list, "budget": asdict(budget), "base": asdict(base),
         "defense_overrides": overrides}, indent=2))


def _defense_row(name: str, run_config: TrainConfig, folder: Path, budget: AttackBudget, seed: int,
                 kit: AttackerKit, reference: float | None, progress: bool, overwrite: bool) -> dict[str, Any]:
    """Train and attack one defense under one seed; its table row (the reference run is its own reference)."""
    began = time.perf_counter()
    metrics = run_training(run_config, folder, progress=progress, overwrite=overwrite)
    results = evaluate_run(folder, budget, seed, kit=kit, reference_accuracy=reference, progress=progress)
    if name == REFERENCE:
        reference = metrics["identification_accuracy"]
    return {**run_row(metrics, results, reference, kit.judge_accuracy, time.perf_counter() - began),
            "private_identities": kit.private.num_identities}


def _finished_row(folder: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The row a finished run of ``folder`` left under the same configuration and budget, else None (the
    configuration is compared in its flat form, the form older versions saved too)."""
    try:
        saved = json.loads((folder / ROW_FILE).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(saved.get("config"), dict):  # read as a run's config, so that older flat forms still match
        saved["config"] = TrainConfig.from_json(json.dumps(saved["config"])).flat()
    # A JSON round trip makes tuples lists, so the fingerprint is compared in the form it was saved in.
    expected = json.loads(json.dumps(fingerprint))
    return saved["row"] if json.loads(json.dumps({k: saved.get(k) for k in fingerprint})) == expected else None


def run_row(metrics: dict[str, Any], results: dict[str, Any], reference: float | None, judge_accuracy: float,
             seconds: float) -> dict[str, Any]:
    """One defense under one seed: every figure's value, and per-image values where the figure has them."""
    s, recon = results["summary"], results["reconstruction"]
    black = [recon[name] for name in recon if name in ATTACKS and ATTACKS[name].black_box]
    values = {"identification_accuracy": metrics["identification_accuracy"],
              "verification_accuracy": metrics["verification_accuracy"],
              **{figure: s[figure] for figure in ("psnr", "ssim", "recon_id_accuracy", "mia_top1", "mia_top5",
                                                 "knn_distance")},
              "score_pp": results["scores"]["score_pp"],
              "score_cls": metrics["identification_accuracy"] / reference if reference else None,
              "wall_seconds": seconds,
              "ssim_blackbox": max(b["ssim_best"] for b in black),
              "recon_id_accuracy_blackbox": max(b["id_accuracy_best"] for b in black),
              "mean_k": metrics["mean_k"], "judge_heldout_accuracy": judge_accuracy,
              **{f"{figure}_chance": results["chance"].get(figure) for figure in CHANCE_FIGURES},
              **{exposure_column(figure, e): results["exposure"][str(e)][figure]
                 for e in (*EXPOSURES, "best") for figure in ("ssim", "recon_id_accuracy")}}
    return {"values": values, "per_image": {f: np.asarray(results["per_image"][f], dtype=float).tolist()
                                            for f in PER_IMAGE},
            "attacks": {c: s[c] for c in ATTACK_COLUMNS}}


def _aggregate(name: str, runs: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """The table row of one defense: per figure the mean over seeds and its 95% bootstrap interval (over images
    and seeds for per-image figures, over seeds for the others: none from one seed); per attack column the most
    frequent attack."""
    row: dict[str, Any] = {"defense": name}
    for figure in NUMERIC:
        if any(run["values"].get(figure) is None for run in runs):  # rows of older versions lack the chance
            row[figure] = row[f"{figure}_ci_low"] = row[f"{figure}_ci_high"] = None
            continue
        if len(runs) < 2 and figure not in PER_IMAGE:  # one value: no interval to give
            row[figure] = runs[0]["values"][figure]
            row[f"{figure}_ci_low"] = row[f"{figure}_ci_high"] = None
            continue
        groups = ([run["per_image"][figure] for run in runs] if figure in PER_IMAGE
                  else [[run["values"][figure]] for run in runs])
        mean, low, high = bootstrap_interval(groups, seed=seed)
        # A per-image mean equals the run's figure; the mean over seeds is the figure's mean either way.
        row[figure] = sum(run["values"][figure] for run in runs) / len(runs) if figure not in PER_IMAGE else mean
        row[f"{figure}_ci_low"], row[f"{figure}_ci_high"] = low, high
    for column in ATTACK_COLUMNS:
        row[column] = Counter(run["attacks"][column] for run in runs).most_common(1)[0][0]
    return row


def table_columns() -> tuple[str, ...]:
    """Columns of ``compare.csv``: the required ones, the extra ones, the strongest attacks, then each figure's
    interval."""
    return (COLUMNS + EXTRA_COLUMNS + ATTACK_COLUMNS
            + tuple(f"{f}_{bound}" for f in NUMERIC for bound in ("ci_low", "ci_high")))


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def _cell(row: dict[str, Any], figure: str) -> str:
    low, high = row.get(f"{figure}_ci_low"), row.get(f"{figure}_ci_high")
    if low is None or figure == "wall_seconds":
        return _fmt(row[figure])
    return f"{_fmt(row[figure])} [{_fmt(low)}, {_fmt(high)}]"


def _write_tables(table: list[dict[str, Any]], out: Path, data: str, budget_name: str, seeds: list[int],
                 judge_accuracy: list[float], seconds: float, num_identities: int) -> None:
    """``compare.csv``, ``compare.json`` and ``compare.md`` of ``table`` (rows of :func:`_aggregate`) in ``out``;
    ``seconds``: the comparison's time, ``judge_accuracy``: the judge's clean held-out accuracy per seed."""
    with open(out / "compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=table_columns())
        writer.writeheader()
        writer.writerows(table)
    (out / "compare.json").write_text(json.dumps(
        {"rows": table, "wall_seconds": seconds, "seeds": seeds, "judge_heldout_accuracy": judge_accuracy,
         "private_identities": num_identities}, indent=2))
    judged = ", ".join(f"{a:.3f}" for a in judge_accuracy)
    shown = ("identification_accuracy", "ssim", "psnr", "recon_id_accuracy", "mia_top1", "mia_top5",
             "knn_distance", *(exposure_column("recon_id_accuracy", e) for e in (*EXPOSURES, "best")), "score_pp",
             "score_cls",
             "mean_k", "wall_seconds")
    lines = [f"# freqmix compare: {data}", "",
             f"budget `{budget_name}`, seeds {', '.join(map(str, seeds))}, {num_identities} private identities "
             f"(chance: identity {1 / num_identities:.3f}, top-5 {min(5, num_identities) / num_identities:.3f}), "
             f"pretrained judge (dlib ResNet) clean held-out accuracy {judged}, total {seconds / 60:.1f} min.", "",
             "Each cell: mean [95% bootstrap interval over attacked images and seeds]. Attack columns are the "
             "strongest attack run (analytic inverse, residual CGAN or decoder, white- or black-box; the stronger "
             "model-inversion prior), named in compare.csv's *_attack columns; a reconstruction figure is the "
             "strongest over the observed epoch (batches separated whole by the batch observer's attacks) and the "
             "run's linked epochs (compare.csv's *_view); exposure_*_E{E}: a face's exposures over E epochs linked "
             "and averaged; exposure_*_best: its best single exposure of 20 (an oracle pick, an upper bound). "
             "score_pp: higher = more private; score_cls: accuracy relative to `none`. "
             + (BEYOND_NOISE if len(seeds) > 1 else ONE_SEED_NOTE) + " See docs/privacy_metrics.md.",
             "", "| defense | " + " | ".join(shown) + " |", "|" + "---|" * (len(shown) + 1)]
    lines += ["| " + row["defense"] + " | " + " | ".join(_cell(row, c) for c in shown) + " |" for row in table]
    (out / "compare.md").write_text("\n".join(lines) + "\n")


def error_bars(rows: list[dict[str, Any]], key: str) -> list[list[float]]:
    """Matplotlib's ``[below, above]`` distances of each row's ``key`` to its interval; 0 for a figure without one
    (one seed), rather than a zero-width interval."""
    return [[0.0 if r[f"{key}_ci_low"] is None else r[key] - r[f"{key}_ci_low"] for r in rows],
            [0.0 if r[f"{key}_ci_high"] is None else r[f"{key}_ci_high"] - r[key] for r in rows]]


def _plot(table: list[dict[str, Any]], path: Path) -> None:
    """Two panels against identification accuracy: score_pp and the strongest SSIM, with 95% intervals as error
    bars on both axes; the fixed-k curve as a line."""
    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2)
    x = "identification_accuracy"
    fixed = sorted((row for row in table if row["defense"].startswith("fixed")), key=lambda r: r["defense"])
    for ax, key, label in ((axes[0], "score_pp", "score_pp (higher = more private)"),
                           (axes[1], "ssim", "strongest-attack SSIM (lower = more private)")):
        rows = [r for r in table if r[key] is not None and not math.isnan(r[key])]
        for group, style, color in (([r for r in fixed if r in rows], "o-", "tab:blue"),
                                    ([r for r in rows if r not in fixed and r["defense"] != "adaptive"], "s",
                                     "tab:gray"),
                                    ([r for r in rows if r["defense"] == "adaptive"], "*", "tab:red")):
            if not group:
                continue
            ax.errorbar([r[x] for r in group], [r[key] for r in group], xerr=error_bars(group, x),
                        yerr=error_bars(group, key), fmt=style, color=color, capsize=2, markersize=6,
                        label="fixed k" if style == "o-" else None)
            for r in group:
                ax.annotate(r["defense"], (r[x], r[key]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("identification accuracy (utility)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if fixed:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
