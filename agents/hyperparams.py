"""RL-Zoo-style hyperparameters: ``<folder>/<algo>.yml`` keyed by env id, overridable by ``KEY=VALUE`` strings.

A file looks like RL Zoo's (``agents/hyperparams_yaml/ppo.yml``)::

    FreqMixUp-v0: &defaults
      policy: MlpPolicy
      n_steps: 16
      learning_rate: lin_1.0e-3     # "lin_X": linear decay from X to 0 over the run
      policy_kwargs: {net_arch: [32]}
    FreqMixUpRecipe-v0:
      <<: *defaults

Unlike RL Zoo, ``policy_kwargs`` is a YAML mapping (nothing is ``eval``-ed) and the budget is not a
hyperparameter (``freqmix train --steps`` sets it).
"""
from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any, Iterable

import yaml
from stable_baselines3.common.utils import LinearSchedule

from freqmix_base.errors import FreqmixError

HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams_yaml"
# Keys every SB3 builder understands besides the algorithm's own arguments.
BUILDER_KEYS = ("policy", "policy_kwargs")
# Arguments the registry sets itself (the run's seed, the CPU), never from a file.
RESERVED_KEYS = ("self", "env", "seed", "device", "_init_setup_model")
# RL Zoo's keys that are not algorithm arguments (its budget); the files carry them so that ``rl_zoo3.train -conf``
# reads them, and freqmix drops them (its budget is ``--steps``).
RL_ZOO_ONLY_KEYS = ("n_timesteps",)


def coerce(value: Any) -> Any:
    """Numeric strings (YAML 1.1 reads ``3e-4`` as text) as numbers; everything else as it is."""
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def schedule(value: Any) -> Any:
    """``"lin_X"`` as SB3's linear schedule from X (start of training) to 0 (end); anything else as it is. Applied
    when the algorithm is built, so that configurations keep the plain, JSON-serialisable text."""
    if isinstance(value, str) and value.startswith("lin_"):
        try:
            return LinearSchedule(float(value[4:]), 0.0, 1.0)
        except ValueError:
            raise FreqmixError(f"bad schedule {value!r}; write lin_X with a number X, e.g. lin_3e-4") from None
    return value


def parse_value(text: str) -> Any:
    """A command-line value: a Python literal (``3e-4``, ``True``, ``[64, 64]``, ``{'net_arch': [32]}``), else
    YAML (``true``, ``{net_arch: [32]}``), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return coerce(yaml.safe_load(text))
    except yaml.YAMLError:
        return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["learning_rate=3e-4", "n_steps=16"]`` -> ``{"learning_rate": 0.0003, "n_steps": 16}``.

    :param items: ``KEY=VALUE`` strings; the value is parsed by :func:`parse_value`.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise FreqmixError(f"hyperparameter override {item!r} is not KEY=VALUE (e.g. --hp learning_rate=3e-4)")
        overrides[key.strip()] = parse_value(text.strip())
    return overrides


def load_hyperparams(algo: str, env_id: str, folder: Path = HYPERPARAMS_DIR) -> dict[str, Any]:
    """The hyperparameters of ``algo`` on ``env_id`` from ``folder/<algo>.yml``, values coerced.

    :param algo: file stem, e.g. ``"ppo"``.
    :param env_id: the top-level key, e.g. ``"FreqMixUp-v0"``.
    :param folder: where the YAML files are.
    """
    path = Path(folder) / f"{algo}.yml"
    if not path.is_file():
        raise FreqmixError(f"no hyperparameter file {path}; create it with an entry for {env_id}")
    table = yaml.safe_load(path.read_text()) or {}
    if env_id not in table:
        raise FreqmixError(f"{path} has no entry for env {env_id!r}; it has {', '.join(map(str, table)) or 'none'}")
    return {key: coerce(value) for key, value in (table[env_id] or {}).items() if key not in RL_ZOO_ONLY_KEYS}


def check_hyperparams(algorithm: type, hyperparams: dict[str, Any], extra: Iterable[str] = ()) -> None:
    """ValueError naming the first key that ``algorithm`` does not take (nor :data:`BUILDER_KEYS` or ``extra``).

    :param algorithm: an SB3 algorithm class.
    :param hyperparams: the keys to check.
    :param extra: further keys the caller handles itself.
    """
    accepted = set(inspect.signature(algorithm.__init__).parameters) - set(RESERVED_KEYS)
    accepted |= set(BUILDER_KEYS) | set(extra)
    for key in hyperparams:
        if key not in accepted:
            raise FreqmixError(f"unknown hyperparameter {key!r} for {algorithm.__name__}; "
                               f"choose among {', '.join(sorted(accepted))}")
