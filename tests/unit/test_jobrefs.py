"""Tests for flowslurm.slurm.jobrefs: --dependency values and scancel/squeue/sacct job id lists."""

from __future__ import annotations

import random

import pytest

from flowslurm.errors import SlurmInputError, SubmitError
from flowslurm.slurm.jobrefs import (
    DepClause,
    JobIdSelector,
    format_dependency,
    parse_dependency,
    parse_job_ids,
)
from flowslurm.slurm.timeparse import SlurmValueError

DEP_ERROR = "Batch job submission failed: Job dependency problem"  # sbatch-errors.txt


# ---------------------------------------------------------------- dependencies


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # arrays-dependencies.txt (squeue %E / scontrol Dependency=)
        ("afterok:262", "afterok:262(unfulfilled)"),
        ("afterok:262:264", "afterok:262(unfulfilled),afterok:264(unfulfilled)"),
        ("afterok:262?afterany:262", "afterok:262(unfulfilled)?afterany:262(unfulfilled)"),
        ("singleton", "singleton(unfulfilled)"),
        ("afterok:255_*", "afterok:255_*(unfulfilled)"),
        # other forms from the sbatch man page
        ("afternotok:5,afterany:6", "afternotok:5(unfulfilled),afterany:6(unfulfilled)"),
        ("aftercorr:7", "aftercorr:7(unfulfilled)"),
        ("afterburstbuffer:8", "afterburstbuffer:8(unfulfilled)"),
        ("after:9+10", "after:9+10(unfulfilled)"),
        ("after:9+10:11", "after:9+10(unfulfilled),after:11(unfulfilled)"),
        ("afterok:12_3", "afterok:12_3(unfulfilled)"),
        ("afterok:12_[1-3]", "afterok:12_1(unfulfilled),afterok:12_2(unfulfilled),afterok:12_3(unfulfilled)"),
        ("AFTEROK:13", "afterok:13(unfulfilled)"),
        ("164559", "afterany:164559(unfulfilled)"),  # real-scripts.md: bare id = afterany
        ("1,2", "afterany:1(unfulfilled),afterany:2(unfulfilled)"),
        ("singleton,afterok:3", "singleton(unfulfilled),afterok:3(unfulfilled)"),
        ("afterany:5(failed)", "afterany:5(failed)"),
    ],
)
def test_dependency_round_trip(value: str, shown: str) -> None:
    assert format_dependency(parse_dependency(value)) == shown


def test_dependency_structure() -> None:
    dep = parse_dependency("afterok:1_*:2_4+5?singleton")
    assert dep is not None and dep.any_of and dep.joiner == "?"
    assert dep.clauses == [
        DepClause("afterok", "1_*", 1, None, True, 0, False),
        DepClause("afterok", "2_4", 2, 4, False, 5, False),
        DepClause("singleton"),
    ]


def test_dependency_states() -> None:
    dep = parse_dependency("afterok:262:264")
    # arrays-dependencies.txt: job 263 "afterok:262(failed)"; fulfilled clauses are not shown
    assert format_dependency(dep, ["failed", "fulfilled"]) == "afterok:262(failed)"
    assert format_dependency(dep, ["fulfilled", "fulfilled"]) == ""
    assert format_dependency(None) == ""


@pytest.mark.parametrize("value", ["", "0"])
def test_no_dependency(value: str) -> None:
    assert parse_dependency(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "bogus:1",  # sbatch-errors.txt
        "afterok",  # sbatch-errors.txt
        "afterok:",
        "afterok:1,",
        "afterok:abc",
        "afterok:0",
        "afterok:<GENDATA>",
        "afterok:$upstreamJobId",
        "123,afterok:5",
        "after:1+0",
        "afterok:1x",
        "afterok:1_[3-1]",
        "singletonx",
        "afterok:1(failed",
    ],
)
def test_dependency_refused(value: str) -> None:
    with pytest.raises(SubmitError) as info:
        parse_dependency(value)
    assert info.value.message == DEP_ERROR
    assert info.value.exit_code == 1


# ---------------------------------------------------------------- job ids


