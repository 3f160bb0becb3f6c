"""The job model shared by the engine, the ledger and the SLURM formatters.

A `Job` is one row of the ledger: a batch job, or one task of a job array (each task has its own
raw job id, as in SLURM). A `Step` is a row of the steps table: the `batch` step of a batch job
and the numbered steps that `srun` launches inside an allocation.

Times are POSIX seconds (float) or None. Memory is in MiB. `time_limit` is in minutes; None means
UNLIMITED and TIME_LIMIT_INVALID marks the value SLURM shows as INVALID (e.g. `--time=-5`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TIME_LIMIT_INVALID = -1

# Long state names and the compact codes squeue prints with %t.
STATE_CODES: dict[str, str] = {
    "PENDING": "PD",
    "RUNNING": "R",
    "SUSPENDED": "S",
    "COMPLETING": "CG",
    "COMPLETED": "CD",
    "CONFIGURING": "CF",
    "CANCELLED": "CA",
    "FAILED": "F",
    "TIMEOUT": "TO",
    "PREEMPTED": "PR",
    "NODE_FAIL": "NF",
    "BOOT_FAIL": "BF",
    "DEADLINE": "DL",
    "OUT_OF_MEMORY": "OOM",
    "REQUEUED": "RQ",
    "REQUEUE_HOLD": "RH",
    "REQUEUE_FED": "RF",
    "RESIZING": "RS",
    "REVOKED": "RV",
    "SIGNALING": "SI",
    "SPECIAL_EXIT": "SE",
    "STAGE_OUT": "SO",
    "STOPPED": "ST",
}

ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED"})
FINISHED_STATES = frozenset(STATE_CODES) - ACTIVE_STATES


@dataclass(slots=True)
class Step:
    job_id: int
    step_id: str  # "batch", "extern", "0", "1", ...
    name: str
    state: str = "RUNNING"
    exit_code: int = 0
    exit_signal: int = 0
    start_time: float | None = None
    end_time: float | None = None
    ntasks: int = 1
    ncpus: int = 1
    node_list: str = ""
    mem_mb: int = 0


@dataclass(slots=True)
class Job:
    job_id: int
    name: str = "sbatch"
    user: str = ""
    uid: int = 0
    gid: int = 0
    group: str = ""
    account: str = ""
    partition: str = "debug"
    qos: str = "normal"
    state: str = "PENDING"
    reason: str = "None"
    priority: int = 0
    # array bookkeeping: a task has array_job_id and array_task_id. A not-yet-split pending array
    # is represented by its master row with array_task_id None and array_spec the remaining tasks.
    array_job_id: int | None = None
    array_task_id: int | None = None
    array_spec: str | None = None
    array_throttle: int = 0
    submit_time: float = 0.0
    eligible_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    begin_time: float | None = None
    time_limit: int | None = None
    nodes: int = 1
    ntasks: int = 1
    cpus_per_task: int = 1
    num_cpus: int = 1
    mem_mb: int = 0  # per node
    mem_per_cpu_mb: int = 0  # when the request was --mem-per-cpu
    gpus: int = 0
    tres_per_node: str = ""  # e.g. "gres:gpu:1" as squeue %b shows it
    gpu_ids: str = ""  # allocated devices, "0,1"
    exit_code: int | None = None
    exit_signal: int | None = None
    derived_exit_code: int = 0
    derived_exit_signal: int = 0
    work_dir: str = ""
    submit_dir: str = ""
    stdout: str = ""  # resolved path
    stderr: str = ""
    stdin: str = "/dev/null"
    command: str | None = None  # script path as given to sbatch, None for --wrap / stdin
    dependency: str = ""
    node_list: str = ""
    batch_host: str = ""
    cancelled_by: int | None = None
    restart_count: int = 0
    requeue: bool = True
    held: str = ""  # "", "user" or "admin"
    provider: str = "local"
    provider_handle: str = ""
    comment: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)

    @property
    def display_id(self) -> str:
        """The id as squeue and sacct print it: `123`, `123_4` or `123_[5-9%2]`."""
        if self.array_job_id is None:
            return str(self.job_id)
        if self.array_task_id is None:
            return f"{self.array_job_id}_[{self.array_spec}]"
        return f"{self.array_job_id}_{self.array_task_id}"

    @property
    def is_array(self) -> bool:
        return self.array_job_id is not None

    @property
    def state_code(self) -> str:
        return STATE_CODES.get(self.state, self.state[:2])

    def elapsed(self, now: float) -> int:
        """Whole seconds the job has run (0 while pending)."""
        if self.start_time is None:
            return 0
        end = self.end_time if self.end_time is not None else now
        return max(0, int(end - self.start_time))
