"""Requeue: a job's run ends and the job waits again under the same id, as slurmctld 22.05 does it
(`scontrol requeue`, `scontrol requeuehold`, src/slurmctld/job_mgr.c `_job_requeue_op` and
`batch_requeue_fini`).

A finished job is requeued at once. A running job gets a request in its row (`requeue_request`)
and a nudge to its shepherd, which ends the job's processes as a cancel does and then, in the same
transaction that records how the run ended, calls `end_run`: the run is kept in the `runs` table
(state REQUEUED, with its steps, for `sacct --duplicates`) and the row goes back to PENDING with
`restart_count` one higher, a begin time a little ahead (SLURM waits for the old credential to
expire: 121 s; `requeue_delay_s`), reason BeginTime (JobHeldUser for requeuehold), and none of the
run's allocation. If the shepherd dies first, recovery (engine.daemon) finishes the requeue. The
launch lock still passes from shepherd to shepherd, so the job never runs twice at once.
"""

from __future__ import annotations

import os
import time
from _signal import SIGUSR1

from flowslurm.engine.ledger import JOB_COLUMNS, STEP_COLUMNS, _q
from flowslurm.engine.model import RUNNING_STATES

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job

# slurm_strerror() texts, as `scontrol requeue` prints them ("<text> for job <id>").
INVALID = "Invalid job id specified"
DISABLED = "Requested operation is presently disabled"  # ESLURM_DISABLED: the job has --no-requeue
PENDING = "Job is pending execution"  # ESLURM_JOB_PENDING: nothing to requeue yet
BATCH_ONLY = "Only batch jobs are accepted or processed"
DEFAULT_DELAY_S = 121.0  # slurmctld: begin_time = now + credential expiry window (120 s) + 1


def requeue_delay() -> float:
    from flowslurm import config

    try:
        return max(0.0, float(config.setting("local", "requeue_delay_s", "FLOWSLURM_REQUEUE_DELAY", DEFAULT_DELAY_S)))
    except (TypeError, ValueError):
        return DEFAULT_DELAY_S


def request(ledger: Ledger, job_ids: list[int], *, hold: bool = False, incomplete: bool = False,
            now: float | None = None, reschedule: bool = True) -> dict[int, str]:
    """Requeue jobs; returns, per job id, SLURM's error text for the jobs that were not requeued.

    `hold` is requeuehold (the job waits held, reason JobHeldUser). `incomplete` is the Incomplete
    option: only running or suspended jobs are requeued, the others are left alone without error.
    The checks come in slurmctld's order: --no-requeue, batch jobs only, then pending."""
    now = time.time() if now is None else now
    delay = requeue_delay()
    errors: dict[int, str] = {}
    shepherds: list[int] = []
    asked_running = 0
    ended = False
    with ledger.write() as conn:
        for job_id in job_ids:
            row = conn.execute(
                "SELECT state, requeue, script_id, shepherd_pid, requeue_request, json_extract(spec, '$.interactive')"
                " FROM jobs WHERE job_id = ?", (job_id,)
            ).fetchone()
            if row is None:
                errors[job_id] = INVALID
                continue
            state, may_requeue, script_id, shepherd, asked, interactive = row
            running = state in RUNNING_STATES
            if incomplete and not (running and not asked):
                continue
            if not may_requeue:
                errors[job_id] = DISABLED
            elif script_id is None or interactive:  # an srun/salloc allocation has no script to run again
                errors[job_id] = BATCH_ONLY
            elif state == "PENDING" or asked:  # a requeue under way: the job is already pending in SLURM's eyes
                errors[job_id] = PENDING
            elif running:
                # Requeue wins over a cancel in progress, as slurmctld requeues a completing job.
                conn.execute("UPDATE jobs SET requeue_request = ?, cancel_requested = NULL WHERE job_id = ?",
                             ("hold" if hold else "requeue", job_id))
                asked_running += 1
                if shepherd:
                    shepherds.append(shepherd)
            else:  # finished: requeued at once
                conn.execute("UPDATE jobs SET requeue_request = ? WHERE job_id = ?", ("hold" if hold else "requeue", job_id))
                end_run(conn, job_id, now, delay)
                ended = True
    orphans = len(shepherds) < asked_running
    for pid in shepherds:
        try:
            os.kill(pid, SIGUSR1)  # it reads its mailbox, ends the run and calls end_run
        except (ProcessLookupError, PermissionError):
            orphans = True
        else:
            orphans = orphans or _zombie(pid)
    if (ended or orphans) and reschedule:
        from flowslurm import config
        from flowslurm.engine import runner

        if ended:
            runner.after_change(ledger, config.home_dir(), config.node())
        else:  # a shepherd that is gone (or not started yet): the daemon's recovery finishes the requeue
            runner.ensure_daemon(config.home_dir())
    return errors


