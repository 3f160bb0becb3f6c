"""Tests for sacct's job selection (flowslurm.slurm.sacct_select): -s states, -S/-E windows, -j, --name.

Expected messages and defaults come from the golden transcripts in /work/shared/slurm-golden
(sacct.txt) and SLURM 22.05's documented window rules; the job builders are shared with
test_sacct_format.py.
"""

from __future__ import annotations

import pytest

from flowslurm.slurm.jobrefs import parse_job_ids
from flowslurm.slurm.sacct_select import (
    Selection,
    parse_states,
    parse_time_arg,
    select_jobs,
    split_list,
    steps_only,
    time_window,
)
from flowslurm.slurm.timeparse import SlurmValueError
from tests.unit.test_sacct_format import SACCT_NOW, _utc, mkjob, sacct_world, ts  # noqa: F401  (_utc: autouse TZ=UTC)


# ---------------------------------------------------------------- selection


def test_parse_states() -> None:
    assert parse_states(["CA,cd", "f", "TO,OOM", "pd,R", "out_of_memory", "RQ"]) == [
        "CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "PENDING", "RUNNING", "REQUEUED"]
    assert parse_states([",,CA,,"]) == ["CANCELLED"]
    with pytest.raises(SlurmValueError) as bad:
        parse_states(["CD,bogus"])
    assert (bad.value.message, bad.value.level, bad.value.exit_code) == (
        "unrecognized job state value 'bogus'", "fatal", 1)
    with pytest.raises(SlurmValueError, match="^job state cg is not supported / accounted$"):
        parse_states(["cg"])


def test_split_list_quotes() -> None:
    assert split_list('"a,b",c') == ["a", "b"]
    assert split_list("a'b,c") == ["a`b", "c"]
    assert split_list(",a,,b,") == ["a", "b"]


def test_time_window_defaults() -> None:
    now = ts("2026-11-29T10:00:00")
    midnight = int(ts("2026-11-29T00:00:00"))
    assert time_window(None, None, now=now, has_ids=False, has_states=False) == (midnight, int(now) + 1)
    assert time_window(None, None, now=now, has_ids=True, has_states=False) == (0, int(now) + 1)
    assert time_window(None, None, now=now, has_ids=False, has_states=True) == (int(now), int(now) + 1)
    assert time_window(None, None, now=now, has_ids=True, has_states=True) == (0, int(now) + 1)
    assert time_window(100, None, now=now, has_ids=False, has_states=True) == (100, 101)
    with pytest.raises(SlurmValueError) as bad:
        time_window(int(now), int(now) - 3600, now=now, has_ids=False, has_states=False)
    assert bad.value.message == ("Start time (2026-11-29T10:00:00) requested is after end time "
                                 "(2026-11-29T09:00:00).")


def test_parse_time_arg_looks_into_the_past() -> None:
    now = ts("2026-11-29T09:30:00")
    assert parse_time_arg("now-1hour", now) == ts("2026-11-29T08:30:00")
    assert parse_time_arg("16:00", now) == ts("2026-11-29T16:00:00")
    assert parse_time_arg("12/25", now) == ts("2025-12-25T00:00:00")
    assert parse_time_arg("01/05", now) == ts("2026-01-05T00:00:00")
    assert parse_time_arg("2027-01-01T10:00", now) == ts("2027-01-01T10:00:00")
    assert parse_time_arg("", now) is None
    with pytest.raises(SlurmValueError) as bad:
        parse_time_arg("garbage", now)
    assert (bad.value.message, bad.value.level, bad.value.exit_code) == (
        "Invalid time specification (pos=0): garbage", "bare", 1)


def test_state_windows() -> None:
    now = ts("2026-11-29T02:00:00")
    done = mkjob(1, "done", at="2026-11-29T01:00:00", dur=60)  # ran 01:00:03-01:01:03
    running = mkjob(2, "run", "RUNNING", at="2026-11-29T01:30:00")
    pending = mkjob(3, "wait", "PENDING", ran=False, at="2026-11-29T01:40:00")
    held = mkjob(4, "held", "PENDING", ran=False, at="2026-11-29T01:41:00")
    held.eligible_time = None
    jobs = [done, running, pending, held]

    def pick(states: list[str], start: str | None = None, end: str | None = None) -> list[int]:
        s = parse_time_arg(start, now) if start else None
        e = parse_time_arg(end, now) if end else None
        window = time_window(s, e, now=now, has_ids=False, has_states=bool(states))
        return [j.job_id for j in select_jobs(jobs, Selection(window, states=tuple(parse_states(states))))]

    assert pick([]) == [1, 2, 3]  # held jobs are not eligible, so not listed
    assert pick(["CD"]) == []  # -s alone looks at this very second
    assert pick(["CD"], "2026-11-29T01:00:00") == []  # -E defaults to -S with states
    assert pick(["CD"], "2026-11-29T01:00:00", "now") == [1]
    assert pick(["R"]) == [2]
    assert pick(["PD"]) == [3]
    assert pick(["PD", "R"], "2026-11-29T00:00:00", "now") == [1, 2, 3]  # job 1 pended before it started
    assert pick([], "2026-11-29T01:10:00") == [2, 3]
    assert pick([], "2026-11-29T00:00:00", "2026-11-29T01:20:00") == [1]


def test_id_selection_and_steps_only() -> None:
    jobs = sacct_world()
    ids = parse_job_ids(["382_2.batch,380.0,383"], "sacct")
    window = time_window(None, None, now=SACCT_NOW, has_ids=True, has_states=False)
    chosen = select_jobs(jobs, Selection(window, tuple(ids)))
    assert sorted(j.job_id for j in chosen) == [380, 383, 384]
    assert steps_only(chosen, ids) == {380: ["0"], 384: ["batch"]}
    master = mkjob(600, "arr", "PENDING", ran=False, array=(600, 0))
    master.array_task_id, master.array_spec = None, "1-5%2"
    pick = parse_job_ids(["600_4"], "sacct")
    assert select_jobs([master], Selection(window, tuple(pick))) == [master]
    assert select_jobs([master], Selection(window, tuple(parse_job_ids(["600_9"], "sacct")))) == []


def test_name_user_account_filters() -> None:
    jobs = sacct_world()
    window = time_window(None, None, now=SACCT_NOW, has_ids=False, has_states=False)
    assert [j.job_id for j in select_jobs(jobs, Selection(window, names=("ACCT-A",)))] == [128, 380]
    assert [j.job_id for j in select_jobs(jobs, Selection(window, users=("0",)))] == [1, 2, 3, 4]
    assert select_jobs(jobs, Selection(window, accounts=("other",))) == []
