"""What ``freqmix evaluate`` and ``compare`` print: each figure with its direction and chance, the attacks in the
registry's (the threat model's) order, white-box named before an equal black-box attacker, new attacks absorbed."""
import pytest

from attacks.attack import Attack, no_seconds
from attacks.registry import ATTACKS
from freqmix.privacy_report import FIGURES, compare_report, evaluate_report, strongest_label


def _results(**summary):
    recon = {"analytic_white_box": {"ssim_best": 0.5, "psnr_best": 15.0, "id_accuracy_best": 0.2},
             "analytic_black_box": {"ssim_best": 0.5, "psnr_best": 15.0, "id_accuracy_best": 0.2},
             "decoder_white_box": {"ssim_best": 0.7, "psnr_best": 18.0, "id_accuracy_best": 0.6},
             "decoder_black_box": {"ssim_best": 0.7, "psnr_best": 17.0, "id_accuracy_best": 0.6},
             "attacked_tensors": 40}
    inversion = {"tv_prior": {"top1": 0.1, "top5": 0.3, "knn_distance": 0.5},
                 "generator_prior": {"top1": 0.2, "top5": 0.3, "knn_distance": 0.4}}
    base = {"ssim": 0.7, "ssim_attack": "decoder_black_box", "psnr": 18.0, "psnr_attack": "decoder_white_box",
            "recon_id_accuracy": 0.6, "recon_id_accuracy_attack": "decoder_white_box", "mia_top1": 0.2,
            "mia_top1_attack": "generator_prior", "mia_top5": 0.3, "mia_top5_attack": "tv_prior",
            "knn_distance": 0.4, "knn_distance_attack": "generator_prior", "mia_prior": "tv_prior"}
    return {"summary": {**base, **summary}, "reconstruction": recon, "inversion": inversion,
            "chance": {"ssim": 0.38, "psnr": 16.5, "recon_id_accuracy": 0.05, "mia_top1": 0.05, "mia_top5": 0.25,
                       "knn_distance": 0.45},
            "intervals": {"ssim": [0.68, 0.72]}, "exposure": {"1": {"ssim": 0.6, "recon_id_accuracy": 0.4},
                                                               "best": {"ssim": 0.8, "recon_id_accuracy": 0.9}},
            "exposure_attack": "decoder_white_box", "scores": {"score_pp": 0.4}, "budget": "smoke", "seed": 0,
            "torch_threads": 2, "wall_seconds": 12.0}


def test_a_tie_names_the_white_box_attacker_first_even_if_the_summary_named_the_black_box_one():
    results = _results()
    assert strongest_label(results, "ssim") == "white-box decoder = black-box decoder"
    assert strongest_label(results, "psnr") == "white-box decoder"  # no tie: the black-box decoder is weaker
    assert strongest_label(results, "mia_top5") == "inversion, TV prior = inversion, generator prior"


def test_a_figure_from_linked_epochs_names_its_view():
    results = _results(ssim=0.75, ssim_attack="decoder_white_box", ssim_view="20 linked epochs")
    assert strongest_label(results, "ssim") == "white-box decoder (20 linked epochs)"


def test_every_figure_shows_its_direction_and_chance():
    out = evaluate_report(_results(), [("run/privacy_smoke.json", "every figure"),
                                       ("run/privacy_smoke.png", "the faces")])
    headline = out.split("\n\n")[0].splitlines()[2:]  # the strongest attack per figure
    rows = {line.split()[0]: line for line in headline}
    assert "0.700  [0.680, 0.720]    ↑" in rows["SSIM"] and rows["SSIM"].split()[5] == "0.380"
    assert " ↓ " in rows["KNN"] and "0.450" in rows["KNN"]
    assert "↑ leaks more" in out and "run/privacy_smoke.png  the faces" in out and "2 torch threads" in out
    assert "best single epoch" in out and "1 linked epoch " in out


def test_attacks_are_listed_in_the_registrys_order_and_a_new_one_where_it_is_registered():
    ATTACKS.register("zz_new_attack", Attack("reconstruction", "a new attack", lambda setting: None, no_seconds))
    try:
        results = _results()
        results["reconstruction"] = {"zz_new_attack": {"ssim_best": 0.1, "psnr_best": 9.0, "id_accuracy_best": 0.0},
                                     **results["reconstruction"]}
        out = evaluate_report(results, [])
    finally:
        ATTACKS.unregister("zz_new_attack")
    listed = [line.strip() for line in out.splitlines() if line.startswith("  ") and "  " in line.strip()]
    order = [label for label in ("white-box analytic inverse", "black-box analytic inverse", "white-box decoder",
                                 "black-box decoder", "a new attack") if any(l.startswith(label) for l in listed)]
    positions = [next(i for i, l in enumerate(listed) if l.startswith(label)) for label in order]
    assert order[-1] == "a new attack" and positions == sorted(positions)


def test_compare_prints_directions_and_the_chance_row():
    table = [{"defense": "none", "identification_accuracy": 0.95, "ssim": 1.0, "ssim_ci_low": 1.0,
              "ssim_ci_high": 1.0, "recon_id_accuracy": 0.9, "mia_top5": 0.4, "score_pp": 0.1}]
    lines = compare_report(table, {"ssim": 0.38, "recon_id_accuracy": 0.05, "mia_top5": 0.25})
    assert all(FIGURES[f].heading in lines[1] for f in ("ssim", "recon_id_accuracy", "mia_top5"))
    assert lines[2].split() == ["chance", "0.380", "0.050", "0.250"]
    assert lines[3].split()[:5] == ["none", "0.950", "1.000", "[1.000,", "1.000]"]


@pytest.mark.parametrize("figure", list(FIGURES))
def test_each_figure_has_a_direction(figure):
    assert FIGURES[figure].leaks_more in ("↑", "↓")
