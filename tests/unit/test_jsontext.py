"""flowslurm.jsontext writes exactly what json.dumps writes, for every kind of value the ledger stores."""

from __future__ import annotations

import json
import random

import pytest

from flowslurm import jsontext


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 32), rng.randrange(128, 0x3000),
                                       0x1F600, 0xD800 + rng.randrange(0x400)])) for _ in range(rng.randrange(8)))
    if kind == 1:
        return rng.choice([0, -1, 2**63, -(2**70), rng.randrange(-10**6, 10**6)])
    if kind == 2:
        return rng.choice([0.0, -0.0, 1.5, 1e300, 1e-300, rng.random() * 10**rng.randrange(-5, 20)])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5):
        return rng.choice(["", "ALL", "/tmp/x y", 'quote " and \\ back', "tab\there"])
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {str(_value(rng, depth + 1)): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def test_same_text_as_json_dumps() -> None:
    rng = random.Random(20261129)
    for _ in range(3000):
        value = _value(rng)
        assert jsontext.dumps(value) == json.dumps(value)


def test_non_string_keys_and_special_floats_as_json_writes_them() -> None:
    value = {1: "a", 2.5: "b", True: "c", None: "d", "x": [float("nan"), float("inf"), -float("inf")]}
    assert jsontext.dumps(value) == json.dumps(value)


def test_refuses_what_json_refuses() -> None:
    for bad in (object(), {1j: 1}, {(1, 2): 3}, {1, 2}):
        with pytest.raises(TypeError):
            jsontext.dumps(bad)
        with pytest.raises(TypeError):
            json.dumps(bad)
