"""The sacct 22.05 field table: each field's name, default width, print kind and value getters.

The getters read our model (`Job`, `Step` from flowslurm.engine.model); a job row calls
`FieldDef.job(job, ctx)` and a step row `FieldDef.step(job, step, ctx)`. They return the value
sacct would print before padding: a str (or None for SLURM's NULL) for "str" fields, an int (or
None for "unset") for "uint" and "secs" fields, epoch seconds (None or 0 = "Unknown") for "date".

Job-level rules taken from the golden transcripts live here too: `job_exit_pair` (CANCELLED,
TIMEOUT and REQUEUED jobs are recorded as 0:0, a raw status 1 as 1:0), `format_exit` (codes
>= 128 print less 128), `derived_exit_pair` and `state_text` ("CANCELLED by <uid>").
Statistics we do not sample (MaxRSS, AveCPU, ...) print as SLURM prints a step without samples.
"""

from __future__ import annotations

from flowslurm.engine.model import FINISHED_STATES, TIME_LIMIT_INVALID, Job, Step, raw_id

TYPE_CHECKING = False  # `typing` costs sacct's start-up some 5 ms: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Getter = Callable[[Job, "Ctx"], Any]
    StepGetter = Callable[[Job, Step, "Ctx"], Any]

__all__ = [
    "FIELDS", "FieldDef", "Ctx", "format_exit", "job_exit_pair", "derived_exit_pair", "state_text", "clock",
]


class Ctx:
    """What rendering needs besides the rows: the clock, the cluster name and display options."""

    __slots__ = ("now", "cluster", "time_format", "units", "noconvert")

    def __init__(self, now: float, cluster: str = "", time_format: str = "%Y-%m-%dT%H:%M:%S",
                 units: str | None = None, noconvert: bool = False) -> None:
        self.now = now
        self.cluster = cluster
        self.time_format = time_format
        self.units = units  # --units: "K", "M", "G", "T" or "P"
        self.noconvert = noconvert  # --noconvert


class FieldDef:
    """One sacct field: its name, default width (negative = left-justified), print kind, getters.

    `reads`: the job columns the getters read (space-separated; "steps" when a job row reads its
    steps), so a listing can fetch just those from the ledger; None when they read the spec."""

    __slots__ = ("name", "width", "kind", "job", "step", "reads")

    def __init__(self, name: str, width: int, kind: str, job: Getter, step: StepGetter,
                 reads: str | None = "") -> None:
        self.name = name
        self.width = width
        self.kind = kind  # "str" (truncated with '+'), "uint" (never truncated), "date", "secs"
        self.job = job
        self.step = step
        self.reads: tuple[str, ...] | None = None if reads is None else tuple(reads.split())


# ---------------------------------------------------------------- value helpers

_UNIT_CHARS = "\0KMGTP?"
_UNIT_INDEX = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5}
_UNIT_CACHE: dict[tuple[Any, ...], str] = {}


def _num_unit(num: float, orig: int, ctx: Ctx) -> str:
    """SLURM's convert_num_unit with sacct's default (exact) conversion; `orig` 2 = MiB."""
    key = (num, orig, ctx.units, ctx.noconvert)
    text = _UNIT_CACHE.get(key)
    if text is None:
        if len(_UNIT_CACHE) > 4096:
            _UNIT_CACHE.clear()
        text = _UNIT_CACHE[key] = _convert(num, orig, ctx)
    return text


def _convert(num: float, orig: int, ctx: Ctx) -> str:
    if int(num) == 0:
        return "0"
    spec = _UNIT_INDEX.get(ctx.units or "")
    if spec is not None:
        while spec < orig:
            num, orig = num * 1024, orig - 1
        while spec > orig:
            num, orig = num / 1024, orig + 1
    elif not ctx.noconvert:
        while num >= 1024 and int(num) % 512 == 0:
            num, orig = num / 1024, orig + 1
    unit = _UNIT_CHARS[orig] if 0 <= orig <= 5 else "?"
    unit = "" if unit == "\0" else unit
    whole = int(num)
    return f"{whole}{unit}" if whole == num else f"{num:.2f}{unit}"


def clock(secs: int) -> str:
    """secs2time_str: "HH:MM:SS" or "D-HH:MM:SS"; "INVALID" below zero."""
    if secs < 0:
        return "INVALID"
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    mins, sec = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{mins:02d}:{sec:02d}"
    return f"{hours:02d}:{mins:02d}:{sec:02d}"


def _started(job: Job) -> bool:
    return bool(job.start_time)


