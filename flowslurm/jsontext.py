"""JSON text for the ledger without importing `json`, whose decoder imports `re` (and `enum`):
about 13 ms of every sbatch start. Output is what `json.dumps` gives for the same data (checked
by tests/unit/test_jsontext.py); reading JSON back still uses `json`, where it is needed."""

from __future__ import annotations

from _json import encode_basestring_ascii as _string

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def dumps(value: Any) -> str:
    """JSON text of dicts (string keys), lists, tuples, strings, ints, floats, bools and None."""
    parts: list[str] = []
    _emit(value, parts.append)
    return "".join(parts)


def _emit(value: Any, out: Any) -> None:
    if isinstance(value, str):
        out(_string(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, int):
        out(int.__repr__(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            out("NaN" if value != value else "Infinity" if value > 0 else "-Infinity")
        else:
            out(float.__repr__(value))
    elif isinstance(value, dict):
        out("{")
        first = True
        for key, item in value.items():
            if not first:
                out(", ")
            first = False
            out(_string(key if isinstance(key, str) else _key(key)))
            out(": ")
            _emit(item, out)
        out("}")
    elif isinstance(value, (list, tuple)):
        out("[")
        for i, item in enumerate(value):
            if i:
                out(", ")
            _emit(item, out)
        out("]")
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _key(key: Any) -> str:
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    if isinstance(key, (int, float)):
        return repr(key) if isinstance(key, float) else int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")
