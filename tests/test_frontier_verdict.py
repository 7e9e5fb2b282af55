"""The frontier's verdicts and staircase on hand-made rows (figures from the ORL frontier in docs/rewards.md)."""
from freqmix.frontier import judge, pareto, verdict


def _row(defense, accuracy, ssim, acc_ci=None, ssim_ci=None):
    low_a, high_a = acc_ci or (accuracy, accuracy)
    low_s, high_s = ssim_ci or (ssim, ssim)
    return {"defense": defense, "mean_k": 3.0, "identification_accuracy": accuracy,
            "identification_accuracy_ci_low": low_a, "identification_accuracy_ci_high": high_a, "ssim": ssim,
            "ssim_ci_low": low_s, "ssim_ci_high": high_s, "recon_id_accuracy": 0.05,
            "recon_id_accuracy_ci_low": 0.0, "recon_id_accuracy_ci_high": 0.1}


FIXED2, FIXED3 = _row("fixed2", 0.930, 0.429), _row("fixed3", 0.887, 0.438)


def test_verdict_reads_the_corners_of_the_intervals():
    # pessimistic (0.82, 0.440) is dominated by fixed2; optimistic (0.90, 0.416) by neither baseline
    assert verdict(_row("a", 0.870, 0.429, (0.82, 0.90), (0.416, 0.440)), [FIXED2, FIXED3]) == "within noise"
    # optimistic (0.74, 0.438) is dominated by fixed2
    assert verdict(_row("b", 0.687, 0.448, (0.63, 0.74), (0.438, 0.457)), [FIXED2, FIXED3]) == "inside"
    # pessimistic (0.95, 0.41) beats both on both axes
    assert verdict(_row("c", 0.96, 0.405, (0.95, 0.97), (0.40, 0.41)), [FIXED2, FIXED3]) == "beyond"


def test_pareto_keeps_the_non_dominated_baselines_by_accuracy():
    private = _row("cosine", 0.80, 0.40)
    assert [r["defense"] for r in pareto([FIXED3, FIXED2, private])] == ["cosine", "fixed2"]


def test_judge_leaves_out_baselines_and_random():
    table = [FIXED2, FIXED3, _row("random", 0.84, 0.434), _row("deployed", 0.70, 0.45, (0.65, 0.75), (0.44, 0.46))]
    assert [(r["defense"], r["verdict"]) for r in judge(table)] == [("deployed", "inside")]
