"""How a privacy result reads on the terminal (``freqmix evaluate`` and ``freqmix compare``): every figure with the
direction in which it leaks more and its chance level (what a guess that holds nothing scores,
:mod:`attacks.chance`), the attacks of each family (the reconstructions, then model inversion) in the order of
:data:`attacks.registry.ATTACKS` (analytic inverse, CGAN, decoder, batch unmixing, each white-box before black-box),
the strongest attack named without putting an equal black-box attacker ahead of the white-box one, and the files
written. Everything is driven by the results and the registry: a newly registered attack is listed where it is
registered.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attacks.privacy import INVERSION_FIGURES, RECONSTRUCTION_FIGURES, exposure_view
from attacks.registry import ATTACKS

UP, DOWN = "↑", "↓"
DIRECTIONS = f"{UP} leaks more: higher is worse for privacy; {DOWN} leaks more: lower is worse"


@dataclass(frozen=True)
class FigureMeaning:
    """How to read one figure: its label, the direction in which it leaks more (:data:`UP` or :data:`DOWN`) and the
    digits it is shown with."""

    label: str
    leaks_more: str
    digits: int = 3

    @property
    def heading(self) -> str:
        return f"{self.label} {self.leaks_more}"

    def show(self, value: float | None) -> str:
        return "–" if value is None else f"{value:.{self.digits}f}"


FIGURES: dict[str, FigureMeaning] = {
    "ssim": FigureMeaning("SSIM", UP),
    "psnr": FigureMeaning("PSNR dB", UP, 2),
    "recon_id_accuracy": FigureMeaning("recon-id", UP),
    "mia_top1": FigureMeaning("MIA top-1", UP),
    "mia_top5": FigureMeaning("MIA top-5", UP),
    "knn_distance": FigureMeaning("KNN distance", DOWN),
}
FAMILY_FIGURES = {"reconstruction": RECONSTRUCTION_FIGURES, "inversion": INVERSION_FIGURES}


def figure_meaning(figure: str) -> FigureMeaning:
    """The meaning of ``figure``; a figure this table does not know yet is shown under its own name, with "?" for
    its direction."""
    return FIGURES.get(figure, FigureMeaning(figure, "?"))


def attack_label(name: str) -> str:
    """An attack's label (its registered one, or its name if it is no longer registered)."""
    return ATTACKS.get(name).label if name in ATTACKS.names() else name


def _black_box(name: str) -> bool:
    return name in ATTACKS.names() and ATTACKS.get(name).black_box


def in_threat_model_order(names: list[str]) -> list[str]:
    """``names`` in the registry's order (unregistered names last, as given)."""
    order = {name: i for i, name in enumerate(ATTACKS.names())}
    return sorted(names, key=lambda name: order.get(name, len(order)))


def strongest_label(results: dict[str, Any], figure: str) -> str:
    """Which attack reached ``figure``'s summary value: every attack that reached it exactly, white-box first (a
    black-box attacker that recovered the key ties the white-box one), and the view when it is not the observed
    epoch."""
    summary = results["summary"]
    family = next((f for f, figures in FAMILY_FIGURES.items() if figure in figures), None)
    named = summary.get(f"{figure}_attack")
    tied = [named] if named else []
    if family is not None:
        attacks = {name: scores for name, scores in results.get(family, {}).items() if isinstance(scores, dict)}
        key = FAMILY_FIGURES[family][figure]
        equal = [name for name in in_threat_model_order(list(attacks)) if attacks[name].get(key) == summary[figure]]
        if named in equal:
            tied = sorted(equal, key=_black_box)  # stable: the registry's order within each side
    label = " = ".join(attack_label(name) for name in tied) or "–"
    view = summary.get(f"{figure}_view")
    return f"{label} ({view})" if view else label


def summary_figures(results: dict[str, Any]) -> list[str]:
    """The summary's figures in :data:`FIGURES`' order, then any others it holds."""
    summary = results["summary"]
    figures = [name for name, value in summary.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]
    return [f for f in FIGURES if f in figures] + [f for f in figures if f not in FIGURES]


