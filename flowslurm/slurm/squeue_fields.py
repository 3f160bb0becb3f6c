"""The columns squeue can print: header text, value rendering and SLURM's N/A / (null) forms.

Every column is a function over the whole list of rows (`Job` objects, already folded and sorted)
that returns one string per row; working column by column keeps the per-job cost to a list
comprehension. `None` in a column stands for a C NULL string, which SLURM's printf shows as
"(null)" (or as nothing when a left-justified width is under 6, as glibc does).

`FIELDS` maps the `-o/--format` letters and `LONG_FIELDS` the `-O/--Format` names (lower case)
to a `Field`. Both tables follow SLURM 22.05's squeue; the values come from our job model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from flowslurm.engine.model import TIME_LIMIT_INVALID, Job

YEAR_SECONDS = 365 * 24 * 3600
NO_VAL = 0xFFFFFFFE  # array_task_id of a folded array entry, as SLURM sorts it
INFINITE = 0xFFFFFFFF
ID_TEXT_MAX = 31  # squeue builds "N_[spec]" in a 32-byte buffer

# %t codes, including the state flags SLURM can show on their own.
STATE_COMPACT: dict[str, str] = {
    "PENDING": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETED": "CD", "CANCELLED": "CA",
    "FAILED": "F", "TIMEOUT": "TO", "NODE_FAIL": "NF", "PREEMPTED": "PR", "BOOT_FAIL": "BF",
    "DEADLINE": "DL", "OUT_OF_MEMORY": "OOM", "COMPLETING": "CG", "CONFIGURING": "CF",
    "RESIZING": "RS", "RESV_DEL_HOLD": "RD", "REQUEUED": "RQ", "REQUEUE_FED": "RF",
    "REQUEUE_HOLD": "RH", "REVOKED": "RV", "SIGNALING": "SI", "SPECIAL_EXIT": "SE",
    "STAGE_OUT": "SO", "STOPPED": "ST",
}
# States whose NODELIST(REASON) column shows "(reason)" instead of the node list.
REASON_STATES = frozenset({
    "PENDING", "STAGE_OUT", "TIMEOUT", "OUT_OF_MEMORY", "DEADLINE", "FAILED",
    "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT", "RESV_DEL_HOLD",
})
PENDING_STATES = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT",
                            "RESV_DEL_HOLD"})
# States that hold nodes right now (used for the node-name fallback and the expected end time).
ALLOCATED_STATES = frozenset({"RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING", "RESIZING",
                              "SIGNALING", "STOPPED", "STAGE_OUT"})

Column = Callable[[list[Job], "Ctx", int], list[Any]]


@dataclass(slots=True)
class Ctx:
    """What a column needs besides the job: the clock (whole seconds) and node/cluster names."""

    now: int
    node_name: str = ""
    cluster: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    """One printable column. `cut`: True/False as SLURM truncates a right-justified value, None when
    the column decides per value (it then truncates to the width it is given itself)."""

    header: str
    column: Column
    cut: bool | None = True
    header_cut: bool = True
    nullable: bool = False


# --- value helpers --------------------------------------------------------------------------


def fmt_secs(secs: int) -> str:
    """Durations as squeue prints them: M:SS, H:MM:SS, D-HH:MM:SS, INVALID outside 0..1 year."""
    if secs < 0 or secs > YEAR_SECONDS:
        return "INVALID"
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{seconds:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def fmt_time(stamp: float | None) -> str:
    """A timestamp as SLURM's default ISO form in local time; unset (None or 0) is N/A."""
    if not stamp:
        return "N/A"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(int(stamp)))


def fmt_units(num: float, unit: int = 0) -> str:
    """SLURM's exact unit conversion (1024 -> 1K, 1536 -> 1.50K); unit 2 means num is in MiB."""
    if int(num) == 0:
        return "0"
    while num >= 1024 and int(num) % 512 == 0:
        num /= 1024
        unit += 1
    suffix = "KMGTP"[unit - 1] if 1 <= unit <= 5 else ("" if unit == 0 else "?")
    if num == int(num):
        return f"{int(num)}{suffix}"
    return f"{num:.2f}{suffix}"


def time_used(job: Job, now: int) -> int:
    """Seconds used so far, the way squeue counts them (0 while pending or never started)."""
    start = job.start_time
    if not start or job.state in PENDING_STATES:
        return 0
    end = job.end_time
    if end is None or job.state in ALLOCATED_STATES:
        end = now
    return int(end) - int(start)


