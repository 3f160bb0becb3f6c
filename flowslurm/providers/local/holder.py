"""The holder: the shepherd of an interactive allocation (srun or salloc outside a job).

No script runs. The holder keeps the allocation while its owner (the srun or salloc process)
lives, and does for it what a batch job's shepherd does: enforce the time limit, carry out
scancel and scancel --signal, and end every process of the allocation (the owner's steps carry
the job's token) when it is over. The owner normally releases the allocation itself
(flowslurm.engine.allocation.release); if the owner vanishes first, the holder ends it.
"""

from __future__ import annotations

import os
import select
import signal
import time

from flowslurm.engine import runner
from flowslurm.engine.model import RUNNING_STATES as ACTIVE
from flowslurm.providers.local import proctree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.engine.model import Job
    from flowslurm.providers.local.shepherd import Shepherd



def _end(sh: Shepherd, state: str, reason: str, sig: int, cancel_uid: int | None = None) -> None:
    """End the allocation unless its owner already released it."""
    marks = ",".join("?" * len(ACTIVE))
    with sh.ledger.write() as conn:
        conn.execute(
            f"UPDATE jobs SET state = ?, reason = ?, exit_code = 0, exit_signal = ?, end_time = ?, cancelled_by = ?,"
            f" shepherd_pid = NULL WHERE job_id = ? AND state IN ({marks})",
            (state, reason, sig, time.time(), cancel_uid, sh.job_id, *ACTIVE),
        )
        conn.execute("UPDATE steps SET state = 'CANCELLED', end_time = ? WHERE job_id = ? AND state = 'RUNNING'",
                     (time.time(), sh.job_id))


def _owner_fd(owner: int | None) -> int | None:
    if not owner:
        return None
    try:
        return os.pidfd_open(owner)
    except (ProcessLookupError, OSError):
        return -1  # already gone


def hold(sh: Shepherd, job: Job) -> None:
    owner = job.spec.get("alloc_owner")
    owner_fd = _owner_fd(owner)
    with sh.ledger.write() as conn:
        sh.ledger.update(conn, sh.job_id, shepherd_pid=os.getpid(), job_pid=os.getpid())
    os.write(sh.wake_w, b"m")  # read the mailbox once: a cancel may have come before we were known
    ending: str | None = None
    kill_at: float | None = None
    while True:
        row = sh.ledger.conn.execute(
            "SELECT state, time_limit FROM jobs WHERE job_id = ?", (sh.job_id,)
        ).fetchone()
        if ending is None and (row is None or row[0] not in ACTIVE):
            break  # the owner released it
        now = time.time()
        limit = row[1] if row else None
        deadline = job.start_time + limit * 60 if limit and limit > 0 and job.start_time else None
        if owner_fd == -1 and ending is None:
            _end(sh, "CANCELLED", "None", 0)  # the owner is gone without a word
            proctree.signal_job(sh.token, signal.SIGKILL)
            break
        if ending is None and deadline is not None and now >= deadline:
            ending = "TIMEOUT"
            _end(sh, "TIMEOUT", "TimeLimit", 0)
        if ending is not None and kill_at is None:
            for sig in proctree.SIGNALS_TERMINATE:
                proctree.signal_job(sh.token, sig)
            kill_at = now + sh.node.kill_wait_s
        if kill_at is not None:
            if now >= kill_at or not proctree.job_pids(sh.token):
                proctree.signal_job(sh.token, signal.SIGKILL)
                break
        waits = [5.0]
        if deadline is not None and ending is None:
            waits.append(deadline - now)
        if kill_at is not None:
            waits.append(min(kill_at - now, 0.2))
        fds = [sh.wake_r] + ([owner_fd] if owner_fd is not None and owner_fd >= 0 else [])
        ready, _, _ = select.select(fds, [], [], max(0.0, min(waits)))
        if owner_fd is not None and owner_fd >= 0 and owner_fd in ready:
            os.close(owner_fd)
            owner_fd = -1
        if sh.wake_r in ready:
            cancel_uid, request = sh._mailbox()[:2]
            if request:
                signum, _, _scope = request.partition(":")
                for pid in proctree.job_pids(sh.token, also="SLURM_STEP_ID"):
                    try:
                        os.kill(pid, int(signum))
                    except (ProcessLookupError, PermissionError):
                        pass
            if cancel_uid is not None and ending is None:
                ending = "CANCELLED"
                _end(sh, "CANCELLED", job.reason, signal.SIGTERM, cancel_uid)
    if owner_fd is not None and owner_fd >= 0:
        os.close(owner_fd)
    proctree.signal_job(sh.token, signal.SIGKILL)  # nothing of an allocation outlives it
    runner.after_change(sh.ledger, sh.home, sh.node)
