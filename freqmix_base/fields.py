"""Generic field mapping between configuration dataclasses, so no caller re-lists a configuration's fields.

The run's user-facing record (the run configuration: the CLI flags, ``config.json``) is flat; the pieces it
configures own small typed configurations (``Recipe``, ``TransformConfig``, ``RecognizerConfig``, ``EnvConfig``,
``AgentConfig``). :func:`pick` builds one of those from the same-named fields of another object, and
:func:`with_fields` updates a (possibly nested) configuration from flat names, as ``FreqMixUpEnv(**options)`` and
``gymnasium.make(..., batch_size=8)`` pass them. It lives in the base layer, which imports no
project code.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from freqmix_base.errors import FreqmixError

C = TypeVar("C")


class UnknownFieldError(FreqmixError, TypeError):
    """A flat option that no field of the configuration (or of its nested configurations) takes."""


def pick(cls: type[C], source: object, **overrides: Any) -> C:
    """A ``cls`` dataclass whose fields take the same-named attributes of ``source`` (fields ``source`` lacks keep
    their defaults), then ``overrides``."""
    values = {f.name: getattr(source, f.name) for f in dataclasses.fields(cls) if hasattr(source, f.name)}
    return cls(**{**values, **overrides})


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
