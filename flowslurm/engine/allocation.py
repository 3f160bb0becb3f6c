"""Interactive allocations: the job that `srun` (outside a job) and `salloc` ask for and then own.

The allocation is an ordinary job in the ledger (it waits for resources, shows in squeue and
sacct, takes scancel and its time limit), except that no script runs: when the scheduler starts
it, a shepherd holds it (flowslurm.providers.local.holder) while the owning process runs steps in
it. The owner records how it ended and releases it; if the owner vanishes, the holder does.
"""

from __future__ import annotations

import time

from flowslurm.engine import runner
from flowslurm.engine.model import FINISHED_STATES
from flowslurm.engine.model import RUNNING_STATES as ACTIVE  # what release may still end
from flowslurm.engine.submit import cancel, submit
from flowslurm.errors import SlurmInputError, SubmitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import TextIO

    from flowslurm.config import Node
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job
    from flowslurm.engine.spec import JobSpec

POLL_S = 0.005
POLL_MAX_S = 0.1
REASONS = {"COMPLETED": "None", "FAILED": "NonZeroExitCode", "TIMEOUT": "TimeLimit"}


def request(spec: JobSpec, ledger: Ledger, home: str | Path, node: Node, prog: str, stderr: TextIO,
            wait_s: float | None = None) -> tuple[Job, str]:
    """Submit the allocation and wait until it is granted and held; returns (job, launch token).

    Says what srun/salloc say while waiting; `wait_s` is --immediate's patience. A Ctrl-C while
    waiting withdraws the request, so no allocation is left behind."""
    try:
        job_id = submit(spec, home=home, node=node, ledger=ledger)[0].job_id
    except SubmitError as err:  # sbatch's wording, said as srun and salloc say it
        failed = "Unable to allocate resources:" if prog == "srun" else "Job submit/allocate failed:"
        raise SubmitError(err.message.replace("Batch job submission failed:", failed)) from None
    announced = False
    started, delay = time.monotonic(), POLL_S
    try:
        while True:
            state, reason, held = _state(ledger, job_id)
            if state in ACTIVE and held:
                break
            if state in FINISHED_STATES:
                if announced:
                    stderr.write(f"{prog}: Job has been cancelled\n")
                if prog == "salloc":
                    stderr.write(f"salloc: Job allocation {job_id} has been revoked.\n")
                    raise SlurmInputError("Job submit/allocate failed: Job/step already completing or completed", 1)
                raise SlurmInputError("Unable to allocate resources: Job/step already completing or completed", 1)
            if state == "PENDING" and not announced:
                if wait_s is not None and time.monotonic() - started >= wait_s:
                    cancel(ledger, [job_id], spec.uid, home=home)
                    raise SlurmInputError("Unable to allocate resources: Requested nodes are busy", 1)
                if wait_s is None:
                    if reason == "PartitionConfig":
                        stderr.write(f"{prog}: Requested partition configuration not available now\n")
                    if prog == "salloc":
                        stderr.write(f"salloc: Pending job allocation {job_id}\n")
                    stderr.write(f"{prog}: job {job_id} queued and waiting for resources\n")
                    stderr.flush()
                    announced = True
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX_S)
    except KeyboardInterrupt:
        cancel(ledger, [job_id], spec.uid, home=home)
        stderr.write(f"{prog}: Job allocation {job_id} has been revoked.\n")
        raise SlurmInputError("", 1, label="bare") from None
    if announced:
        stderr.write(f"{prog}: job {job_id} has been allocated resources\n")
    if prog == "salloc":
        stderr.write(f"salloc: Granted job allocation {job_id}\n")
    job = ledger.job(job_id)
    assert job is not None
    return job, str(ledger.internal(job_id, "launch_token")[0] or "")


def _state(ledger: Ledger, job_id: int) -> tuple[str, str, bool]:
    state, reason, job_pid = ledger.conn.execute(
        "SELECT state, reason, job_pid FROM jobs WHERE job_id = ?", (job_id,)
    ).fetchone()
    return state, reason, job_pid is not None


def job_state(ledger: Ledger, job_id: int) -> str:
    return str(ledger.conn.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0])


def release(ledger: Ledger, home: str | Path, node: Node, job: Job, state: str, code: int, sig: int) -> bool:
    """End the allocation as its owner saw it end; False when it had already ended (scancel, time limit)."""
    marks = ",".join("?" * len(ACTIVE))
    with ledger.write() as conn:
        cur = conn.execute(
            f"UPDATE jobs SET state = ?, reason = ?, exit_code = ?, exit_signal = ?, end_time = ?"
            f" WHERE job_id = ? AND state IN ({marks})",
            (state, REASONS.get(state, "None"), code, sig, time.time(), job.job_id, *ACTIVE),
        )
        released = cur.rowcount > 0
    runner.after_change(ledger, home, node)
    return released
