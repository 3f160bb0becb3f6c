"""Changing queued jobs: hold, release and update (the engine side of `scontrol`).

Each operation is one write transaction; a release (or an update that may let a job start) is
followed by a scheduling pass, so released jobs start at once. Functions return, per job id,
SLURM's error text for the jobs they could not change (an empty dict when all went well).
"""

from __future__ import annotations

from flowslurm.engine.ledger import Ledger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PRIORITY_BASE = 4294901760  # as engine.submit
NOT_PENDING = "Job is no longer pending execution"
FINISHED = "Job/step already completing or completed"
DENIED = "Access/permission denied"
_ACTIVE = ("PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED")


def _reschedule(ledger: Ledger) -> None:
    from flowslurm import config
    from flowslurm.engine import runner

    runner.after_change(ledger, config.home_dir(), config.node())


def _base_priority(job_id: int, spec: dict[str, Any]) -> int:
    base = int(spec.get("priority") or 0) or max(1, PRIORITY_BASE - job_id)
    return max(1, base - int(spec.get("nice") or 0))


def hold(ledger: Ledger, job_ids: list[int], *, admin: bool) -> dict[int, str]:
    """Hold pending jobs: priority 0, reason JobHeldAdmin (admin) or JobHeldUser."""
    errors: dict[int, str] = {}
    kind, reason = ("admin", "JobHeldAdmin") if admin else ("user", "JobHeldUser")
    with ledger.write() as conn:
        for job_id in job_ids:
            row = conn.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                errors[job_id] = "Invalid job id specified"
            elif row[0] != "PENDING":
                errors[job_id] = NOT_PENDING
            else:
                conn.execute("UPDATE jobs SET held = ?, reason = ?, priority = 0 WHERE job_id = ?",
                             (kind, reason, job_id))
    return errors


def release(ledger: Ledger, job_ids: list[int], *, admin: bool, reschedule: bool = True) -> dict[int, str]:
    """Release held jobs (an admin hold needs an admin) and run a scheduling pass."""
    import json

    errors: dict[int, str] = {}
    released = False
    with ledger.write() as conn:
        for job_id in job_ids:
            row = conn.execute("SELECT state, held, spec FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                errors[job_id] = "Invalid job id specified"
                continue
            state, held, spec_text = row
            if state != "PENDING":
                errors[job_id] = NOT_PENDING
                continue
            if not held:
                continue
            if held == "admin" and not admin:
                errors[job_id] = DENIED
                continue
            priority = _base_priority(job_id, json.loads(spec_text or "{}"))
            conn.execute("UPDATE jobs SET held = '', reason = 'None', priority = ? WHERE job_id = ?",
                         (priority, job_id))
            released = True
    if released and reschedule:
        _reschedule(ledger)
    return errors


def node_usage(ledger: Ledger, provider: str = "local") -> tuple[int, int, int, float]:
    """(cpus, MiB, gpus) that running jobs hold, and when the node was last busy (0 = never)."""
    row = ledger.conn.execute(
        "SELECT COALESCE(SUM(num_cpus), 0), COALESCE(SUM(mem_mb), 0), COALESCE(SUM(gpus), 0), COUNT(*)"
        " FROM jobs WHERE state IN ('RUNNING','SUSPENDED','COMPLETING','CONFIGURING') AND provider = ?",
        (provider,),
    ).fetchone()
    last = ledger.conn.execute("SELECT MAX(end_time) FROM jobs WHERE provider = ?", (provider,)).fetchone()[0]
    if row[3]:
        import time

        last = time.time()
    return int(row[0]), int(row[1]), int(row[2]), float(last or 0.0)


def update(ledger: Ledger, job_ids: list[int], *, columns: dict[str, Any] | None = None,
           spec_changes: dict[str, Any] | None = None, time_delta: int = 0,
           pending_only: frozenset[str] = frozenset(), reschedule: bool = True) -> dict[int, str]:
    """Change job fields: `columns` are ledger columns set as given, `spec_changes` keys of the
    stored spec; `time_delta` adds minutes to the time limit (`TimeLimit=+5`). Columns named in
    `pending_only` may change only while a job is pending. A new `nice` recomputes the priority."""
    import json

    columns = dict(columns or {})
    spec_changes = dict(spec_changes or {})
    errors: dict[int, str] = {}
    changed = False
    with ledger.write() as conn:
        for job_id in job_ids:
            row = conn.execute("SELECT state, time_limit, spec, held FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                errors[job_id] = "Invalid job id specified"
                continue
            state, limit, spec_text, held = row
            if state not in _ACTIVE:
                errors[job_id] = FINISHED
                continue
            if state != "PENDING" and (pending_only & (set(columns) | set(spec_changes))):
                errors[job_id] = NOT_PENDING
                continue
            values = dict(columns)
            if time_delta:
                if limit is None or limit < 0:
                    errors[job_id] = "Invalid time limit specification"
                    continue
                values["time_limit"] = max(0, limit + time_delta) or None
            if spec_changes:
                spec = json.loads(spec_text or "{}")
                spec.update(spec_changes)
                values["spec"] = json.dumps(spec)
                if "nice" in spec_changes and not held and state == "PENDING":
                    values["priority"] = _base_priority(job_id, spec)
            if values:
                sets = ", ".join(f'"{k}" = ?' for k in values)
                conn.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", [*values.values(), job_id])
                changed = True
    if changed and reschedule:
        _reschedule(ledger)
    return errors
