"""Tests for flowslurm.slurm.sbatch_spec.build: the value checks sbatch 22.05 makes (src/common/slurm_opt.c,
src/sbatch/opt.c), for the cases the parser fuzzing (tests/unit/test_fuzz_parsers.py) found."""

from __future__ import annotations

from typing import Any

import pytest

from flowslurm.engine.spec import JobSpec
from flowslurm.errors import SlurmInputError
from flowslurm.slurm.sbatch_spec import build

NOW = 1_795_000_000.0


def _build(**values: Any) -> JobSpec:
    return build(values, script="#!/bin/sh\ntrue\n", argv=[], environ={}, cwd="/tmp", command=None,
                 user=("me", 1000, 1000, "me"), now=NOW)


def _refused(**values: Any) -> SlurmInputError:
    with pytest.raises(SlurmInputError) as info:
        _build(**values)
    return info.value


@pytest.mark.parametrize(("given", "nice"), [("5", 5), ("-7", -7), ("abc", 0), ("12x", 12), ("", 0), (None, 100),
                                             ("2147483645", 2147483645)])
def test_nice_reads_like_strtoll(given: str | None, nice: int) -> None:
    # arg_set_nice(): strtoll(arg), 100 when --nice has no value; no error for trailing text
    assert _build(nice=given).nice == nice


@pytest.mark.parametrize("given", ["2147483646", "-2147483646", "99999999999999999999", "9" * 5000])
def test_nice_out_of_range(given: str) -> None:
    err = _refused(nice=given)
    assert (err.message, err.exit_code) == ("Invalid --nice value, out of range (+/- 2147483645)", 255)


@pytest.mark.parametrize(("given", "priority"), [("10", 10), ("TOP", 4294967293), ("top", 4294967293),
                                                 ("abc", 0), ("4294967293", 4294967293)])
def test_priority_reads_like_strtoll(given: str, priority: int) -> None:
    assert _build(priority=given).priority == priority


@pytest.mark.parametrize(("given", "message"), [("-1", "Priority must be >= 0"),
                                                ("4294967294", "Priority must be < 4294967294"),
                                                ("9" * 5000, "Priority must be < 4294967294")])
def test_priority_out_of_range(given: str, message: str) -> None:
    err = _refused(priority=given)
    assert (err.message, err.exit_code) == (message, 255)


def test_deadline_errors_name_deadline() -> None:
    err = _refused(deadline="xyz")
    assert (err.message, err.exit_code) == ("Invalid --deadline specification", 255)
    assert getattr(err, "preamble", None) == "Invalid time specification (pos=0): xyz"


@pytest.mark.parametrize(
    ("values", "message"),
    [({"ntasks": "2147483648"}, "invalid number of tasks (-n -2147483648)"),
     ({"cpus_per_task": "4294967296"}, "invalid number of cpus per task (-c 0)"),
     ({"cpus_per_task": "2147483648"}, "invalid number of cpus per task (-c -2147483648)")],
)
def test_counts_that_wrap_are_refused(values: dict[str, str], message: str) -> None:
    # parse_int() hands back a C int; sbatch's _opt_verify() refuses what wrapped, exit 1
    err = _refused(**values)
    assert (err.message, err.exit_code) == (message, 1)


def test_huge_task_counts_stay_storable() -> None:
    # -n 2**62 -c 4 once multiplied to 2**64 CPUs, which SQLite refused (sbatch: internal error)
    spec = _build(ntasks="4611686018427387904", cpus_per_task="4", mem="1")
    assert spec.ntasks * spec.cpus_per_task < 2**63
    assert _build(ntasks_per_node="2147483648").ntasks == 1  # wrapped negative: not used, as in _opt_verify()