def start_time(job: Job, now: int) -> float:
    """The start time squeue knows: the real one, or the --begin time of a job still waiting for it."""
    if job.start_time:
        return job.start_time
    if job.state in PENDING_STATES and job.begin_time and job.begin_time > now:
        return job.begin_time
    return 0


def end_time(job: Job, now: int) -> float | str:
    """The end time squeue shows: the real one, the expected one, or "NONE" when it never ends."""
    if job.end_time and job.state not in ALLOCATED_STATES:
        return job.end_time
    start = start_time(job, now)
    if not start:
        return 0
    limit = job.time_limit
    if limit is None or limit == TIME_LIMIT_INVALID:
        return "NONE"
    return start + limit * 60


def time_limit_secs(job: Job) -> int | None:
    """The limit in seconds; None for UNLIMITED, -1 for INVALID."""
    limit = job.time_limit
    if limit is None:
        return None
    if limit == TIME_LIMIT_INVALID:
        return -1
    return limit * 60


def _array_id_text(job: Job) -> str:
    if job.array_task_id is None:
        return f"{job.array_job_id}_[{job.array_spec or ''}]"[:ID_TEXT_MAX]
    return f"{job.array_job_id}_{job.array_task_id}"


def _spec(job: Job, key: str) -> Any:
    return job.spec.get(key) if job.spec else None


# --- column builders ------------------------------------------------------------------------


def _attr(name: str) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return [getattr(j, name) for j in jobs]
    return column


def _attr_str(name: str) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return [str(getattr(j, name)) for j in jobs]
    return column


def _attr_or_null(name: str) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return [getattr(j, name) or None for j in jobs]
    return column


def _spec_value(key: str, default: Any = None) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        out = []
        for j in jobs:
            value = _spec(j, key)
            out.append(default if value in (None, "") else str(value))
        return out
    return column


def _const(value: str | None) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return [value] * len(jobs)
    return column


def _per_job(fn: Callable[[Job, Ctx], Any]) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return [fn(j, ctx) for j in jobs]
    return column