def _job_mem_mb(job: Job) -> int:
    """The job's whole memory request in MiB (per-CPU requests times the CPU count)."""
    if job.mem_per_cpu_mb:
        return job.mem_per_cpu_mb * max(job.num_cpus, 1)
    return job.mem_mb * max(job.nodes, 1)


_TRES_CACHE: dict[tuple[Any, ...], str] = {}


def _tres(items: tuple[tuple[str, int], ...], ctx: Ctx) -> str:
    """A TRES string as sacct prints it: names in alphabetical order, memory with a unit."""
    key = (items, ctx.units, ctx.noconvert)
    text = _TRES_CACHE.get(key)
    if text is None:
        parts = [f"{name}={_num_unit(value, 2, ctx) if name == 'mem' else value}" for name, value in sorted(items)]
        text = ",".join(parts)
        if len(_TRES_CACHE) > 4096:
            _TRES_CACHE.clear()
        _TRES_CACHE[key] = text
    return text


def _job_tres(job: Job, ctx: Ctx) -> str:
    cpus = job.num_cpus
    items = (("billing", cpus), ("cpu", cpus), ("mem", _job_mem_mb(job)), ("node", job.nodes), ("gres/gpu", job.gpus))
    return _tres(items if job.gpus else items[:4], ctx)


def _step_nodes(job: Job, step: Step) -> int:
    if not step.node_list or step.node_list == job.node_list:
        return job.nodes
    from flowslurm.slurm import hostlist  # only needed for multi-node steps

    try:
        return hostlist.count(step.node_list)
    except Exception:  # a malformed list in the ledger must not break sacct
        return job.nodes


def _step_tres(job: Job, step: Step, ctx: Ctx) -> str:
    items = (("cpu", step.ncpus), ("mem", step.mem_mb or _job_mem_mb(job)), ("node", _step_nodes(job, step)),
             ("gres/gpu", job.gpus))
    return _tres(items if job.gpus else items[:3], ctx)


def _job_elapsed(job: Job, ctx: Ctx) -> int:
    return Job.elapsed(job, ctx.now)  # also for the ledger's light rows, which have no methods


def _step_end(job: Job, step: Step) -> float | None:
    return step.end_time or job.end_time


def _step_elapsed(job: Job, step: Step, ctx: Ctx) -> int:
    if not step.start_time:
        return 0
    end = _step_end(job, step) or ctx.now
    return max(0, int(end - step.start_time))


def format_exit(code: int, signal: int) -> str:
    """"code:signal" as sacct prints it: a signal hides the code, and codes >= 128 lose 128."""
    if signal:
        return f"0:{signal}"
    return f"{code - 128 if code >= 128 else code}:0"


def job_exit_pair(job: Job) -> tuple[int, int]:
    """The (code, signal) sacct's accounting holds for a job (it can differ from scontrol's).

    Jobs ended by the controller (cancel, time limit, requeue) are recorded before any exit
    status arrives, so they read 0:0; a raw status of 1 (signal 1, as a DEADLINE job gets) is
    recorded as exit code 1.
    """
    if job.state in ("CANCELLED", "TIMEOUT", "REQUEUED"):
        return 0, 0
    code, sig = job.exit_code or 0, job.exit_signal or 0
    if sig == 1 and code == 0:
        return 1, 0
    return code, sig


def derived_exit_pair(job: Job) -> tuple[int, int]:
    """DerivedExitCode: the job's own value when set, else the worst status of its srun steps."""
    if job.derived_exit_code or job.derived_exit_signal:
        return job.derived_exit_code, job.derived_exit_signal
    best, pair = 0, (0, 0)
    for step in job.steps:
        if not step.step_id.isdigit():
            continue
        raw = step.exit_signal if step.exit_signal else step.exit_code << 8
        if raw > best:
            best, pair = raw, (0, step.exit_signal) if step.exit_signal else (step.exit_code, 0)
    return pair


def _derived_text(job: Job) -> str:
    """DerivedExitCode as printed: unlike ExitCode, codes >= 128 are shown as they are."""
    code, sig = derived_exit_pair(job)
    return f"0:{sig}" if sig else f"{code}:0"


_DB_STATE = {"COMPLETING": "RUNNING", "CONFIGURING": "RUNNING", "STAGE_OUT": "RUNNING"}


def state_text(job: Job) -> str:
    """The job row's State: "CANCELLED by <uid>" when a user cancelled it."""
    state = _DB_STATE.get(job.state, job.state)
    if state == "CANCELLED" and job.cancelled_by is not None:
        return f"CANCELLED by {job.cancelled_by}"
    return state


