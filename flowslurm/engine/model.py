"""The job model shared by the engine, the ledger and the SLURM formatters.

A `Job` is one row of the ledger: a batch job, or one task of a job array (each task has its own
raw job id, as in SLURM). A `Step` is a row of the steps table: the `batch` step of a batch job
and the numbered steps that `srun` launches inside an allocation.

Times are POSIX seconds (float) or None. Memory is in MiB. `time_limit` is in minutes; None means
UNLIMITED and TIME_LIMIT_INVALID marks the value SLURM shows as INVALID (e.g. `--time=-5`).
"""

from __future__ import annotations

from flowslurm.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
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

# An array task that has not started yet has no job id of its own: as in SLURM, it is part of the
# array's record, whose id (the master id) it shows. Its row is keyed by a placeholder below every
# real id, ordered by (master id, task index); it gets its own id when it starts (see scheduler).
_PLACEHOLDER_BASE = -(1 << 62)
_TASK_BITS = 22  # up to 4M tasks per array (MaxArraySize is at most 4,000,001)


def task_placeholder(array_job_id: int, task: int) -> int:
    return _PLACEHOLDER_BASE + (array_job_id << _TASK_BITS) + task


def raw_id(job_id: int, array_job_id: int | None) -> int:
    """The job id SLURM shows for a row: a task not started yet shows its array's master id."""
    return array_job_id if job_id < 0 and array_job_id is not None else job_id


# States in which a job holds its allocation (its resources count as taken).
RUNNING_STATES = ("RUNNING", "COMPLETING", "CONFIGURING", "SUSPENDED")
ACTIVE_STATES = frozenset({"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "REQUEUED"})
FINISHED_STATES = frozenset(STATE_CODES) - ACTIVE_STATES


class Step(Record):
    """One step of a job; the fields are the columns of the ledger's steps table, in order."""

    __slots__ = (
        "job_id", "step_id", "name", "state", "exit_code", "exit_signal", "start_time", "end_time", "ntasks",
        "ncpus", "node_list", "mem_mb",
    )

    def __init__(
        self,
        job_id: int,
        step_id: str,  # "batch", "extern", "0", "1", ...
        name: str,
        state: str = "RUNNING",
        exit_code: int = 0,
        exit_signal: int = 0,
        start_time: float | None = None,
        end_time: float | None = None,
        ntasks: int = 1,
        ncpus: int = 1,
        node_list: str = "",
        mem_mb: int = 0,
    ) -> None:
        self.job_id = job_id
        self.step_id = step_id
        self.name = name
        self.state = state
        self.exit_code = exit_code
        self.exit_signal = exit_signal
        self.start_time = start_time
        self.end_time = end_time
        self.ntasks = ntasks
        self.ncpus = ncpus
        self.node_list = node_list
        self.mem_mb = mem_mb


class Job(Record):
    """One job (or array task); the fields before `spec` are the ledger's job columns, in order.

    Plain classes, not dataclasses: see flowslurm.record. `copy(**changes)` replaces
    `dataclasses.replace`; the fields' types are those of `__init__`'s annotations."""

    __slots__ = (
        "job_id", "name", "user", "uid", "gid", "group", "account", "partition", "qos", "state", "reason",
        "priority", "array_job_id", "array_task_id", "array_spec", "array_throttle", "submit_time",
        "eligible_time", "start_time", "end_time", "begin_time", "time_limit", "nodes", "ntasks",
        "cpus_per_task", "num_cpus", "mem_mb", "mem_per_cpu_mb", "gpus", "tres_per_node", "gpu_ids",
        "exit_code", "exit_signal", "derived_exit_code", "derived_exit_signal", "work_dir", "submit_dir",
        "stdout", "stderr", "stdin", "command", "dependency", "node_list", "batch_host", "cancelled_by",
        "restart_count", "requeue", "held", "provider", "provider_handle", "comment", "spec", "steps",
    )

    def __init__(
        self,
        job_id: int,
        name: str = "sbatch",
        user: str = "",
        uid: int = 0,
        gid: int = 0,
        group: str = "",
        account: str = "",
        partition: str = "debug",
        qos: str = "normal",
        state: str = "PENDING",
        reason: str = "None",
        priority: int = 0,
        array_job_id: int | None = None,
        array_task_id: int | None = None,
        array_spec: str | None = None,
        array_throttle: int = 0,
        submit_time: float = 0.0,
        eligible_time: float | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
        begin_time: float | None = None,
        time_limit: int | None = None,
        nodes: int = 1,
        ntasks: int = 1,
        cpus_per_task: int = 1,
        num_cpus: int = 1,
        mem_mb: int = 0,  # per node
        mem_per_cpu_mb: int = 0,  # when the request was --mem-per-cpu
        gpus: int = 0,
        tres_per_node: str = "",  # e.g. "gres:gpu:1" as squeue %b shows it
        gpu_ids: str = "",  # allocated devices, "0,1"
        exit_code: int | None = None,
        exit_signal: int | None = None,
        derived_exit_code: int = 0,
        derived_exit_signal: int = 0,
        work_dir: str = "",
        submit_dir: str = "",
        stdout: str = "",  # resolved path
        stderr: str = "",
        stdin: str = "/dev/null",
        command: str | None = None,  # script path as given to sbatch, None for --wrap / stdin
        dependency: str = "",
        node_list: str = "",
        batch_host: str = "",
        cancelled_by: int | None = None,
        restart_count: int = 0,
        requeue: bool = True,
        held: str = "",  # "", "user" or "admin"
        provider: str = "local",
        provider_handle: str = "",
        comment: str = "",
        spec: dict[str, Any] | None = None,
        steps: list[Step] | None = None,
    ) -> None:
        self.job_id = job_id
        self.name = name
        self.user = user
        self.uid = uid
        self.gid = gid
        self.group = group
        self.account = account
        self.partition = partition
        self.qos = qos
        self.state = state
        self.reason = reason
        self.priority = priority
        self.array_job_id = array_job_id
        self.array_task_id = array_task_id
        self.array_spec = array_spec
        self.array_throttle = array_throttle
        self.submit_time = submit_time
        self.eligible_time = eligible_time
        self.start_time = start_time
        self.end_time = end_time
        self.begin_time = begin_time
        self.time_limit = time_limit
        self.nodes = nodes
        self.ntasks = ntasks
        self.cpus_per_task = cpus_per_task
        self.num_cpus = num_cpus
        self.mem_mb = mem_mb
        self.mem_per_cpu_mb = mem_per_cpu_mb
        self.gpus = gpus
        self.tres_per_node = tres_per_node
        self.gpu_ids = gpu_ids
        self.exit_code = exit_code
        self.exit_signal = exit_signal
        self.derived_exit_code = derived_exit_code
        self.derived_exit_signal = derived_exit_signal
        self.work_dir = work_dir
        self.submit_dir = submit_dir
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin
        self.command = command
        self.dependency = dependency
        self.node_list = node_list
        self.batch_host = batch_host
        self.cancelled_by = cancelled_by
        self.restart_count = restart_count
        self.requeue = requeue
        self.held = held
        self.provider = provider
        self.provider_handle = provider_handle
        self.comment = comment
        self.spec = {} if spec is None else spec
        self.steps = [] if steps is None else steps

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