def _zombie(pid: int) -> bool:
    """A process that died but was not reaped yet (its signals go nowhere)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2][1:2] in (b"Z", b"X")
    except OSError:
        return True


def end_run(conn: sqlite3.Connection, job_id: int, now: float, delay: float | None = None) -> bool:
    """Inside a write transaction, after a run's outcome is written: when a requeue was asked for,
    keep the run in `runs` and put the job back to PENDING. Returns whether it did.

    A cancel that came after the requeue finds the job pending in SLURM, so the job then ends
    CANCELLED (still with the run kept and the restart counted)."""
    cols = _q(JOB_COLUMNS)
    row = conn.execute(f"SELECT {cols}, requeue_request, cancel_requested FROM jobs WHERE job_id = ?",
                       (job_id,)).fetchone()
    if row is None or not row[len(JOB_COLUMNS)]:
        return False
    import json

    values = dict(zip(JOB_COLUMNS, row))
    mode, cancel_uid = row[len(JOB_COLUMNS)], row[len(JOB_COLUMNS) + 1]
    restart = int(values["restart_count"] or 0)
    record = dict(values, state="REQUEUED", end_time=values["end_time"] or now)
    steps = conn.execute(f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE job_id = ? ORDER BY rowid",
                         (job_id,)).fetchall()
    conn.execute("INSERT OR REPLACE INTO runs (job_id, restart, job, steps) VALUES (?, ?, ?, ?)",
                 (job_id, restart, json.dumps(record), json.dumps([list(s) for s in steps])))
    conn.execute("DELETE FROM steps WHERE job_id = ?", (job_id,))
    begin = values["begin_time"]
    if begin is None or begin <= now:
        begin = now + (requeue_delay() if delay is None else delay)
    held = mode == "hold"
    new: dict[str, object] = dict(
        state="PENDING", reason="JobHeldUser" if held else "BeginTime", restart_count=restart + 1, submit_time=now,
        eligible_time=None, start_time=None, end_time=None, begin_time=begin, node_list="", batch_host="", gpu_ids="",
        exit_code=None, exit_signal=None, derived_exit_code=0, derived_exit_signal=0, cancelled_by=None,
        shepherd_pid=None, job_pid=None, launch_token=None, signal_request=None, requeue_request=None,
        cancel_requested=None,
    )
    if held:
        new.update(held="user", priority=0)
    if cancel_uid is not None:
        new.update(state="CANCELLED", end_time=now, exit_code=0, exit_signal=0, cancelled_by=cancel_uid,
                   cancel_requested=cancel_uid)
    sets = ", ".join(f'"{k}" = ?' for k in new)
    conn.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", [*new.values(), job_id])
    return True


def accounting_records(ledger: Ledger, jobs: list[Job], *, duplicates: bool = False) -> list[Job]:
    """The records `sacct` shows for these jobs. A requeued job's earlier runs are REQUEUED records
    of their own: while the job waits to run again its latest record is its last run's (that is what
    slurmdbd holds until the job starts), and --duplicates (-D) lists every run, oldest first."""
    ids = [job.job_id for job in jobs if job.restart_count]
    if not ids:
        return jobs
    earlier: dict[int, list[Job]] = {}
    for run in ledger.runs(ids):
        earlier.setdefault(run.job_id, []).append(run)
    out: list[Job] = []
    for job in jobs:
        runs = earlier.get(job.job_id)
        if not runs:
            out.append(job)
            continue
        waiting = job.state == "PENDING" and job.start_time is None  # not started again: no record of its own yet
        if duplicates:
            out.extend(runs)
            if not waiting:
                out.append(job)
        else:
            out.append(runs[-1] if waiting else job)
    return out