def _job_reason(job: Job) -> str:
    if job.state in FINISHED_STATES and job.reason != "BeginTime":
        return "None"
    return job.reason or "None"


def _job_id_text(job: Job) -> str:
    if job.array_job_id is None:
        return str(job.job_id)
    if job.array_task_id is None:
        spec = job.array_spec or ""
        if job.array_throttle and "%" not in spec:
            spec = f"{spec}%{job.array_throttle}"
        return f"{job.array_job_id}_[{spec}]"
    return f"{job.array_job_id}_{job.array_task_id}"


def _step_id_text(job: Job, step: Step, ctx: Ctx) -> str:
    if job.array_job_id is None:
        return f"{job.job_id}.{step.step_id}"
    return f"{_job_id_text(job)}.{step.step_id}"


def _job_exit_text(job: Job, ctx: Ctx) -> str:
    if job.state == "COMPLETED" and not job.exit_code and not job.exit_signal:
        return "0:0"
    return format_exit(*job_exit_pair(job))


def _step_exit_text(job: Job, step: Step, ctx: Ctx) -> str:
    if not step.exit_code and not step.exit_signal:
        return "0:0"
    return format_exit(step.exit_code, step.exit_signal)


def _timelimit(job: Job) -> str | None:
    limit = job.time_limit
    if limit is None:
        return "UNLIMITED"
    if limit == TIME_LIMIT_INVALID or limit < 0:
        return "INVALID"
    return clock(limit * 60) if limit else None


def _resv_secs(job: Job, ctx: Ctx) -> int:
    if not job.eligible_time:
        return 0
    return max(0, int((job.start_time or ctx.now) - job.eligible_time))


def _spec_text(job: Job, *keys: str) -> str | None:
    for key in keys:
        value = job.spec.get(key)
        if value:
            return str(value)
    return None


# ---------------------------------------------------------------- the field table


def _none(*_a: Any) -> None:
    return None


def _empty(*_a: Any) -> str:
    return ""


def _zero(*_a: Any) -> str:
    return "0"


def _energy(*_a: Any) -> str:
    return "energy=0"


def _cpu_zero(*_a: Any) -> str:
    return "00:00:00"


def _f(name: str, width: int, kind: str, job: Getter = _none, step: StepGetter = _none,
       reads: str | None = "") -> FieldDef:
    return FieldDef(name, width, kind, job, step, reads)


def _usage(name: str, width: int, kind: str = "str") -> FieldDef:
    """A usage statistic we do not sample: empty on job rows and on steps."""
    return _f(name, width, kind)


# What the shared helpers read (see FieldDef.reads).
_MEM = "mem_per_cpu_mb num_cpus mem_mb nodes"  # _job_mem_mb
_TRES = _MEM + " gpus"  # _job_tres, _step_tres (with node_list)
_ELAPSED = "start_time end_time"  # _job_elapsed, _step_end
_ID = "job_id array_job_id array_task_id array_spec array_throttle"  # _job_id_text
_RESV = "eligible_time start_time num_cpus"  # _resv_secs (times the CPUs)

