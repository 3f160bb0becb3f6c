"""The scheduling pass: decide which pending jobs start now, and why the others wait.

One pass is one write transaction, so passes run by different processes (sbatch, a job's
shepherd as it ends, the engine daemon) are serialised by SQLite itself. A job is claimed
(PENDING -> RUNNING) inside the transaction while the claimer holds the job's launch lock;
the provider then launches it after the commit and the lock passes to the job's shepherd.
If the claimer dies in between, the lock is free and recovery returns the job to PENDING:
a job is never lost and never runs twice.
"""

from __future__ import annotations

import fcntl
import os
import time

from flowslurm.engine import deps
from flowslurm.engine.model import RUNNING_STATES as ACTIVE_RUNNING
from flowslurm.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

    from flowslurm.config import Node
    from flowslurm.engine.ledger import Ledger


class Claim(Record):
    __slots__ = ("job_id", "lock_fd", "token")

    def __init__(self, job_id: int, lock_fd: int, token: str) -> None:
        self.job_id = job_id
        self.lock_fd = lock_fd
        self.token = token


class PassResult(Record):
    __slots__ = ("claims", "pending", "next_wakeup", "remote")

    def __init__(self, claims: list[Claim] | None = None, pending: int = 0, next_wakeup: float | None = None) -> None:
        self.claims: list[Claim] = [] if claims is None else claims
        self.pending = pending
        self.next_wakeup = next_wakeup  # earliest begin time or dependency delay among pending jobs
        self.remote = 0  # remote jobs released to their provider in this pass (the daemon starts them)


def lock_path(home: str | Path, job_id: int) -> str:
    return os.path.join(home, "locks", f"{job_id}.lock")


def take_lock(home: str | Path, job_id: int) -> int | None:
    """Open and exclusively lock a job's launch lock; None when someone (a live shepherd) holds it."""
    path = lock_path(home, job_id)
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _free_resources(conn: sqlite3.Connection, node: Node) -> tuple[int, int, set[int], dict[int, int]]:
    cpus, mem = node.cpus, node.memory_mb
    gpus = set(range(node.gpus))
    running_per_array: dict[int, int] = {}
    marks = ",".join("?" * len(ACTIVE_RUNNING))
    # A remote job released to its provider counts against its array's throttle from then on, as
    # it may be granted machines at any moment; it takes nothing from this machine.
    for num_cpus, mem_mb, gpu_ids, array_job_id, local in conn.execute(
        f"SELECT num_cpus, mem_mb, gpu_ids, array_job_id, provider = 'local' FROM jobs WHERE state IN ({marks})"
        " OR (state = 'PENDING' AND provider != 'local' AND launch_token IS NOT NULL)",
        ACTIVE_RUNNING,
    ):
        if local:
            cpus -= num_cpus or 0
            mem -= mem_mb or 0
            for g in (gpu_ids or "").split(","):
                if g:
                    gpus.discard(int(g))
        if array_job_id is not None:
            running_per_array[array_job_id] = running_per_array.get(array_job_id, 0) + 1
    return cpus, mem, gpus, running_per_array


def _task_id(ledger: Ledger, conn: sqlite3.Connection, placeholder: int, array_id: int) -> int:
    """The id an array task takes as it starts: a new one, or the array's own for its last pending task."""
    others = conn.execute(
        "SELECT 1 FROM jobs WHERE array_job_id = ? AND job_id < 0 AND job_id != ? AND state = 'PENDING' LIMIT 1",
        (array_id, placeholder),
    ).fetchone()
    return array_id if others is None else ledger.next_id(conn)


def _split_task(ledger: Ledger, conn: sqlite3.Connection, placeholder: int, new_id: int, node: Node) -> None:
    """Give a starting array task its own id, and the output files that id names (%j)."""
    from flowslurm.engine.model import Job
    from flowslurm.engine.submit import output_paths

    row = conn.execute(
        "SELECT work_dir, name, user, array_job_id, array_task_id, json_extract(spec, '$.output'),"
        " json_extract(spec, '$.error') FROM jobs WHERE job_id = ?", (placeholder,)
    ).fetchone()
    job = Job(new_id, name=row[1], user=row[2], array_job_id=row[3], array_task_id=row[4], work_dir=row[0])
    stdout, stderr = output_paths(job, row[5] or "", row[6] or "", node.name)
    ledger.reserve_id(conn, new_id)
    conn.execute("UPDATE jobs SET job_id = ?, stdout = ?, stderr = ? WHERE job_id = ?",
                 (new_id, stdout, stderr, placeholder))


def _release_remote(ledger: Ledger, conn: sqlite3.Connection, job_id: int, array_id: int | None, node: Node,
                    now: float) -> None:
    """A remote job may run: it stays PENDING (reason Resources) until its provider grants machines,
    and takes a launch token, which hands it to the daemon's remote pass. An array task gets its own
    id now, as a local one does when it starts."""
    if job_id < 0 and array_id is not None:
        new_id = _task_id(ledger, conn, job_id, array_id)
        _split_task(ledger, conn, job_id, new_id, node)
        job_id = new_id
    conn.execute(
        "UPDATE jobs SET reason = 'Resources', launch_token = ?, eligible_time = COALESCE(eligible_time, ?)"
        " WHERE job_id = ?",
        (f"{job_id}-{os.getpid()}-{time.monotonic_ns()}", now, job_id),
    )


