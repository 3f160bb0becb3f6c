"""Evaluating a pending job's --dependency against the ledger."""

from __future__ import annotations

from flowslurm.engine.model import FINISHED_STATES
from flowslurm.errors import SlurmInputError
from flowslurm.record import Record
from flowslurm.slurm.jobrefs import parse_dependency

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from flowslurm.slurm.jobrefs import DepClause


class Verdict(Record):
    __slots__ = ("state", "wake_at")

    def __init__(self, state: str, wake_at: float | None = None) -> None:
        self.state = state  # "ok" | "wait" | "never"
        self.wake_at = wake_at


def _targets(conn: sqlite3.Connection, clause: DepClause,
             my_task: int | None = None) -> list[tuple[str, float | None, float | None, int | None]]:
    task = clause.task if clause.task is not None else my_task
    if task is not None:
        sql, args = "array_job_id = ? AND array_task_id = ?", (clause.job_id, task)
    else:
        sql, args = "job_id = ? OR array_job_id = ?", (clause.job_id, clause.job_id)
    return conn.execute(f"SELECT state, start_time, end_time, exit_code FROM jobs WHERE {sql}", args).fetchall()


def _clause(conn: sqlite3.Connection, job_id: int, clause: DepClause, now: float) -> Verdict:
    if clause.kind == "singleton":
        me = conn.execute("SELECT name, uid FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        other = conn.execute(
            "SELECT 1 FROM jobs WHERE name = ? AND uid = ? AND job_id < ? AND state IN"
            " ('PENDING','RUNNING','SUSPENDED','COMPLETING','CONFIGURING','REQUEUED') LIMIT 1",
            (me[0], me[1], job_id),
        ).fetchone()
        return Verdict("wait" if other else "ok")
    my_task = None
    if clause.kind == "aftercorr":  # each task waits for the task of the same index in the other array
        my_task = conn.execute("SELECT array_task_id FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0]
    rows = _targets(conn, clause, my_task)
    if not rows:
        return Verdict("ok")  # SLURM 22.05 accepts an unknown id and treats it as gone
    delay = clause.delay * 60
    wake: float | None = None
    verdicts = []
    for state, start, end, _code in rows:
        finished = state in FINISHED_STATES
        if clause.kind == "after":
            if start is None and not finished:
                verdicts.append("wait")
                continue
            ready_at = (start or end or now) + delay
        elif clause.kind in ("afterany", "afterburstbuffer"):
            if not finished:
                verdicts.append("wait")
                continue
            ready_at = (end or now) + delay
        elif clause.kind in ("afterok", "aftercorr"):
            if not finished:
                verdicts.append("wait")
                continue
            if state != "COMPLETED":
                verdicts.append("never")
                continue
            ready_at = (end or now) + delay
        elif clause.kind == "afternotok":
            if not finished:
                verdicts.append("wait")
                continue
            if state == "COMPLETED":
                verdicts.append("never")
                continue
            ready_at = (end or now) + delay
        else:
            verdicts.append("never")
            continue
        if ready_at > now:
            verdicts.append("wait")
            wake = ready_at if wake is None else max(wake, ready_at)
        else:
            verdicts.append("ok")
    if "never" in verdicts:
        return Verdict("never")
    if "wait" in verdicts:
        return Verdict("wait", wake)
    return Verdict("ok")


def evaluate(conn: sqlite3.Connection, job_id: int, text: str, now: float) -> Verdict:
    try:
        dep = parse_dependency(text)
    except SlurmInputError:
        return Verdict("never")
    if dep is None:
        return Verdict("ok")
    results = [_clause(conn, job_id, c, now) for c in dep.clauses]
    if dep.any_of:
        if any(r.state == "ok" for r in results):
            return Verdict("ok")
        if all(r.state == "never" for r in results):
            return Verdict("never")
    else:
        if any(r.state == "never" for r in results):
            return Verdict("never")
        if all(r.state == "ok" for r in results):
            return Verdict("ok")
    wakes = [r.wake_at for r in results if r.wake_at is not None]
    return Verdict("wait", min(wakes) if wakes else None)