def evaluate_report(results: dict[str, Any], written: list[tuple[str, str]]) -> str:
    """The lines ``freqmix evaluate`` prints for ``results``; ``written``: (path, what it holds) of each file."""
    chance, intervals, summary = results.get("chance", {}), results.get("intervals", {}), results["summary"]
    lines = [f"strongest attack per figure ({DIRECTIONS}; chance: a guess that holds nothing)",
             f"  {'figure':<16}{'value':>8}  {'95% interval':<18}{'leaks more':<12}{'chance':>8}  strongest attack"]
    for figure in summary_figures(results):
        meaning = figure_meaning(figure)
        low, high = intervals.get(figure, (None, None))
        interval = f"[{meaning.show(low)}, {meaning.show(high)}]" if low is not None else ""
        lines.append(f"  {meaning.label:<16}{meaning.show(summary[figure]):>8}  {interval:<18}{meaning.leaks_more:<12}"
                     f"{meaning.show(chance.get(figure)):>8}  {strongest_label(results, figure)}")
    lines += ["", "each attack, reconstructions then model inversion, each white-box before black-box "
                  "(docs/threat_model.md)"]
    for family, figures in FAMILY_FIGURES.items():
        attacks = {name: s for name, s in results.get(family, {}).items() if isinstance(s, dict)}
        if not attacks:
            continue
        width = max(len(attack_label(name)) for name in attacks) + 2
        shown = [f for f in FIGURES if f in figures] + [f for f in figures if f not in FIGURES]
        lines.append("  " + " " * width + "".join(f"{figure_meaning(f).heading:>16}" for f in shown))
        for name in in_threat_model_order(list(attacks)):
            cells = "".join(f"{figure_meaning(f).show(attacks[name].get(figures[f])):>16}" for f in shown)
            lines.append(f"  {attack_label(name):<{width}}{cells}")
    lines += _exposure_lines(results)
    if "key_recovered_fraction" in results:
        lines.append(f"black-box key recovery: {results['key_recovered_fraction']:.0%} of the channels in their true "
                     "slot (scored against the truth, which the attacker never reads)")
    scores, judge = results.get("scores", {}), results.get("judge", {})
    if "score_pp" in scores:
        lines.append(f"score_pp {scores['score_pp']:.3f} ({UP} more private, 0..1; docs/privacy_metrics.md)")
    if judge:
        lines.append(f"judge {judge.get('name')}: clean held-out accuracy {judge.get('heldout_accuracy', 0):.3f}"
                     + (f", second opinion {results['evaluator']['heldout_accuracy']:.3f}"
                        if "evaluator" in results else ""))
    count = results.get("torch_threads")
    threads = f", {count} torch thread{'s' if count != 1 else ''}" if count else ""
    lines.append(f"budget {results.get('budget')}, seed {results.get('seed')}{threads}, "
                 f"{results.get('wall_seconds', 0):.1f} s (the figures are reproducible for a seed and thread count)")
    lines += ["wrote:"] + [f"  {path}  {what}" for path, what in written]
    return "\n".join(lines)


def _exposure_lines(results: dict[str, Any]) -> list[str]:
    """The exposure over the run's epochs, and why it can read lower than the headline."""
    exposure = results.get("exposure")
    if not exposure:
        return []
    attack = results.get("exposure_attack")
    lines = [f"over the run's epochs ({attack_label(attack) if attack else 'the strongest white-box attack'} on "
             "each epoch): each private face is scored by what is recovered of it,",
             "while the figures above score each observed tensor by the face of its mix it shows best, so one epoch "
             "can read lower here"]
    for key, figures in exposure.items():
        name = "best single epoch (picked by the true face)" if key == "best" else exposure_view(key)
        cells = "  ".join(f"{figure_meaning(f).label} {figure_meaning(f).show(v)}" for f, v in figures.items())
        lines.append(f"  {name:<44}{cells}")
    return lines


def compare_report(table: list[dict[str, Any]], chance: dict[str, float | None]) -> list[str]:
    """The lines ``freqmix compare`` prints for its table: a heading with each figure's direction, the chance row,
    then one row per defense."""
    shown = [f for f in ("ssim", "recon_id_accuracy", "mia_top5") if f in FIGURES]
    head = f"{'defense':>14}  {'accuracy':>8}" + "".join(f"  {figure_meaning(f).heading:<25}" for f in shown)
    lines = [DIRECTIONS, head + f"  {'score_pp ' + UP + ' more private':<12}",
             f"{'chance':>14}  {'':>8}" + "".join(f"  {figure_meaning(f).show(chance.get(f)):<25}" for f in shown)]
    for row in table:
        cells = ""
        for f in shown:
            meaning = figure_meaning(f)
            low, high = row.get(f"{f}_ci_low"), row.get(f"{f}_ci_high")
            interval = f" [{meaning.show(low)}, {meaning.show(high)}]" if low is not None else ""
            cells += f"  {meaning.show(row.get(f)) + interval:<25}"
        score = row.get("score_pp")
        lines.append(f"{row['defense']:>14}  {_show(row.get('identification_accuracy')):>8}{cells}  {_show(score)}")
    return lines


def _show(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
