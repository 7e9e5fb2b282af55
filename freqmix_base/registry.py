"""One name -> object registry for every pluggable piece (backbones, heads, agents, budgets, defenses, rewards, envs).

A :class:`Registry` maps names to constructors (or specs), lists them, and refuses an unknown name with one line
that lists the choices and suggests the closest ones (``difflib``), as timm's ``create_model`` does. It lives in
the base layer, which imports no project code.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar, overload

from freqmix_base.errors import FreqmixError

T = TypeVar("T")


class UnknownNameError(FreqmixError, KeyError):
    """A name that is not in a registry. Also a ``KeyError``, so mapping-style lookups behave as expected."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Names of one kind of thing (``kind``, e.g. ``"backbone"``) mapped to objects, in registration order.

    :param kind: what the names name, used in error messages (``unknown backbone 'resnt'; did you mean ...``).
    :param option: the command-line option that takes these names (named in error messages), if any.
    """

    def __init__(self, kind: str, option: str | None = None) -> None:
        self.kind, self.option = kind, option
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None):  # type: ignore[no-untyped-def]
        """Add ``obj`` under ``name`` (or use as a decorator: ``@REG.register("name")``); a name is taken once."""

        def add(value: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered already")
            self._entries[name] = value
            return value

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> T:
        """Remove ``name`` (e.g. a plug-in registered for one experiment or test) and return its object."""
        return self._entries.pop(name) if name in self._entries else self.get(name)

    def get(self, name: str, option: str | None = None) -> T:
        """The object registered as ``name``; :class:`UnknownNameError` listing the choices if there is none, naming
        ``option`` (the command-line option that took the name; default: the registry's)."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.unknown_message(name, option)) from None

    def unknown_message(self, name: object, option: str | None = None) -> str:
        """The one-line message for an unknown ``name``: the choices and the closest matches."""
        option = option or self.option
        where = f" ({option})" if option else ""
        close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        return f"unknown {self.kind} {name!r}{where}; choose one of: {', '.join(self._entries)}{hint}"

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """(name, object) pairs in registration order."""
        return list(self._entries.items())

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