def _col_job_id(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return [str(j.job_id) if j.array_job_id is None else _array_id_text(j) for j in jobs]


def _col_array_job_id(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return [str(j.job_id if j.array_job_id is None else j.array_job_id) for j in jobs]


def _col_array_task_id(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    out = []
    for j in jobs:
        if j.array_job_id is None:
            out.append("N/A")
        elif j.array_task_id is None:
            out.append(j.array_spec or "")
        else:
            out.append(str(j.array_task_id))
    return out


def _col_state_compact(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    codes = STATE_COMPACT
    return [codes.get(j.state, "?") for j in jobs]


def _col_time_used(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    now = ctx.now
    return ["0:00" if j.start_time is None else fmt_secs(time_used(j, now)) for j in jobs]


def _cut(text: str, width: int) -> str:
    return text[:width] if width > 0 else text


def _col_time_limit(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    out = []
    for j in jobs:
        secs = time_limit_secs(j)
        out.append(_cut("UNLIMITED", width) if secs is None else fmt_secs(secs))
    return out


def _col_time_left(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    out = []
    for j in jobs:
        secs = time_limit_secs(j)
        if secs is None:
            out.append(_cut("UNLIMITED", width))
        else:
            out.append(fmt_secs(secs - time_used(j, ctx.now) if secs >= 0 else -1))
    return out


def _node_list(job: Job, ctx: Ctx) -> str:
    if job.node_list:
        return job.node_list
    if job.state in ALLOCATED_STATES:
        return ctx.node_name
    return ""


def _col_nodes(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return [_node_list(j, ctx) for j in jobs]


def _col_reason_list(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    reason_states = REASON_STATES
    out = []
    for j in jobs:
        if j.state in reason_states:
            out.append(_cut(f"({j.reason or 'None'})", width))
        else:
            out.append(j.node_list or _node_list(j, ctx))
    return out


def _col_reason(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return [j.reason or "None" for j in jobs]


def _col_start(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return [fmt_time(start_time(j, ctx.now)) for j in jobs]


def _col_end(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    out = []
    for j in jobs:
        end = end_time(j, ctx.now)
        out.append(end if isinstance(end, str) else fmt_time(end))
    return out


def _time_attr(name: str) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
        return [fmt_time(getattr(j, name)) for j in jobs]
    return column


def _col_priority_float(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return [f"{j.priority / 4294967295:16.14f}" for j in jobs]


def _col_min_memory(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return [fmt_units(j.mem_per_cpu_mb or j.mem_mb, 2) for j in jobs]


def _min_cpus(job: Job, ctx: Ctx) -> str:
    per_node = _spec(job, "ntasks_per_node") or 1
    return fmt_units(job.cpus_per_task * int(per_node))


def _tres_per_node(job: Job, ctx: Ctx) -> str:
    return job.tres_per_node or "N/A"


def _dependency(job: Job, ctx: Ctx) -> str | None:
    if job.state not in PENDING_STATES:
        return None
    return job.dependency or None


def _group(job: Job, ctx: Ctx) -> str:
    return job.group or str(job.gid)


def _user(job: Job, ctx: Ctx) -> str:
    return job.user or str(job.uid)


def _over_subscribe(job: Job, ctx: Ctx) -> str:
    if _spec(job, "exclusive"):
        return "NO"
    if _spec(job, "oversubscribe"):
        return "YES"
    return "OK"


def _nice(job: Job, ctx: Ctx) -> str:
    return str(int(_spec(job, "nice") or 0))


def _batch_host(job: Job, ctx: Ctx) -> str:
    return job.batch_host or ("n/a" if job.state in PENDING_STATES else (ctx.node_name or "n/a"))


def _cpus_per_task(job: Job, ctx: Ctx) -> str:
    return str(job.cpus_per_task) if _spec(job, "cpus_per_task_given") else "N/A"


def _std_out(job: Job, ctx: Ctx) -> str:
    return job.stdout or f"{job.work_dir}/slurm-{job.job_id}.out"


def _std_err(job: Job, ctx: Ctx) -> str:
    return job.stderr or _std_out(job, ctx)


def _exit_code(job: Job, ctx: Ctx) -> str:
    return str(((job.exit_code or 0) << 8) | (job.exit_signal or 0))


def _derived_ec(job: Job, ctx: Ctx) -> str:
    return str((job.derived_exit_code << 8) | job.derived_exit_signal)


def _pending_time(job: Job, ctx: Ctx) -> str:
    if job.start_time and job.start_time < ctx.now:
        return str(int(job.start_time) - int(job.submit_time))
    return str(ctx.now - int(job.submit_time))


def _min_time(job: Job, ctx: Ctx) -> str:
    return fmt_secs(int(_spec(job, "time_min") or 0) * 60)


def _tres(job: Job, ctx: Ctx) -> str:
    mem = job.mem_per_cpu_mb * job.num_cpus if job.mem_per_cpu_mb else job.mem_mb * job.nodes
    text = f"cpu={job.num_cpus},mem={fmt_units(mem, 2)},node={job.nodes},billing={job.num_cpus}"
    return text + (f",gres/gpu={job.gpus}" if job.gpus else "")


def _sct(job: Job, ctx: Ctx) -> str:
    return "*:*:*"


def _contiguous(job: Job, ctx: Ctx) -> str:
    return "1" if _spec(job, "contiguous") else "0"


# --- the tables -----------------------------------------------------------------------------

_F = Field
FIELDS: dict[str, Field] = {
    "a": _F("ACCOUNT", _attr("account")),
    "A": _F("JOBID", _attr_str("job_id")),
    "b": _F("TRES_PER_NODE", _per_job(_tres_per_node)),
    "B": _F("EXEC_HOST", _per_job(_batch_host)),
    "c": _F("MIN_CPUS", _per_job(_min_cpus)),
    "C": _F("CPUS", _attr_str("num_cpus")),
    "d": _F("MIN_TMP_DISK", _per_job(lambda j, c: fmt_units(int(_spec(j, "tmp_mb") or 0), 2))),
    "D": _F("NODES", _attr_str("nodes")),
    "e": _F("END_TIME", _col_end),
    "E": _F("DEPENDENCY", _per_job(_dependency), nullable=True),
    "f": _F("FEATURES", _spec_value("constraint"), nullable=True),
    "F": _F("ARRAY_JOB_ID", _col_array_job_id),
    "g": _F("GROUP", _per_job(_group)),
    "G": _F("GROUP", _attr_str("gid")),
    "h": _F("OVER_SUBSCRIBE", _per_job(_over_subscribe)),
    "H": _F("SOCKETS_PER_NODE", _const("*")),
    "i": _F("JOBID", _col_job_id),
    "I": _F("CORES_PER_SOCKET", _const("*")),
    "j": _F("NAME", _attr("name")),
    "J": _F("THREADS_PER_CORE", _const("*")),
    "k": _F("COMMENT", _attr_or_null("comment"), nullable=True),
    "K": _F("ARRAY_TASK_ID", _col_array_task_id),
    "l": _F("TIME_LIMIT", _col_time_limit, cut=None),
    "L": _F("TIME_LEFT", _col_time_left, cut=None),
    "m": _F("MIN_MEMORY", _col_min_memory),
    "M": _F("TIME", _col_time_used, cut=False),
    "n": _F("REQ_NODES", _spec_value("nodelist", "")),
    "N": _F("NODELIST", _col_nodes, cut=False, header_cut=False),
    "o": _F("COMMAND", _attr("command"), nullable=True),
    "O": _F("CONTIGUOUS", _per_job(_contiguous)),
    "p": _F("PRIORITY", _col_priority_float),
    "P": _F("PARTITION", _attr("partition")),
    "q": _F("QOS", _attr("qos")),
    "Q": _F("PRIORITY", _attr_str("priority")),
    "r": _F("REASON", _col_reason),
    "R": _F("NODELIST(REASON)", _col_reason_list, cut=None, header_cut=False),
    "s": _F("", _const("")),
    "S": _F("START_TIME", _col_start),
    "t": _F("ST", _col_state_compact),
    "T": _F("STATE", _attr("state")),
    "u": _F("USER", _per_job(_user)),
    "U": _F("UID", _attr_str("uid")),
    "v": _F("RESERVATION", _spec_value("reservation"), nullable=True),
    "V": _F("SUBMIT_TIME", _time_attr("submit_time")),
    "w": _F("WCKEY", _spec_value("wckey"), nullable=True),
    "W": _F("LICENSES", _spec_value("licenses"), nullable=True),
    "x": _F("EXC_NODES", _spec_value("exclude", "")),
    "X": _F("CORE_SPEC", _const("N/A")),
    "y": _F("NICE", _per_job(_nice)),
    "Y": _F("SCHEDNODES", _const(None), cut=False, header_cut=False, nullable=True),
    "z": _F("S:C:T", _per_job(_sct)),
    "Z": _F("WORK_DIR", _attr("work_dir")),
}

_L = FIELDS
_NULL = _const(None)
LONG_FIELDS: dict[str, Field] = {
    "account": _L["a"], "jobid": _L["A"], "gres": _L["b"], "tres-per-node": _L["b"],
    "batchhost": _L["B"], "mincpus": _L["c"], "numcpus": _L["C"], "mintmpdisk": _L["d"],
    "numnodes": _L["D"], "endtime": _L["e"], "dependency": _L["E"], "feature": _L["f"],
    "arrayjobid": _L["F"], "groupname": _L["g"], "groupid": _L["G"], "oversubscribe": _L["h"],
    "shared": _L["h"], "sockets": _L["H"], "jobarrayid": _L["i"], "cores": _L["I"],
    "name": _L["j"], "threads": _L["J"], "comment": _L["k"], "arraytaskid": _L["K"],
    "timelimit": _L["l"], "timeleft": _L["L"], "minmemory": _L["m"], "timeused": _L["M"],
    "reqnodes": _L["n"], "nodelist": _L["N"], "command": _L["o"], "contiguous": _L["O"],
    "priority": _L["p"], "partition": _L["P"], "qos": _L["q"], "prioritylong": _L["Q"],
    "reason": _L["r"], "reasonlist": _L["R"], "selectjobinfo": _L["s"], "starttime": _L["S"],
    "statecompact": _L["t"], "state": _L["T"], "userid": _L["U"], "username": _L["u"],
    "reservation": _L["v"], "submittime": _L["V"], "wckey": _L["w"], "licenses": _L["W"],
    "corespec": _L["X"], "nice": _L["y"], "schednodes": _L["Y"], "sct": _L["z"],
    "workdir": _L["Z"],
    "container": _F("CONTAINER", _NULL, nullable=True),
    "burstbuffer": _F("BURST_BUFFER", _NULL, nullable=True),
    "burstbufferstate": _F("BURST_BUFFER_STATE", _NULL, nullable=True),
    "cluster": _F("CLUSTER", _per_job(lambda j, c: c.cluster or None), nullable=True),
    "delayboot": _F("DELAY_BOOT", _const("0:00")),
    "numtasks": _F("TASKS", _attr_str("ntasks")),
    "clusterfeature": _F("CLUSTER_FEATURES", _NULL, nullable=True),
    "prefer": _F("PREFER", _NULL, nullable=True),
    "admin_comment": _F("ADMIN_COMMENT", _NULL, nullable=True),
    "system_comment": _F("SYSTEM_COMMENT", _NULL, nullable=True),
    "lastschedeval": _F("LAST_SCHED_EVAL", _time_attr("eligible_time")),
    "pendingtime": _F("PENDING_TIME", _per_job(_pending_time)),
    "accruetime": _F("ACCRUE_TIME", _time_attr("eligible_time")),
    "allocnodes": _F("ALLOC_NODES", _per_job(lambda j, c: c.node_name or None), nullable=True),
    "allocsid": _F("ALLOC_SID", _const("0")),
    "associd": _F("ASSOC_ID", _const("0")),
    "batchflag": _F("BATCH_FLAG", _const("1")),
    "boardspernode": _F("BOARDS_PER_NODE", _const("N/A")),
    "cpuspertask": _F("CPUS_PER_TASK", _per_job(_cpus_per_task)),
    "derivedec": _F("DERIVED_EC", _per_job(_derived_ec)),
    "eligibletime": _F("ELIGIBLE_TIME", _time_attr("eligible_time")),
    "exit_code": _F("EXIT_CODE", _per_job(_exit_code)),
    "origin": _F("ORIGIN", _const("NA")),
    "originraw": _F("ORIGIN_RAW", _const("NA")),
    "siblingsactive": _F("ACTIVE_SIBLINGS", _const("NA")),
    "siblingsactiveraw": _F("ACTIVE_SIBLINGS_RAW", _const("NA")),
    "siblingsviable": _F("VIABLE_SIBLINGS", _const("NA")),
    "siblingsviableraw": _F("VIALBLE_SIBLINGS_RAW", _const("NA")),  # sic, as SLURM spells it
    "maxcpus": _F("MAX_CPUS", _attr_str("num_cpus")),
    "maxnodes": _F("MAX_NODES", _attr_str("nodes")),
    "network": _F("NETWORK", _NULL, nullable=True),
    "ntpercore": _F("NTASKS_PER_CORE", _const("N/A")),
    "ntpernode": _F("NTASKS_PER_NODE", _spec_value("ntasks_per_node", "N/A")),
    "ntpersocket": _F("NTASKS_PER_SOCKET", _const("N/A")),
    "ntperboard": _F("NTASKS_PER_BOARD", _const("N/A")),
    "preempttime": _F("PREEMPT_TIME", _const("N/A")),
    "profile": _F("PROFILE", _const("NotSet")),
    "reboot": _F("REBOOT", _const("0")),
    "reqswitch": _F("REQ_SWITCH", _const("0")),
    "requeue": _F("REQUEUE", _per_job(lambda j, c: "1" if j.requeue else "0")),
    "resizetime": _F("RESIZE_TIME", _const("N/A"), cut=False),
    "restartcnt": _F("RESTART_COUNT", _attr_str("restart_count")),
    "sperboard": _F("SOCKETS_PER_BOARD", _const("0")),
    "stderr": _F("STDERR", _per_job(_std_err)),
    "stdin": _F("STDIN", _attr("stdin")),
    "stdout": _F("STDOUT", _per_job(_std_out)),
    "mintime": _F("TIME_MIN", _per_job(_min_time)),
    "wait4switch": _F("WAIT4SWITCH", _const("0:00")),
    "cpus-per-tres": _F("CPUS_PER_TRES", _const("N/A")),
    "mem-per-tres": _F("MEM_PER_TRES", _const("N/A")),
    "tres": _F("TRES_ALLOC", _per_job(_tres)),
    "tres-alloc": _F("TRES_ALLOC", _per_job(_tres)),
    "tres-bind": _F("TRES_BIND", _const("N/A")),
    "tres-freq": _F("TRES_FREQ", _const("N/A")),
    "tres-per-job": _F("TRES_PER_JOB", _spec_value("tres_per_job", "N/A")),
    "tres-per-socket": _F("TRES_PER_SOCKET", _const("N/A")),
    "tres-per-task": _F("TRES_PER_TASK", _const("N/A")),
    "mcslabel": _F("MCSLABEL", _NULL, nullable=True),
    "deadline": _F("DEADLINE", _per_job(lambda j, c: fmt_time(_spec(j, "deadline")))),
    "hetjobid": _F("HET_JOB_ID", _const("N/A")),
    "packjobid": _F("HET_JOB_ID", _const("N/A")),
    "hetjoboffset": _F("HET_JOB_OFFSET", _const("N/A")),
    "packjoboffset": _F("HET_JOB_OFFSET", _const("N/A")),
    "hetjobidset": _F("HET_JOB_ID_SET", _const("N/A")),
    "packjobidset": _F("HET_JOB_ID_SET", _const("N/A")),
}
LONG_FIELDS["cpus-per-task"] = LONG_FIELDS["cpuspertask"]


def long_field(name: str) -> Field | None:
    """The -O field for `name` (case-insensitive); "numtask..." matches by prefix as in SLURM."""
    key = name.lower()
    found = LONG_FIELDS.get(key)
    if found is None and key.startswith("numtask"):
        return LONG_FIELDS["numtasks"]
    return found