def schedule(ledger: Ledger, node: Node, home: str | Path, now: float | None = None) -> PassResult:
    """Run one pass; returns the jobs claimed (to be launched by the caller) and when to look again."""
    now = time.time() if now is None else now
    result = PassResult()
    with ledger.write() as conn:
        free_cpus, free_mem, free_gpus, running_per_array = _free_resources(conn, node)
        rows = conn.execute(
            "SELECT job_id, held, begin_time, dependency, array_job_id, array_throttle, num_cpus, mem_mb, gpus,"
            " reason, eligible_time, nodes, json_extract(spec, '$.deadline'), time_limit, provider = 'local'"
            " FROM jobs WHERE state = 'PENDING'"
            # held jobs got their reason when they were held; thousands of them cost a pass nothing;
            # a remote job with a launch token is its provider's until it runs
            " AND (held IS NULL OR held = '') AND (provider = 'local' OR launch_token IS NULL)"
            " ORDER BY priority DESC, job_id"
        ).fetchall()
        result.pending = len(rows)
        blocked = False
        updates: list[tuple[str, float | None, int]] = []
        for (job_id, held, begin, dependency, array_id, throttle, cpus, mem, ngpus, reason, eligible, nodes,
             deadline, limit, local) in rows:
            new_reason = ""
            if deadline is not None and now + max(limit or 0, 0) * 60 > deadline:
                # it could no longer end by its --deadline: SLURM ends it as DEADLINE (exit 0:1)
                conn.execute(
                    "UPDATE jobs SET state = 'DEADLINE', reason = 'DeadLine', end_time = ?, exit_code = 0,"
                    " exit_signal = 1 WHERE job_id = ?",
                    (now, job_id),
                )
                result.pending -= 1
                continue
            if local and (nodes > 1 or cpus > node.cpus):
                new_reason = "PartitionConfig"  # can never run on this node; it must not block the queue
            elif held:
                new_reason = "JobHeldAdmin" if held == "admin" else "JobHeldUser"
            elif begin is not None and begin > now:
                new_reason = "BeginTime"
                result.next_wakeup = min(begin, result.next_wakeup or begin)
            elif dependency:
                verdict = deps.evaluate(conn, job_id, dependency, now)
                if verdict.state == "wait":
                    new_reason = "Dependency"
                    if verdict.wake_at is not None:
                        result.next_wakeup = min(verdict.wake_at, result.next_wakeup or verdict.wake_at)
                elif verdict.state == "never":
                    import json

                    spec = json.loads(conn.execute("SELECT spec FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0])
                    if spec.get("kill_on_invalid_dep"):
                        conn.execute(
                            "UPDATE jobs SET state = 'CANCELLED', reason = 'DependencyNeverSatisfied', end_time = ?,"
                            " exit_code = 0, exit_signal = 0 WHERE job_id = ?",
                            (now, job_id),
                        )
                        continue
                    new_reason = "DependencyNeverSatisfied"
            if not new_reason and eligible is None:
                conn.execute("UPDATE jobs SET eligible_time = ? WHERE job_id = ?", (now, job_id))
            if not new_reason and array_id is not None and throttle and running_per_array.get(array_id, 0) >= throttle:
                new_reason = "JobArrayTaskLimit"
            if not new_reason and not local:
                _release_remote(ledger, conn, job_id, array_id, node, now)
                if array_id is not None:
                    running_per_array[array_id] = running_per_array.get(array_id, 0) + 1
                result.remote += 1
                continue
            if not new_reason:
                if blocked:
                    new_reason = "Priority"
                elif cpus <= free_cpus and mem <= free_mem and ngpus <= len(free_gpus):
                    new_id = job_id if job_id > 0 else _task_id(ledger, conn, job_id, array_id)
                    fd = take_lock(home, new_id)
                    if fd is None:  # a shepherd from an earlier launch still holds it; leave the job alone
                        continue
                    if new_id != job_id:
                        _split_task(ledger, conn, job_id, new_id, node)
                        job_id = new_id
                    gpu_ids = sorted(free_gpus)[:ngpus]
                    free_cpus -= cpus
                    free_mem -= mem
                    free_gpus.difference_update(gpu_ids)
                    if array_id is not None:
                        running_per_array[array_id] = running_per_array.get(array_id, 0) + 1
                    token = f"{job_id}-{os.getpid()}-{time.monotonic_ns()}"
                    conn.execute(
                        "UPDATE jobs SET state = 'RUNNING', reason = 'None', start_time = ?, node_list = ?,"
                        " batch_host = ?, gpu_ids = ?, launch_token = ?, shepherd_pid = NULL, job_pid = NULL,"
                        " eligible_time = COALESCE(eligible_time, ?) WHERE job_id = ? AND state = 'PENDING'",
                        (now, node.name, node.name, ",".join(map(str, gpu_ids)), token, now, job_id),
                    )
                    result.claims.append(Claim(job_id, fd, token))
                    result.pending -= 1
                    continue
                else:
                    new_reason = "Resources"
                    blocked = True
            if new_reason != reason:
                updates.append((new_reason, None, job_id))
        if updates:
            conn.executemany("UPDATE jobs SET reason = ? WHERE job_id = ? AND state = 'PENDING'",
                             [(r, j) for r, _, j in updates])
    return result
