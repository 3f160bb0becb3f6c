"""Submitting, cancelling and signalling jobs: the engine calls every front door shares."""

from __future__ import annotations

import os
import time
from _signal import SIGTERM, SIGUSR1  # plain ints: `signal` builds enums at import

from flowslurm import config
from flowslurm.engine import runner
from flowslurm.engine.ledger import Ledger
from flowslurm.engine.model import RUNNING_STATES, Job, raw_id
from flowslurm.errors import SubmitError
from flowslurm.slurm.patterns import default_pattern, resolve_output_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from flowslurm.config import Node
    from flowslurm.engine.spec import JobSpec

PRIORITY_BASE = 4294901760
# flowslurm's own credentials: never written to the ledger, so never passed on to jobs either.
CREDENTIALS = frozenset({"MITHRIL_API_KEY"})
NOT_AVAILABLE = "Batch job submission failed: Requested node configuration is not available"


def _resources(spec: JobSpec, node: Node) -> tuple[int, int]:
    """(cpus, memory MiB) the job asks of the node; refuses what can never fit, as slurmctld does."""
    cpus = max(spec.ntasks * spec.cpus_per_task, spec.nodes, int(spec.extra.get("mincpus", 0)))
    if spec.extra.get("exclusive") in ("exclusive", "user", "mcs"):
        cpus = max(cpus, node.cpus)  # the whole machine, as SLURM gives the whole node
    if spec.mem_per_cpu_mb:
        mem = spec.mem_per_cpu_mb * cpus
    elif spec.mem_mb:
        mem = spec.mem_mb
    else:
        mem = min(node.def_mem_per_cpu_mb, node.memory_mb // max(node.cpus, 1)) * cpus
    if mem > node.memory_mb:
        raise SubmitError(f"Memory specification can not be satisfied\n{NOT_AVAILABLE}")
    if spec.gpus > node.gpus:
        raise SubmitError(NOT_AVAILABLE)
    return cpus, mem


def _pending_reason(spec: JobSpec, cpus: int, node: Node) -> str:
    if spec.hold:
        return "JobHeldUser"
    if spec.nodes > 1 or cpus > node.cpus:
        return "PartitionConfig"
    return "None"


def _remote_resources(spec: JobSpec) -> tuple[int, int]:
    """(cpus, memory MiB per node) a remote job asks for; its provider's placement already
    refused what no machine can give."""
    cpus = max(spec.ntasks * spec.cpus_per_task, spec.nodes, int(spec.extra.get("mincpus", 0)))
    return cpus, spec.mem_per_cpu_mb * cpus if spec.mem_per_cpu_mb else spec.mem_mb


def build_jobs(spec: JobSpec, node: Node, now: float) -> list[Job]:
    local = spec.provider == "local"
    if local and spec.partition and spec.partition != node.partition:
        raise SubmitError(f"invalid partition specified: {spec.partition}\n"
                          "Batch job submission failed: Invalid partition name specified")
    cpus, mem = _resources(spec, node) if local else _remote_resources(spec)
    data = spec.to_json()
    data.pop("array", None)  # kept as array_text: a list of every index in each task's row costs O(n^2)
    data.update(spec.extra)
    common = dict(
        name=spec.name, user=spec.user, uid=spec.uid, gid=spec.gid, group=spec.group, account=spec.account or node.account or spec.user,
        partition=node.partition if local else spec.partition, qos=spec.qos, state="PENDING",
        reason=_pending_reason(spec, cpus, node) if local else ("JobHeldUser" if spec.hold else "None"),
        submit_time=now, begin_time=spec.begin, time_limit=spec.time_limit, nodes=spec.nodes, ntasks=spec.ntasks,
        cpus_per_task=spec.cpus_per_task, num_cpus=cpus, mem_mb=mem, mem_per_cpu_mb=spec.mem_per_cpu_mb,
        gpus=spec.gpus, tres_per_node=f"gres:{spec.gres}" if spec.gres else "", work_dir=spec.work_dir,
        submit_dir=spec.submit_dir, stdin=spec.input, command=spec.command, dependency=spec.dependency,
        requeue=spec.requeue, held="user" if spec.hold else "", provider=spec.provider, comment=spec.comment,
        array_throttle=spec.array_throttle, spec=data,
    )
    if spec.array is None:
        return [Job(job_id=0, **common)]  # type: ignore[arg-type]
    return [
        Job(job_id=0, array_job_id=0, array_task_id=i, array_spec=spec.array_text, **common)  # type: ignore[arg-type]
        for i in spec.array
    ]


def output_paths(job: Job, output: str, error: str, node_name: str) -> tuple[str, str]:
    """The files --output/--error name for this job (SLURM's defaults when not given)."""
    def resolve(pattern: str) -> str:
        return resolve_output_path(
            pattern, job.work_dir, job_id=raw_id(job.job_id, job.array_job_id), array_job_id=job.array_job_id,
            array_task_id=job.array_task_id, job_name=job.name, user=job.user, node=node_name,
        )

    out = resolve(output or default_pattern(job.array_task_id is not None))
    return out, resolve(error) if error else out


def submit(
    spec: JobSpec, *, home: str | Path | None = None, node: Node | None = None, ledger: Ledger | None = None
) -> list[Job]:
    """Record the job (or the array's tasks) in the ledger and start what can start. Returns at once."""
    home = home or config.home_dir()
    node = node or config.node()
    ledger = ledger or Ledger.open(home)
    now = time.time()
    jobs = build_jobs(spec, node, now)
    with ledger.write() as conn:
        environ = {k: v for k, v in spec.environ.items() if k not in CREDENTIALS}
        script_id = ledger.insert_script(conn, spec.script, spec.argv, environ)

        def prepare(job: Job) -> None:
            job.stdout, job.stderr = output_paths(job, spec.output, spec.error, node.name)
            base = spec.priority or max(1, PRIORITY_BASE - raw_id(job.job_id, job.array_job_id))
            job.priority = 0 if spec.hold else max(1, base - spec.nice)

        ledger.insert_jobs(conn, jobs, script_id, prepare)
    if not spec.hold:
        runner.after_change(ledger, home, node)
        if spec.provider != "local":  # the daemon talks to the provider: with this submitter's settings
            runner.ensure_daemon(home, runner.settings_fingerprint(spec.environ))
    return jobs


def cancel(ledger: Ledger, job_ids: list[int], uid: int, *, home: str | Path | None = None) -> list[int]:
    """Cancel jobs: pending ones end at once, running ones are told through their shepherd (which
    ends the whole process tree and records CANCELLED). Idempotent; returns the ids acted on."""
    home = home or config.home_dir()
    now = time.time()
    touched: list[int] = []
    shepherds: list[int] = []
    with ledger.write() as conn:
        for job_id in job_ids:
            row = conn.execute("SELECT state, shepherd_pid FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                continue
            state, shepherd = row
            if state == "PENDING":
                conn.execute(
                    "UPDATE jobs SET state = 'CANCELLED', end_time = ?, exit_code = 0, exit_signal = 0,"
                    " cancelled_by = ?, cancel_requested = ? WHERE job_id = ? AND state = 'PENDING'",
                    (now, uid, uid, job_id),
                )
                touched.append(job_id)
            elif state in RUNNING_STATES:
                conn.execute("UPDATE jobs SET cancel_requested = ? WHERE job_id = ?", (uid, job_id))
                touched.append(job_id)
                if shepherd:
                    shepherds.append(shepherd)
    for pid in shepherds:
        try:
            os.kill(pid, SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    if touched:
        runner.after_change(ledger, home, config.node())
    return touched


def send_signal(ledger: Ledger, job_ids: list[int], signum: int, scope: str = "steps") -> list[int]:
    """Deliver a signal to running jobs' processes without ending them (scancel --signal).

    scope: "steps" (every process but the batch shell, SLURM's default), "batch" (the batch
    shell's process group, --batch) or "full" (all of the job, --full)."""
    sent = []
    with ledger.write() as conn:
        for job_id in job_ids:
            row = conn.execute("SELECT state, shepherd_pid FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row and row[0] == "RUNNING" and row[1]:
                conn.execute("UPDATE jobs SET signal_request = ? WHERE job_id = ?", (f"{signum}:{scope}", job_id))
                sent.append((job_id, row[1]))
    for _job_id, pid in sent:
        try:
            os.kill(pid, SIGUSR1)
        except (ProcessLookupError, PermissionError):
            pass
    return [j for j, _ in sent]
