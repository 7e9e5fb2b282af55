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
from typing import Any, Callable, Iterable, TypeVar

from freqmix_base.errors import FreqmixError

C = TypeVar("C")


#: ``needs=(name, GIVEN)``: the field matters once field ``name`` is set at all (not None, not False).
GIVEN = "given"


class UnknownFieldError(FreqmixError, TypeError):
    """A flat option that no field of the configuration (or of its nested configurations) takes."""


class UnusedOptionError(FreqmixError):
    """An option given that does nothing as the other options stand (e.g. ``--n-high`` without ``--channels
    high``)."""


def option(default: Any = dataclasses.MISSING, help: str = "", *, flat: str | None = None,
           needs: tuple[str, Any] | None = None, default_factory: Any = dataclasses.MISSING,
           **argparse_kwargs: Any) -> Any:
    """A configuration field that the command line offers as ``--<flat name>``: ``help`` and the extra argparse
    arguments (``choices``, ``type``, ``action``; ``group`` names a mutually exclusive group) are its flag's;
    ``flat`` renames it in the run's flat namespace (``AgentConfig.name`` is ``--agent``). A field with ``flat`` but
    no ``help`` is addressable by that name without being a flag of its own. ``needs=(name, value)``: the field does
    something only while field ``name`` of the same configuration is ``value`` (one of them, for a tuple; set at all,
    for :data:`GIVEN`), and :func:`refuse_unused` refuses it otherwise."""
    metadata = {**({"help": help} if help else {}), **({"flat": flat} if flat else {}),
                **({"needs": needs} if needs else {}), **argparse_kwargs}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def unused_fields(config: object) -> dict[str, tuple[str, Any]]:
    """The fields of ``config`` and of its nested configurations (one level down, as :func:`with_fields` reaches
    them) that do nothing as their configuration stands: name -> the ``needs`` it lacks."""
    unused = {}
    for piece in (config, *(getattr(config, f.name) for f in dataclasses.fields(config)
                            if dataclasses.is_dataclass(getattr(config, f.name)))):
        for f in dataclasses.fields(piece):
            if "needs" in f.metadata and not _holds(piece, *f.metadata["needs"]):
                unused[f.name] = f.metadata["needs"]
    return unused


def refuse_unused(config: object, given: Iterable[str], spell: Callable[[str], str] = str) -> None:
    """UnusedOptionError for the first name in ``given`` that does nothing in ``config`` (:func:`unused_fields`),
    saying what it needs; ``spell`` writes a field's name as the caller's user typed it (``--n-high``)."""
    unused = unused_fields(config)
    for name in given:
        if name in unused:
            other, value = unused[name]
            wanted = ("given" if value == GIVEN else f"{value!r}" if not isinstance(value, tuple)
                      else "one of " + ", ".join(map(repr, value)))
            raise UnusedOptionError(f"{spell(name)} does nothing unless {spell(other)} is {wanted}; drop it")


def _holds(piece: object, name: str, value: Any) -> bool:
    current = getattr(piece, name)
    if value == GIVEN:
        return current is not None and current is not False
    return current in value if isinstance(value, tuple) else current == value


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
