"""``freqmix compare --gather``: one comparison from defense/seed runs that finished in other processes.

A comparison splits into independent runs, one per defense and seed, so it spreads over the processes of a GPU
machine or the nodes of a cluster: ``freqmix compare --defenses D --seeds 1 --seed S --out runs/D_sS`` on each.
Every finished run leaves its ``compare_row.json`` (its configuration, budget and table row); gathering reads them
from any folders, checks that they belong to one comparison (one data set, told by its folder's name and content
wherever it lies; one budget and attacker's faces; each defense and seed once), and aggregates them exactly as one
``compare --seeds N`` aggregates its own runs (the same bootstrap under the same seed), so the tables agree number
for number. A run evaluated again since (``freqmix evaluate --overwrite`` under the row's budget, e.g. once an
attack was added) is gathered as its latest evaluation reads. ``score_cls`` needs the ``none`` run of the
same process, so rows of defenses run apart from it carry none.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from freqmix.compare import COMPARE_FILES, ROW_FILE, gallery_title, run_row, write_comparison
from freqmix.evaluate import privacy_paths
from freqmix.experiment.defenses import DEFENSES
from freqmix.gallery import GALLERY, write_gallery
from freqmix.experiment.run_folder import claim_output_folder
from freqmix_base.errors import FreqmixError

_SEED_FOLDER = re.compile(r"seed-?\d+")


def gather_compare(folders: list[Path], out: Path, overwrite: bool = False,
                   defenses: list[str] | None = None) -> tuple[list[dict[str, Any]], list[int]]:
    """Aggregate every ``compare_row.json`` under ``folders`` into ``out``'s compare files; return the table rows
    and the seeds found.

    :param defenses: keep only these, in this order (default: every defense found, in ``--defenses``' order).
    """
    found = _read_rows(folders)
    for key in ("budget", "attacker_faces", "data"):
        values = {json.dumps(_shared(saved, key), sort_keys=True): _shown(saved, key) for saved in found.values()}
        if len(values) > 1:
            raise FreqmixError(f"the runs differ in {key} ({' vs '.join(sorted(set(values.values())))}); gather the "
                               "runs of one comparison")
    _check_data_digests(found)
    present = [name for name in DEFENSES.names() if any(defense == name for defense, _ in found)]
    chosen = defenses if defenses is not None else present
    missing = [name for name in chosen if name not in present]
    if missing:
        raise FreqmixError(f"no finished run of {', '.join(missing)} under {', '.join(map(str, folders))}")
    seeds = sorted({seed for _, seed in found})
    claim_output_folder(out, overwrite, COMPARE_FILES)
    out.mkdir(parents=True, exist_ok=True)
    first = next(iter(found.values()))
    judge = [next(saved["row"]["values"]["judge_heldout_accuracy"] for (_, s), saved in found.items() if s == seed)
             for seed in seeds]
    seconds = sum(saved["row"]["values"]["wall_seconds"] for saved in found.values())
    runs = {name: [found[name, seed]["row"] for seed in seeds if (name, seed) in found] for name in chosen}
    table = write_comparison(runs, out, first["config"]["data"], first["budget"]["name"], seeds, judge, seconds,
                             first["row"]["private_identities"])
    first_seed = {name: Path(found[name, seeds[0]]["path"]).parent for name in chosen if (name, seeds[0]) in found}
    write_gallery(out / GALLERY, first_seed, first["budget"]["name"],
                  gallery_title(first["config"]["data"], first["budget"]["name"], seeds[0]))
    (out / "config.json").write_text(json.dumps(
        {"gathered_from": [str(f) for f in folders], "defenses": chosen, "seeds": seeds, "budget": first["budget"],
         "runs": {f"{name} seed {seed}": saved["path"] for (name, seed), saved in found.items()}}, indent=2))
    return table, seeds


def _shared(saved: dict[str, Any], key: str) -> Any:
    """What every gathered run must share: its ``key`` (budget, attacker's faces or data set). Folders are told
    apart by name, not path, so that runs made on other machines gather (the data set's content digest is checked
    apart, see :func:`_check_data_digests`)."""
    if key == "budget":
        return saved["budget"]
    folder = saved["config"]["data"] if key == "data" else saved.get(key)
    return None if folder is None else Path(folder).name


def _shown(saved: dict[str, Any], key: str) -> str:
    value = _shared(saved, key)
    return str(value["name"] if key == "budget" else value)


def _check_data_digests(found: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Refuse runs whose data sets share a name but not their content (rows of versions before the digest carry
    none, and are told apart by name alone)."""
    paths = {saved["data_digest"]: saved["config"]["data"] for saved in found.values() if saved.get("data_digest")}
    if len(paths) > 1:
        raise FreqmixError(f"the runs differ in data (the folders {' and '.join(sorted(set(paths.values())))} hold "
                           "different faces); gather the runs of one comparison")


def _read_rows(folders: list[Path]) -> dict[tuple[str, int], dict[str, Any]]:
    """Every finished run under ``folders``: ``{(defense, seed): its compare_row.json, with "path"}``."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for folder in folders:
        if not folder.is_dir():
            raise FreqmixError(f"--gather {folder} is not a folder")
        for path in sorted(folder.rglob(ROW_FILE)):
            try:
                saved = json.loads(path.read_text())
                key = (_defense_of(path, saved), int(saved["config"]["seed"]))
            except (OSError, ValueError, KeyError, TypeError):
                raise FreqmixError(f"{path} is not a compare row this version can read") from None
            if key in found:
                raise FreqmixError(f"{key[0]} seed {key[1]} finished twice ({found[key]['path']} and {path}); "
                                   "gather each run once")
            found[key] = {**saved, "row": _current_row(path.parent, saved), "path": str(path)}
    if not found:
        raise FreqmixError(f"no finished defense/seed run ({ROW_FILE}) under {', '.join(map(str, folders))}")
    return found


def _current_row(run: Path, saved: dict[str, Any]) -> dict[str, Any]:
    """The run's row as its latest evaluation under the row's budget reads (``freqmix evaluate --overwrite`` after
    the comparison, e.g. once an attack was added): its figures rebuilt from ``privacy*.json`` and ``metrics.json``,
    the comparison's own (the reference accuracy of ``score_cls``, the judge, the time) kept."""
    row = saved["row"]
    try:
        results_path = privacy_paths(run, saved["budget"]["name"]).results
    except (KeyError, TypeError):  # rows of older versions name no budget
        return row
    if not results_path.is_file() or not (run / "metrics.json").is_file():
        return row
    values = row["values"]
    current = run_row(json.loads((run / "metrics.json").read_text()), json.loads(results_path.read_text()), None,
                      values["judge_heldout_accuracy"], values["wall_seconds"])
    current["values"]["score_cls"] = values["score_cls"]  # of the training, which an evaluation does not change
    return {**row, **current}


def _defense_of(path: Path, saved: dict[str, Any]) -> str:
    """The defense of a row: saved in it, or (rows of older versions) the folder compare ran it in:
    ``OUT/<defense>/`` with one seed, ``OUT/<defense>/seed<S>/`` with several."""
    name = saved.get("defense") or (path.parent.parent.name if _SEED_FOLDER.fullmatch(path.parent.name)
                                    else path.parent.name)
    if name not in DEFENSES.names():
        raise FreqmixError(f"cannot tell which defense {path} belongs to (its folder {name!r} is no defense)")
    return name
