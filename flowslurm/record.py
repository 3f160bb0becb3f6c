"""Plain data classes for the command start-up path, without `dataclasses`.

Importing `dataclasses` (it pulls in `inspect`, `ast`, `dis`, ...) and running its decorator cost
every sbatch/squeue/scancel/sacct start some 15-20 ms. The classes on that path therefore write
`__slots__` and `__init__` out by hand and inherit `__eq__` and `__repr__` from these bases, which
behave as a dataclass's would: fields are the slots, in order.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_set = object.__setattr__


class Record:
    """Mutable record: equality and repr over `__slots__`, unhashable (like `@dataclass`)."""

    __slots__ = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self.__slots__])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return self._values() == other._values()  # type: ignore[attr-defined, no-any-return]
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name[0] != "_")
        return f"{self.__class__.__qualname__}({shown})"

    def copy(self, **changes: Any) -> Any:
        """A shallow copy with some fields changed (what `dataclasses.replace` does)."""
        new = self.__class__.__new__(self.__class__)
        for name in self.__slots__:
            _set(new, name, changes.pop(name) if name in changes else getattr(self, name))
        if changes:
            raise TypeError(f"{self.__class__.__name__} has no field(s) {', '.join(changes)}")
        return new


class FrozenRecord(Record):
    """Immutable record (like `@dataclass(frozen=True)`): hashable by value; `__init__` sets
    fields with `object.__setattr__`."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(self._values())
