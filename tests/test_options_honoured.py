"""Options are honoured or refused, never silently ignored: compare's protection flags (each defense sets its own),
--k with an agent that chooses k, --hp of ablate, compare and frontier (passed to every learning agent, refused
before training when one does not take it), and a note for k outside the
paper's 2..6."""
import json

import pytest

from freqmix.cli import main

TINY = ["--image-size", "32", "--batch-size", "8", "--embedding-dim", "32", "--no-progress", "--steps", "2"]


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("FREQMIX_DEBUG", raising=False)


def error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("freqmix: error: ") and "\n" not in err, err
    return err


def test_compare_refuses_protection_flags_that_the_defenses_override(tmp_path, capsys):
    out = tmp_path / "compare"
    argv = ["compare", *TINY, "--defenses", "none,fixed2", "--private-fraction", "0.1", "--out", str(out)]
    assert main([*argv, "--channels", "high", "--key", "7", "--n-high", "20"]) == 2
    err = error_line(capsys)
    assert "--channels, --n-high, --key" in err and "--defenses" in err
    with pytest.raises(SystemExit) as usage:  # compare has no --k (and no longer reads it as an abbreviated --key)
        main([*argv, "--k", "4"])
    assert usage.value.code == 2 and "unrecognized option --k; see freqmix compare --help" in error_line(capsys)
    assert main([*argv, "--k-min", "1"]) == 2  # each defense's agent chooses among its own k
    assert "--k-min" in error_line(capsys)
    assert main([*argv, "--channels", "all"]) == 2  # a default typed out is still a flag compare would ignore
    assert "--channels" in error_line(capsys)
    assert main([*argv, "--data-workers", "4"]) == 2  # --stream's option, hidden from compare's --help
    assert "--data-workers" in error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("command", [["compare", "--defenses", "none", "--private-fraction", "0.1"],
                                     ["ablate", "--agents", "fixed,random", "--seeds", "1"]])
def test_stream_is_refused_where_held_out_accuracy_is_scored(tmp_path, capsys, command):
    out = tmp_path / "out"
    assert main([*command, *TINY, "--stream", "--out", str(out)]) == 2
    assert "--stream trains on every image" in error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("agent", ["reinforce", "random"])
def test_k_with_an_agent_that_chooses_k_is_refused(tmp_path, capsys, agent):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--agent", agent, "--k", "4", "--out", str(out)]) == 2
    assert f"--agent {agent} chooses k itself" in error_line(capsys)
    assert not out.exists()


def test_ablate_passes_hp_to_every_learning_agent(tmp_path):
    out = tmp_path / "ablation"
    assert main(["ablate", *TINY, "--agents", "reinforce,fixed", "--seeds", "1", "--hp", "n_steps=2",
                 "--hp", "learning_rate=0.01", "--out", str(out)]) == 0
    learned = json.loads((out / "reinforce" / "seed0" / "config.json").read_text())["agent"]["hyperparams"]
    fixed = json.loads((out / "fixed" / "seed0" / "config.json").read_text())["agent"]["hyperparams"]
    assert learned == {"n_steps": 2, "learning_rate": 0.01} and fixed == {}


def test_ablate_refuses_an_unknown_hp_before_training(tmp_path, capsys):
    out = tmp_path / "ablation"
    assert main(["ablate", *TINY, "--agents", "reinforce,fixed", "--seeds", "1", "--hp", "n_stepz=2",
                 "--out", str(out)]) == 2
    assert "unknown hyperparameter 'n_stepz'" in error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("command, agent", [(["compare", "--defenses", "fixed2,ppo-constrained"], "PPO"),
                                            (["frontier", "--seeds", "1"], "PPO")])
def test_compare_and_frontier_refuse_a_hp_a_learning_defense_does_not_take_before_training(tmp_path, capsys,
                                                                                          command, agent):
    out = tmp_path / "out"
    # REINFORCE takes a baseline, PPO does not: the run would fail at its PPO defense, hours in.
    assert main([*command, *TINY, "--hp", "baseline=value", "--out", str(out)]) == 2
    assert f"unknown hyperparameter 'baseline' for {agent}" in error_line(capsys)
    assert not out.exists()


@pytest.mark.parametrize("given, note", [(["--k", "9"], "--k 9 lies outside the paper's range 2..6"),
                                         (["--defense", "ppfr", "--k", "1"], "the masked faces alone")])
