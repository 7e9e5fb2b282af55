"""Generic field helpers for configuration dataclasses, so no caller re-lists a configuration's fields.

The pieces own small typed configurations (``Recipe``, ``TransformConfig``, ``RecognizerConfig``, ``EnvConfig``,
``AgentConfig``); the run configuration nests them. :func:`option` declares a field that the command line offers as a
flag (its help and argparse arguments as field metadata), :func:`default_of` reads a field's default without stating
it again, and :func:`with_fields` updates a (possibly nested) configuration from flat names, as
``FreqMixUpEnv(**options)`` and ``gymnasium.make(..., batch_size=8)`` pass them. It lives in the base layer, which
imports no project code.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from freqmix_base.errors import FreqmixError

C = TypeVar("C")


class UnknownFieldError(FreqmixError, TypeError):
    """A flat option that no field of the configuration (or of its nested configurations) takes."""


def option(default: Any = dataclasses.MISSING, help: str = "", *, flat: str | None = None,
           default_factory: Any = dataclasses.MISSING, **argparse_kwargs: Any) -> Any:
    """A configuration field that the command line offers as ``--<flat name>``: ``help`` and the extra argparse
    arguments (``choices``, ``type``, ``action``; ``group`` names a mutually exclusive group) are its flag's;
    ``flat`` renames it in the run's flat namespace (``AgentConfig.name`` is ``--agent``). A field with ``flat`` but
    no ``help`` is addressable by that name without being a flag of its own."""
    metadata = {**({"help": help} if help else {}), **({"flat": flat} if flat else {}), **argparse_kwargs}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of dataclass ``cls`` (a fresh one if it has a factory), so that a record that
    gathers several pieces' fields states none of their defaults again."""
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            if f.default is dataclasses.MISSING:
                raise TypeError(f"{cls.__name__}.{name} has no default")
            return f.default
    raise TypeError(f"{cls.__name__} has no field {name!r}")


def with_fields(config: C, **flat: Any) -> C:
    """``config`` with the flat ``name=value`` options applied: a name is a field of ``config`` itself or of one of
    its dataclass-valued fields (one level down), e.g. ``batch_size`` or ``channels`` (of ``config.transform``).

    :raises UnknownFieldError: for a name that no field takes, listing the names that are.
    """
    top = {f.name for f in dataclasses.fields(config)}
    direct = {name: value for name, value in flat.items() if name in top}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        if name in top:
            continue
        owner = _owner_of(config, name)
        if owner is None:
            raise UnknownFieldError(f"unknown option {name!r} for {type(config).__name__}; it takes "
                                    f"{', '.join(sorted(flat_names(config)))}")
        nested.setdefault(owner, {})[name] = value
    for owner, values in nested.items():
        direct[owner] = dataclasses.replace(direct.get(owner, getattr(config, owner)), **values)
    return dataclasses.replace(config, **direct)


def flat_names(config: object) -> set[str]:
    """Every name :func:`with_fields` accepts for ``config``."""
    names = set()
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        names.add(f.name)
        if dataclasses.is_dataclass(value):
            names.update(g.name for g in dataclasses.fields(value))
    return names


def _owner_of(config: object, name: str) -> str | None:
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and name in {g.name for g in dataclasses.fields(value)}:
            return f.name
    return None