FIELDS: tuple[FieldDef, ...] = (
    _f("Account", 10, "str", lambda j, c: j.account or None, lambda j, s, c: j.account or None, reads="account"),
    _f("AdminComment", 15, "str"),
    _f("AllocCPUS", 10, "uint", lambda j, c: j.num_cpus, lambda j, s, c: s.ncpus, reads="num_cpus"),
    _f("AllocNodes", 10, "str", lambda j, c: str(j.nodes if _started(j) else 0),
       lambda j, s, c: str(_step_nodes(j, s)), reads="start_time nodes node_list"),
    _f("AllocTRES", 10, "str", lambda j, c: _job_tres(j, c) if _started(j) else None, _step_tres,
       reads="start_time node_list " + _TRES),
    _f("AssocID", 7, "uint"),
    _usage("AveCPU", 10),
    _f("AveCPUFreq", 10, "str", _empty, _zero),
    _usage("AveDiskRead", 14),
    _usage("AveDiskWrite", 14),
    _usage("AvePages", 10),
    _usage("AveRSS", 10),
    _usage("AveVMSize", 10),
    _f("BlockID", 16, "str"),
    _f("Cluster", 10, "str", lambda j, c: c.cluster or None, lambda j, s, c: c.cluster or None),
    _f("Comment", 14, "str", lambda j, c: j.comment or None, reads="comment"),
    _f("Constraints", 19, "str", lambda j, c: _spec_text(j, "constraint", "constraints") or "", reads=None),
    _f("ConsumedEnergy", 14, "str", _empty, _zero),
    _f("ConsumedEnergyRaw", 17, "uint", _none, lambda j, s, c: 0),
    _f("Container", 19, "str", lambda j, c: _spec_text(j, "container"), reads=None),
    _f("CPUTime", 10, "secs", lambda j, c: _job_elapsed(j, c) * j.num_cpus,
       lambda j, s, c: _step_elapsed(j, s, c) * s.ncpus, reads=_ELAPSED + " num_cpus"),
    _f("CPUTimeRAW", 10, "uint", lambda j, c: _job_elapsed(j, c) * j.num_cpus,
       lambda j, s, c: _step_elapsed(j, s, c) * s.ncpus, reads=_ELAPSED + " num_cpus"),
    _f("DBIndex", -10, "uint"),
    _f("DerivedExitCode", 15, "str", lambda j, c: _derived_text(j), _empty,
       reads="derived_exit_code derived_exit_signal steps"),
    _f("Elapsed", 10, "secs", _job_elapsed, _step_elapsed, reads=_ELAPSED),
    _f("ElapsedRaw", 10, "uint", _job_elapsed, _step_elapsed, reads=_ELAPSED),
    _f("Eligible", 19, "date", lambda j, c: j.eligible_time, lambda j, s, c: s.start_time, reads="eligible_time"),
    _f("End", 19, "date", lambda j, c: j.end_time, lambda j, s, c: _step_end(j, s), reads="end_time"),
    _f("ExitCode", 8, "str", _job_exit_text, _step_exit_text, reads="state exit_code exit_signal"),
    _f("Flags", 19, "str", lambda j, c: "SchedMain" if _started(j) else "SchedNotSet", reads="start_time"),
    _f("GID", 6, "uint", lambda j, c: j.gid, reads="gid"),
    _f("Group", 9, "str", lambda j, c: j.group or None, reads="group"),
    _f("JobID", -12, "str", lambda j, c: _job_id_text(j), _step_id_text, reads=_ID),
    _f("JobIDRaw", -12, "str", lambda j, c: str(raw_id(j.job_id, j.array_job_id)),
       lambda j, s, c: f"{j.job_id}.{s.step_id}", reads="job_id array_job_id"),
    _f("JobName", 10, "str", lambda j, c: j.name, lambda j, s, c: s.name, reads="name"),
    _f("Layout", 9, "str", _none, lambda j, s, c: "Block" if s.step_id.isdigit() else "Unknown"),
    _usage("MaxDiskRead", 12),
    _usage("MaxDiskReadNode", 15),
    _usage("MaxDiskReadTask", 15, "uint"),
    _usage("MaxDiskWrite", 12),
    _usage("MaxDiskWriteNode", 16),
    _usage("MaxDiskWriteTask", 16, "uint"),
    _usage("MaxPages", 8),
    _usage("MaxPagesNode", 12),
    _usage("MaxPagesTask", 14, "uint"),
    _usage("MaxRSS", 10),
    _usage("MaxRSSNode", 10),
    _usage("MaxRSSTask", 10, "uint"),
    _usage("MaxVMSize", 10),
    _usage("MaxVMSizeNode", 14),
    _usage("MaxVMSizeTask", 14, "uint"),
    _f("McsLabel", 12, "str"),
    _usage("MinCPU", 10),
    _usage("MinCPUNode", 10),
    _usage("MinCPUTask", 10, "uint"),
    _f("NCPUS", 10, "uint", lambda j, c: j.num_cpus, lambda j, s, c: s.ncpus, reads="num_cpus"),
    _f("NNodes", 8, "uint", lambda j, c: j.nodes, lambda j, s, c: _step_nodes(j, s), reads="nodes node_list"),
    _f("NodeList", 15, "str", lambda j, c: j.node_list or "None assigned", lambda j, s, c: s.node_list or None,
       reads="node_list"),
    _f("NTasks", 8, "uint", _none, lambda j, s, c: s.ntasks),
    _f("Partition", 10, "str", lambda j, c: j.partition or None, reads="partition"),
    _f("Priority", 10, "uint", lambda j, c: j.priority, reads="priority"),
    _f("QOS", 10, "str", lambda j, c: j.qos or None, reads="qos"),
    _f("QOSRAW", 6, "uint", lambda j, c: 1 if j.qos == "normal" else None, reads="qos"),
    _f("Reason", 22, "str", lambda j, c: _job_reason(j), reads="state reason"),
    _f("ReqCPUFreq", 10, "str", lambda j, c: "Unknown", _zero),
    _f("ReqCPUFreqGov", 13, "str", lambda j, c: "Unknown", _zero),
    _f("ReqCPUFreqMax", 13, "str", lambda j, c: "Unknown", _zero),
    _f("ReqCPUFreqMin", 13, "str", lambda j, c: "Unknown", _zero),
    _f("ReqCPUS", 8, "uint", lambda j, c: j.num_cpus, lambda j, s, c: s.ncpus, reads="num_cpus"),
    _f("ReqMem", 10, "str", lambda j, c: _num_unit(_job_mem_mb(j), 2, c), _empty, reads=_MEM),
    _f("ReqNodes", 8, "str", lambda j, c: str(j.nodes), lambda j, s, c: str(_step_nodes(j, s)),
       reads="nodes node_list"),
    _f("ReqTRES", 10, "str", _job_tres, reads=_TRES),
    _f("Reservation", 20, "str"),
    _f("ReservationId", 8, "uint"),
    _f("Reserved", 10, "secs", _resv_secs, reads=_RESV),
    _f("ResvCPU", 10, "secs", lambda j, c: _resv_secs(j, c) * j.num_cpus, reads=_RESV),
    _f("ResvCPURAW", 10, "uint", lambda j, c: _resv_secs(j, c) * j.num_cpus, reads=_RESV),
    _f("Start", 19, "date", lambda j, c: j.start_time, lambda j, s, c: s.start_time, reads="start_time"),
    _f("State", 10, "str", lambda j, c: state_text(j), lambda j, s, c: _DB_STATE.get(s.state, s.state),
       reads="state cancelled_by"),
    _f("Submit", 19, "date", lambda j, c: j.submit_time, lambda j, s, c: s.start_time, reads="submit_time"),
    _f("SubmitLine", 20, "str", lambda j, c: _spec_text(j, "submit_line"), reads=None),
    _f("Suspended", 10, "secs", lambda j, c: 0, lambda j, s, c: 0),
    _f("SystemComment", 15, "str"),
    _f("SystemCPU", 10, "str", _cpu_zero, _cpu_zero),
    _f("Timelimit", 10, "str", lambda j, c: _timelimit(j), reads="time_limit"),
    _f("TimelimitRaw", 10, "str",
       lambda j, c: "UNLIMITED" if j.time_limit is None else (str(j.time_limit) if j.time_limit else None),
       reads="time_limit"),
    _f("TotalCPU", 10, "str", _cpu_zero, _cpu_zero),
    _f("TRESUsageInAve", 14, "str", _none, _energy),
    _usage("TRESUsageInMax", 14),
    _usage("TRESUsageInMaxNode", 18),
    _usage("TRESUsageInMaxTask", 18),
    _usage("TRESUsageInMin", 14),
    _usage("TRESUsageInMinNode", 18),
    _usage("TRESUsageInMinTask", 18),
    _f("TRESUsageInTot", 14, "str", _none, _energy),
    _f("TRESUsageOutAve", 15, "str", _none, _energy),
    _usage("TRESUsageOutMax", 15),
    _usage("TRESUsageOutMaxNode", 19),
    _usage("TRESUsageOutMaxTask", 19),
    _usage("TRESUsageOutMin", 15),
    _usage("TRESUsageOutMinNode", 19),
    _usage("TRESUsageOutMinTask", 19),
    _f("TRESUsageOutTot", 15, "str", _none, _energy),
    _f("UID", 6, "uint", lambda j, c: j.uid, reads="uid"),
    _f("User", 9, "str", lambda j, c: j.user or None, reads="user"),
    _f("UserCPU", 10, "str", _cpu_zero, _cpu_zero),
    _f("WCKey", 10, "str"),
    _f("WCKeyID", 10, "uint", lambda j, c: 0),
    _f("WorkDir", 20, "str", lambda j, c: j.work_dir or None, reads="work_dir"),
)

# flowslurm's own fields, after SLURM's: not in `--helpformat` or ALL, found by name like the rest.
# What a cloud job's machines cost (dollars), and what it ran on; empty for local jobs.
EXTRA_FIELDS: tuple[FieldDef, ...] = (
    _f("Cost", 10, "str", lambda j, c: getattr(j, "cost", None), reads="cost"),
    _f("PricePerHour", 12, "str", lambda j, c: getattr(j, "price_per_hour", None), reads="price_per_hour"),
    _f("InstanceType", 20, "str", lambda j, c: getattr(j, "instance_type", None), reads="instance_type"),
    _f("CloudId", 16, "str", lambda j, c: getattr(j, "cloud_id", None), reads="cloud_id"),
)