def test_k_outside_the_papers_range_gets_a_note(tmp_path, given, note):
    with pytest.warns(UserWarning, match=note) as notes:
        assert main(["train", *TINY, "--batch-size", "10", *given, "--out", str(tmp_path / "run")]) == 0
    assert len([w for w in notes if "paper" in str(w.message)]) == 1


@pytest.mark.parametrize("given", [["--k", "6"], ["--k", "1"], []])  # the default protection flips every sign
def test_k_inside_the_papers_range_or_with_flips_gets_no_note(tmp_path, recwarn, given):
    assert main(["train", *TINY, *given, "--out", str(tmp_path / "run")]) == 0
    assert not [w for w in recwarn if "paper" in str(w.message)]


@pytest.mark.parametrize("extra, message", [
    (["--defense", "none", "--n-high", "20"], "--n-high does nothing unless --channels is 'high'; drop it"),
    (["--weights", "uniform", "--alpha", "0.5"], "--alpha does nothing unless --weights is 'dirichlet'"),
    (["--reward", "loss", "--lambda-lr", "3"], "--lambda-lr does nothing unless --reward is 'constrained'"),
    (["--reward", "loss", "--privacy", "leakage"], "--privacy does nothing unless --reward is 'constrained'"),
    (["--reward", "loss", "--ascent", "plain"], "--ascent does nothing unless --reward is 'constrained'"),
    (["--reward", "loss", "--lambda-kp", "1"], "--lambda-kp does nothing unless --reward is 'constrained'"),
    (["--reward", "loss", "--constraint-start", "0.5"], "--constraint-start does nothing unless --reward is"),
    (["--utility-weight", "1"], "--utility-weight does nothing unless --reward is 'loss'"),
    (["--train-identities", "auxiliary"], "--train-identities does nothing unless --private-fraction is given"),
    (["--data-workers", "4"], "--data-workers does nothing unless --stream is given"),
    (["--pretrain-epochs", "5"], "--pretrain-epochs does nothing unless --pretrain-on is given"),
    (["--pretrain-k", "2"], "--pretrain-k does nothing unless --pretrain-on is given"),
    (["--episodes", "1"], "--episodes does nothing unless --episode is 'run'"),  # a default typed out, too
    (["--agent", "ppo", "--env", "FreqMixUpRecipe-v0", "--weights", "uniform"],
     "--weights does nothing: --agent ppo chooses it for every batch on --env FreqMixUpRecipe-v0"),
    (["--agent", "linear", "--hp", "k=4"], "unknown hyperparameter 'k' for agent 'linear'; it takes none"),
])
def test_train_refuses_an_option_the_others_make_do_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main(["train", *TINY, *extra, "--out", str(out)]) == 2
    assert message in error_line(capsys)
    assert not out.exists()


def test_the_fixed_agent_on_the_recipe_env_takes_the_recipe_fields(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--env", "FreqMixUpRecipe-v0", "--weights", "uniform", "--k", "3",
                 "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["recipe"]["weights"] == "uniform" and saved["agent"]["hyperparams"] == {"k": 3}


@pytest.mark.parametrize("command, message", [
    (["ablate", "--agents", "random,reinforce", "--seeds", "1", "--k", "3"], "--k sets the k of a plain fixed agent"),
    (["ablate", "--agents", "fixed,random", "--seeds", "1", "--hp", "n_steps=2"],
     "--hp reaches the learning agents, and --agents has none"),
    (["compare", "--defenses", "none", "--reward", "loss"], "so it would ignore --reward"),
    (["compare", "--gather", "parts", "--budget", "smoke"], "--gather trains and attacks nothing, so it would ignore "
                                                            "--budget"),
    (["compare", "--gather", "parts", "--resume"], "--gather trains and attacks nothing, so it would ignore --resume"),
    (["frontier", "--no-deployed", "--learn-episodes", "2"], "--learn-episodes sets how long the deployed policy"),
    (["bench", "--no-train", "--train-steps", "5"], "--train-steps sets the freqmix train run that --no-train skips"),
])
def test_commands_refuse_an_option_they_would_ignore(tmp_path, capsys, command, message):
    out = tmp_path / "out"
    assert main([*command, "--out", str(out)]) == 2
    assert message in error_line(capsys)
    assert not out.exists()