def test_scancel_ids() -> None:
    assert parse_job_ids(["123"]) == [JobIdSelector(123)]
    assert parse_job_ids(["233_1"]) == [JobIdSelector(233, (1,))]  # scancel.txt
    assert parse_job_ids(["233_[2-3]"]) == [JobIdSelector(233, (2, 3))]  # scancel.txt
    assert parse_job_ids(["5_[1,3-5]"]) == [JobIdSelector(5, (1, 3, 4, 5))]
    assert parse_job_ids(["5_*"]) == [JobIdSelector(5, None, None, True)]
    assert parse_job_ids(["6.0"]) == [JobIdSelector(6, None, "0")]
    assert parse_job_ids(["1,2", "3"]) == [JobIdSelector(1), JobIdSelector(2), JobIdSelector(3)]
    assert parse_job_ids(["7_2.1"]) == [JobIdSelector(7, (2,), "1")]


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["abc"], "abc"),  # scancel.txt: "scancel: error: Invalid job id abc", exit 1
        (["123,abc"], "abc"),
        (["0"], "0"),
        (["12x"], "12x"),
        (["123.batch"], "123.batch"),
        (["5_[1-3],6"], "5_[1-3],6"),
        (["5_[x]"], "5_[x]"),
    ],
)
def test_scancel_ids_refused(args: list[str], shown: str) -> None:
    with pytest.raises(SlurmValueError) as info:
        parse_job_ids(args, "scancel")
    assert info.value.message == f"Invalid job id {shown}"
    assert info.value.exit_code == 1
    assert info.value.level == "error"


def test_squeue_ids() -> None:
    assert parse_job_ids(["1517"], "squeue") == [JobIdSelector(1517)]
    assert parse_job_ids(["263,264,265"], "squeue") == [JobIdSelector(263), JobIdSelector(264), JobIdSelector(265)]
    assert parse_job_ids(["255_2"], "squeue") == [JobIdSelector(255, (2,))]
    assert parse_job_ids(["255_[1,3]"], "squeue") == [JobIdSelector(255, (1, 3))]
    assert parse_job_ids(["12x"], "squeue") == [JobIdSelector(12)]  # squeue ignores what follows


def test_squeue_ids_refused() -> None:
    # squeue.txt: "squeue: error: Invalid job id: abc", exit 1
    with pytest.raises(SlurmValueError) as info:
        parse_job_ids(["abc"], "squeue")
    assert info.value.message == "Invalid job id: abc"
    assert info.value.exit_code == 1


def test_sacct_ids() -> None:
    # sacct.txt: -j 380,381 / 382_2 / 380.batch / 380.0
    assert parse_job_ids(["380,381"], "sacct") == [JobIdSelector(380), JobIdSelector(381)]
    assert parse_job_ids(["382_2"], "sacct") == [JobIdSelector(382, (2,))]
    assert parse_job_ids(["380.batch"], "sacct") == [JobIdSelector(380, None, "batch")]
    assert parse_job_ids(["380.0"], "sacct") == [JobIdSelector(380, None, "0")]
    assert parse_job_ids(["380.extern,380,380"], "sacct") == [JobIdSelector(380, None, "extern"), JobIdSelector(380)]


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("abc", "Bad job/step specified: abc"),  # sacct.txt: "sacct: fatal: Bad job/step specified: abc"
        ("123.foo", "Bad step specified: 123"),
        ("123_x", "Bad job array element specified: 123_x"),
    ],
)
def test_sacct_ids_refused(arg: str, message: str) -> None:
    with pytest.raises(SlurmValueError) as info:
        parse_job_ids([arg], "sacct")
    assert info.value.message == message
    assert info.value.level == "fatal"
    assert info.value.exit_code == 1


# ---------------------------------------------------------------- fuzz


def test_fuzz_jobrefs_raise_only_slurm_errors() -> None:
    rng = random.Random(77)
    alphabet = "0123456789:,?+_*[]-().afterokanysingleton \u00a0x\u00b2\u0663"
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        try:
            format_dependency(parse_dependency(text))
        except SlurmInputError:
            pass
        for command in ("scancel", "squeue", "sacct"):
            try:
                parse_job_ids([text], command)
            except SlurmInputError:
                pass


# ---------------------------------------------------------------- regressions found by fuzzing


def test_squeue_ids_are_c_ints() -> None:
    # squeue 22.05 reads `int job_id = strtol(...)`: 4294967297 is job 1, 2147483648 is negative
    assert parse_job_ids(["4294967297"], "squeue") == [JobIdSelector(1)]
    assert parse_job_ids(["5_4294967298"], "squeue") == [JobIdSelector(5, (2,))]
    with pytest.raises(SlurmValueError) as info:
        parse_job_ids(["2147483648"], "squeue")
    assert (info.value.message, info.value.exit_code) == ("Invalid job id: 2147483648", 1)


def test_scancel_task_ranges_fit_sqlite() -> None:
    # "1_[99999999999999999999]" once gave a task id SQLite could not take (scancel: internal error)
    assert parse_job_ids(["1_[99999999999999999999]"], "scancel") == [JobIdSelector(1, (2**63 - 1,))]
    assert parse_job_ids(["1_[" + "9" * 5000 + "]"], "squeue") == [JobIdSelector(1, (2**63 - 1,))]
