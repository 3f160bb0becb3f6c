"""Job steps in the ledger: attaching to an allocation, numbering steps, recording how they ended.

`srun` inside a job (a batch job or an allocation from `salloc`/`srun`) finds the job from
SLURM_JOB_ID alone, takes the next step number in one write transaction, runs its tasks, and
records the outcome: the step's row (sacct's `ID.0`, `ID.1`...) and the job's DerivedExitCode.
"""

from __future__ import annotations

import time

from flowslurm.engine.model import FINISHED_STATES, Job, Step
from flowslurm.errors import SlurmInputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.engine.ledger import Ledger


def allocation(ledger: Ledger, job_id: int) -> tuple[Job, str]:
    """The running job a step joins, and its launch token; SLURM's error when there is none."""
    job = ledger.job(job_id)
    if job is None or job.state in FINISHED_STATES or job.state == "PENDING":
        state = "Invalid job id specified" if job is None or job.state == "PENDING" else \
            "Job/step already completing or completed"
        raise SlurmInputError(
            f"Unable to confirm allocation for job {job_id}: {state}\n"
            f"srun: Check SLURM_JOB_ID environment variable. Expired or invalid job {job_id}", 1,
        )
    token = ledger.internal(job_id, "launch_token")[0] or ""
    return job, str(token)


def begin(ledger: Ledger, job: Job, name: str, ntasks: int, ncpus: int, node: str) -> int:
    """Number and record a new RUNNING step; returns its number (0, 1, ...)."""
    with ledger.write() as conn:
        numbers = [int(s) for (s,) in conn.execute("SELECT step_id FROM steps WHERE job_id = ?", (job.job_id,))
                   if s.isdigit()]
        number = max(numbers) + 1 if numbers else 0
        ledger.upsert_step(conn, Step(job.job_id, str(number), name, "RUNNING", start_time=time.time(), ntasks=ntasks,
                                      ncpus=ncpus, node_list=node))
    return number


def finish(ledger: Ledger, job: Job, number: int, name: str, state: str, code: int, sig: int, ntasks: int,
           ncpus: int, node: str, start: float) -> None:
    """Record the step's end; the job's DerivedExitCode becomes the highest exit code of its steps."""
    with ledger.write() as conn:
        ledger.upsert_step(conn, Step(job.job_id, str(number), name, state, code, sig, start, time.time(), ntasks,
                                      ncpus, node))
        conn.execute(
            "UPDATE jobs SET derived_exit_code = ?, derived_exit_signal = ? WHERE job_id = ?"
            " AND (COALESCE(derived_exit_code, 0) < ? OR (COALESCE(derived_exit_code, 0) = ?"
            " AND COALESCE(derived_exit_signal, 0) < ?))",
            (code, sig, job.job_id, code, code, sig),
        )
