"""Requeue in the ledger (engine.requeue), scontrol requeue's argument handling, and the shepherd's
reading of sbatch --signal: everything that needs no running job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowslurm.cli.scontrol_requeue import is_requeue_word, is_requeuehold_word, parse_flags, split_job_list
from flowslurm.engine import requeue
from flowslurm.engine.ledger import Ledger
from flowslurm.engine.model import Job, Step
from flowslurm.providers.local.shepherd import warning_spec

NOW = 1_800_000_000.0


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setenv("FLOWSLURM_HOME", str(tmp_path))
    monkeypatch.setenv("FLOWSLURM_REQUEUE_DELAY", "5")
    return Ledger.open(tmp_path)


def _add(ledger: Ledger, **fields: object) -> int:
    job = Job(0, name="j", user="u", submit_time=NOW - 100, **fields)  # type: ignore[arg-type]
    with ledger.write() as conn:
        sid = ledger.insert_script(conn, "#!/bin/sh\n", [], {})
        (job_id,) = ledger.insert_jobs(conn, [job], sid)
    return job_id


def _finished(ledger: Ledger, **fields: object) -> int:
    job_id = _add(ledger, state="COMPLETED", reason="None", start_time=NOW - 50, end_time=NOW - 10, exit_code=0,
                  exit_signal=0, node_list="n1", batch_host="n1", **fields)
    with ledger.write() as conn:
        ledger.upsert_step(conn, Step(job_id, "batch", "batch", "COMPLETED", 0, 0, NOW - 50, NOW - 10))
    return job_id


def test_finished_job_is_requeued_at_once(ledger: Ledger) -> None:
    job_id = _finished(ledger)
    assert requeue.request(ledger, [job_id], now=NOW, reschedule=False) == {}
    job = ledger.job(job_id)
    assert job is not None
    assert (job.state, job.reason, job.restart_count) == ("PENDING", "BeginTime", 1)
    assert job.begin_time == NOW + 5 and job.submit_time == NOW
    assert (job.start_time, job.end_time, job.node_list, job.batch_host, job.steps) == (None, None, "", "", [])
    (run,) = ledger.runs([job_id])
    assert (run.job_id, run.state, run.restart_count, run.start_time, run.end_time) == (
        job_id, "REQUEUED", 0, NOW - 50, NOW - 10)
    assert [(s.step_id, s.state) for s in run.steps] == [("batch", "COMPLETED")]
    # a second requeue finds it pending: ESLURM_JOB_PENDING
    assert requeue.request(ledger, [job_id], now=NOW, reschedule=False) == {job_id: "Job is pending execution"}


def test_refusals_in_slurmctld_order(ledger: Ledger) -> None:
    pending = _add(ledger)
    no_requeue = _add(ledger, requeue=False)  # pending too: --no-requeue is checked first
    errors = requeue.request(ledger, [pending, no_requeue, 999], now=NOW, reschedule=False)
    assert errors == {pending: "Job is pending execution", no_requeue: "Requested operation is presently disabled",
                      999: "Invalid job id specified"}
    interactive = _add(ledger, state="RUNNING", spec={"interactive": True})
    assert requeue.request(ledger, [interactive], now=NOW, reschedule=False) == {
        interactive: "Only batch jobs are accepted or processed"}


def test_running_job_gets_a_request_then_end_run(ledger: Ledger) -> None:
    job_id = _add(ledger, state="RUNNING", start_time=NOW - 20, node_list="n1")
    with ledger.write() as conn:
        conn.execute("UPDATE jobs SET cancel_requested = 7 WHERE job_id = ?", (job_id,))
    assert requeue.request(ledger, [job_id], now=NOW, reschedule=False) == {}
    # requeue wins over a cancel already under way; the job stays RUNNING until its shepherd ends it
    assert ledger.internal(job_id, "state", "requeue_request", "cancel_requested") == ("RUNNING", "requeue", None)
    assert requeue.request(ledger, [job_id], now=NOW, reschedule=False) == {job_id: "Job is pending execution"}
    with ledger.write() as conn:
        conn.execute("UPDATE jobs SET state = 'CANCELLED', end_time = ? WHERE job_id = ?", (NOW + 1, job_id))
        ledger.upsert_step(conn, Step(job_id, "batch", "batch", "CANCELLED", 0, 15, NOW - 20, NOW + 1))
        assert requeue.end_run(conn, job_id, NOW + 1, delay=121)
        assert not requeue.end_run(conn, job_id, NOW + 1)  # nothing asked any more
    job = ledger.job(job_id)
    assert job is not None and (job.state, job.restart_count, job.begin_time) == ("PENDING", 1, NOW + 122)
    assert ledger.internal(job_id, "requeue_request", "launch_token", "shepherd_pid") == (None, None, None)
    (run,) = ledger.runs([job_id])
    assert run.state == "REQUEUED" and [(s.state, s.exit_signal) for s in run.steps] == [("CANCELLED", 15)]


def test_cancel_after_requeue_ends_cancelled(ledger: Ledger) -> None:
    job_id = _add(ledger, state="RUNNING", start_time=NOW - 20)
    requeue.request(ledger, [job_id], now=NOW, reschedule=False)
    with ledger.write() as conn:
        conn.execute("UPDATE jobs SET cancel_requested = 7 WHERE job_id = ?", (job_id,))  # scancel, after
        assert requeue.end_run(conn, job_id, NOW + 1)
    job = ledger.job(job_id)
    assert job is not None
    assert (job.state, job.reason, job.cancelled_by, job.restart_count, job.start_time) == (
        "CANCELLED", "BeginTime", 7, 1, None)
    assert [r.state for r in ledger.runs([job_id])] == ["REQUEUED"]


def test_requeuehold_and_incomplete(ledger: Ledger) -> None:
    done = _finished(ledger)
    assert requeue.request(ledger, [done], incomplete=True, now=NOW, reschedule=False) == {}
    assert ledger.job(done).state == "COMPLETED"  # type: ignore[union-attr]  # Incomplete: left alone
    assert requeue.request(ledger, [done], hold=True, now=NOW, reschedule=False) == {}
    job = ledger.job(done)
    assert job is not None and (job.state, job.reason, job.held, job.priority) == ("PENDING", "JobHeldUser", "user", 0)


def test_begin_time_in_the_future_is_kept(ledger: Ledger) -> None:
    job_id = _finished(ledger, begin_time=NOW + 1000)
    requeue.request(ledger, [job_id], now=NOW, reschedule=False)
    assert ledger.job(job_id).begin_time == NOW + 1000  # type: ignore[union-attr]


def test_accounting_records(ledger: Ledger) -> None:
    job_id = _finished(ledger)
    requeue.request(ledger, [job_id], now=NOW, reschedule=False)
    jobs = ledger.jobs(with_steps=True)
    # waiting to run again: slurmdbd's latest record is the run that was requeued
    assert [j.state for j in requeue.accounting_records(ledger, jobs)] == ["REQUEUED"]
    assert [j.state for j in requeue.accounting_records(ledger, jobs, duplicates=True)] == ["REQUEUED"]
    with ledger.write() as conn:
        conn.execute("UPDATE jobs SET state = 'COMPLETED', start_time = ?, end_time = ? WHERE job_id = ?",
                     (NOW + 10, NOW + 20, job_id))
    jobs = ledger.jobs(with_steps=True)
    assert [j.state for j in requeue.accounting_records(ledger, jobs)] == ["COMPLETED"]
    assert [j.state for j in requeue.accounting_records(ledger, jobs, duplicates=True)] == ["REQUEUED", "COMPLETED"]
    row = ledger.conn.execute("SELECT job FROM runs WHERE job_id = ?", (job_id,)).fetchone()
    assert json.loads(row[0])["state"] == "REQUEUED"


def test_requeue_delay_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLURM_REQUEUE_DELAY", "2.5")
    assert requeue.requeue_delay() == 2.5
    monkeypatch.setenv("FLOWSLURM_REQUEUE_DELAY", "soon")
    assert requeue.requeue_delay() == requeue.DEFAULT_DELAY_S == 121


# ---------------------------------------------------------------- scontrol requeue's words


def test_command_words() -> None:
    assert all(is_requeue_word(w) for w in ("req", "REQU", "requeue"))
    assert not any(is_requeue_word(w) for w in ("re", "requeuex", "requeuehold"))
    assert is_requeuehold_word("RequeueHold") and not is_requeuehold_word("requeueh")


def test_flags() -> None:
    assert parse_flags(["Incomplete", "12"]) == (True, False, 1)
    assert parse_flags(["inc", "State=SpecialExit", "12", "incomplete"]) == (True, True, 2)
    assert parse_flags(["state=se", "12"]) == (False, True, 1)
    assert parse_flags(["12", "incomplete"]) == (False, False, 0)


@pytest.mark.parametrize(("text", "ids"), [
    ("12", ["12"]),
    ("12,13 14", ["12", "13", "14"]),
    ("12_3", ["12_3"]),
    ("12_[1-3,5]", ["12_1-3,5"]),
    ("[10-12]", ["10", "11", "12"]),
    ("[10-11]_2", ["10_2", "11_2"]),
    ("12,", ["12"]),
])
def test_split_job_list(text: str, ids: list[str]) -> None:
    assert split_job_list(text) == ids


@pytest.mark.parametrize("text", ["abc", "12-13", "1_2_3", "12_[1-3", "jobid=12", "12x"])
def test_split_job_list_refused(text: str) -> None:
    assert split_job_list(text) is None


# ---------------------------------------------------------------- the shepherd's --signal


def test_warning_spec() -> None:
    assert warning_spec("USR1@55") == (10, 55, "steps")
    assert warning_spec("B:USR2") == (12, 60, "batch")
    assert warning_spec("R:TERM@30") == (15, 30, "steps")  # R: only concerns reservations
    assert warning_spec("USR1@0") is None  # slurmctld never sends a warning 0 seconds ahead
    assert warning_spec("65535") is None  # no process can receive it
    assert warning_spec("") is None and warning_spec(None) is None and warning_spec("bogus") is None
