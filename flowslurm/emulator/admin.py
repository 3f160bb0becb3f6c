"""Admin endpoints under /_emulator/: steer the emulator from tests or by hand (curl).

They need no auth, take and give JSON, are never logged and never hit by faults, so a test can
always reach them. Documented with examples in the package docstring (flowslurm/emulator/__init__.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowslurm.emulator.model import ApiError, Json, invalid
from flowslurm.emulator.state import Fault, State

PREFIX = "/_emulator/"
FAULT_KINDS = ("status", "drop", "delay")
_MISSING = object()


def _get(body: Json, name: str, kind: type | tuple[type, ...], default: Any = _MISSING) -> Any:
    """A body field of type `kind` (absent or null: `default`, or a 422 when there is none)."""
    value = body.get(name)
    if value is None:
        if default is _MISSING:
            raise invalid(["body", name], "Field required", "missing")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise invalid(["body", name], f"Input should be a valid {names}", f"{names}_type")
    return value


def add_fault(state: State, body: Json) -> tuple[int, Any]:
    kind = _get(body, "kind", str)
    if kind not in FAULT_KINDS:
        raise invalid(["body", "kind"], f"Input should be one of {', '.join(FAULT_KINDS)}", "enum")
    status = _get(body, "status", int, 503)
    fault = Fault(
        kind=kind, times=_get(body, "times", int, 1), method=_get(body, "method", str, None),
        path=_get(body, "path", str, None), status=status, retry_after=_get(body, "retry_after", str, None),
        detail=_get(body, "detail", str, "Too Many Requests" if status == 429 else "Service Unavailable"),
        after_handling=_get(body, "after_handling", bool, False),
        seconds=float(_get(body, "seconds", (int, float), 0.0)),
    )
    with state.lock:
        state.faults.append(fault)
    return 201, fault.to_json()


def clear_faults(state: State, body: Json) -> tuple[int, Any]:
    with state.lock:
        state.faults.clear()
    return 204, None


def preempt(state: State, body: Json) -> tuple[int, Any]:
    grace = _get(body, "grace_s", (int, float), None)
    instance, bid = _get(body, "instance", str, None), _get(body, "bid", str, None)
    if (instance is None) == (bid is None):
        raise invalid(["body"], "Give exactly one of 'instance' or 'bid'")
    if instance is not None:
        with state.lock:
            if instance not in state.instances:
                raise ApiError(404, "Instance not found")
            bid = state.instances[instance]["bid"]
    assert bid is not None
    return 200, state.preempt(bid, None if grace is None else float(grace))


def capacity(state: State, body: Json) -> tuple[int, Any]:
    count = _get(body, "capacity", int)
    if count < 0:
        raise invalid(["body", "capacity"], "Input should be greater than or equal to 0", "greater_than_equal")
    return 200, state.set_capacity(_get(body, "instance_type", str), _get(body, "region", str), count,
                                   price_cents=_get(body, "price_cents", int, None),
                                   minimum_cents=_get(body, "minimum_cents", int, None))


def allocation(state: State, body: Json) -> tuple[int, Any]:
    paused = _get(body, "paused", bool)
    with state.lock:
        state.allocation_paused = paused
    return 200, {"paused": paused}


def advance(state: State, body: Json) -> tuple[int, Any]:
    if not state.manual_clock:
        raise ApiError(409, "The emulator runs on the real clock; start it with --manual-clock to advance it")
    state.advance(_get(body, "steps", int, 1))
    return 200, {"steps": body.get("steps", 1)}


def requests(state: State, body: Json) -> tuple[int, Any]:
    with state.lock:
        return 200, [r.to_json() for r in state.requests]


def clear_requests(state: State, body: Json) -> tuple[int, Any]:
    with state.lock:
        state.requests.clear()
    return 204, None


def snapshot(state: State, body: Json) -> tuple[int, Any]:
    return 200, state.snapshot()


ADMIN_ROUTES: dict[tuple[str, str], Callable[[State, Json], tuple[int, Any]]] = {
    ("POST", "faults"): add_fault,
    ("DELETE", "faults"): clear_faults,
    ("POST", "preempt"): preempt,
    ("POST", "capacity"): capacity,
    ("POST", "allocation"): allocation,
    ("POST", "advance"): advance,
    ("GET", "requests"): requests,
    ("DELETE", "requests"): clear_requests,
    ("GET", "state"): snapshot,
}


def handle(state: State, method: str, path: str, body: Any) -> tuple[int, Any]:
    name = path[len(PREFIX):].rstrip("/")
    if not any(n == name for _, n in ADMIN_ROUTES):
        raise ApiError(404, "Not Found")
    handler = ADMIN_ROUTES.get((method, name))
    if handler is None:
        raise ApiError(405, "Method Not Allowed")
    if not isinstance(body, dict):
        raise invalid(["body"], "Input should be a valid dictionary", "dict_type")
    return handler(state, body)
