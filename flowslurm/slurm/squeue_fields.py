"""The columns squeue can print (header, values, SLURM's N/A / (null) forms) and its job states.

Every column is a function over the whole list of rows (`Job` objects, already folded and sorted)
that returns one string per row; working column by column keeps the per-job cost to a list
comprehension. `None` in a column stands for a C NULL string, which SLURM's printf shows as
"(null)" (or as nothing when a left-justified width is under 6, as glibc does).

`FIELDS` maps the `-o/--format` letters and `LONG_FIELDS` the `-O/--Format` names (lower case)
to a `Field`. Both tables follow SLURM 22.05's squeue; the values come from our job model.
"""

from __future__ import annotations

import time
from itertools import repeat
from operator import attrgetter
from flowslurm.engine.model import TIME_LIMIT_INVALID, Job, raw_id
from flowslurm.errors import SlurmInputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

    Column = Callable[[list[Job], "Ctx", int], list[Any]]

YEAR_SECONDS = 365 * 24 * 3600
NO_VAL = 0xFFFFFFFE  # array_task_id of a folded array entry, as SLURM sorts it
INFINITE = 0xFFFFFFFF
ERROR_PREFIX = "squeue: error: "
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

# State names in the order SLURM lists them in its "Valid job states" message.
BASE_STATES = ("PENDING", "RUNNING", "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT",
               "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY")
FLAG_STATES = ("COMPLETING", "CONFIGURING", "RESIZING", "RESV_DEL_HOLD", "REQUEUED", "REQUEUE_FED",
               "REQUEUE_HOLD", "REVOKED", "SIGNALING", "SPECIAL_EXIT", "STAGE_OUT", "STOPPED")
ALL_STATES = frozenset(BASE_STATES + FLAG_STATES)
# What squeue lists without -t: pending, running, suspended, completing (and their flag states).
DEFAULT_STATES = frozenset({"PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING",
                            "STAGE_OUT", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",
                            "SIGNALING", "SPECIAL_EXIT", "RESV_DEL_HOLD", "STOPPED"})


class Ctx:
    """What a column needs besides the job: the clock (whole seconds) and node/cluster names."""

    __slots__ = ("now", "node_name", "cluster")

    def __init__(self, now: int, node_name: str = "", cluster: str = "") -> None:
        self.now = now
        self.node_name = node_name
        self.cluster = cluster


class Field:
    """One printable column. `cut`: True/False as SLURM truncates a right-justified value, None when
    the column decides per value (it then truncates to the width it is given itself).

    `reads`: the ledger columns the values come from (space-separated), so a listing can fetch
    just those; None when the column needs the whole job (its spec). Taken from the column
    builder when it knows (`_attr`, `_const`, ...), else from the `reads` argument."""

    __slots__ = ("header", "column", "cut", "header_cut", "nullable", "reads")

    def __init__(self, header: str, column: Column, cut: bool | None = True,
                 header_cut: bool = True, nullable: bool = False, reads: str | None = None) -> None:
        self.header = header
        self.column = column
        self.cut = cut
        self.header_cut = header_cut
        self.nullable = nullable
        known = getattr(column, "reads", None) if reads is None else reads.split()
        self.reads: tuple[str, ...] | None = None if known is None else tuple(known)


# --- job states (-t/--states) --------------------------------------------------------------


def parse_states(text: str) -> frozenset[str]:
    """`-t/--states`: "all", or a comma list of long or compact names in any case."""
    if text.lower() == "all":
        return ALL_STATES
    by_name = {s: s for s in ALL_STATES}
    by_name.update({code: s for s, code in STATE_COMPACT.items()})
    out: set[str] = set()
    for token in text.split(","):
        if not token:
            continue
        state = by_name.get(token.upper())
        if state is None:
            valid = ",".join(BASE_STATES + FLAG_STATES)
            raise SlurmInputError(f"{ERROR_PREFIX}Invalid job state specified: {token}\n"
                                  f"{ERROR_PREFIX}Valid job states include: {valid}\n", 1)
        out.add(state)
    return frozenset(out)


def filter_states(jobs: Iterable[Job], states: frozenset[str] | None = None) -> list[Job]:
    """Keep the jobs squeue would list for `states` (None: the default pending/running set)."""
    wanted = DEFAULT_STATES if states is None else states
    return [j for j in jobs if j.state in wanted]


# --- value helpers --------------------------------------------------------------------------


def fmt_secs(secs: int) -> str:
    """Durations as squeue prints them: M:SS, H:MM:SS, D-HH:MM:SS, INVALID outside 0..1 year."""
    if secs < 3600:
        return "%d:%02d" % divmod(secs, 60) if secs >= 0 else "INVALID"
    if secs > YEAR_SECONDS:
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
    if end is None or job.state == "RUNNING":
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
    if job.end_time and job.state not in ("RUNNING", "SUSPENDED", "CONFIGURING"):
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


def _reading(column: Column, reads: str) -> Column:
    column.reads = reads.split()  # type: ignore[attr-defined]
    return column


def _attr(name: str) -> Column:
    getter = attrgetter(name)

    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return list(map(getter, jobs))
    return _reading(column, name)


def _attr_str(name: str) -> Column:
    getter = attrgetter(name)

    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return list(map(str, map(getter, jobs)))
    return _reading(column, name)


def _spec_value(key: str, default: Any = None) -> Column:
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        values = (j.spec.get(key) if j.spec else None for j in jobs)
        return [default if v in (None, "") else str(v) for v in values]
    return column


def _const(value: str | None) -> Column:
    return _reading(lambda jobs, ctx, width: [value] * len(jobs), "")


def _per_job(fn: Callable[[Job, Ctx], Any], reads: str | None = None) -> Column:
    """A column of fn(job, ctx); `reads` names the columns fn reads (None: it reads the spec)."""
    def column(jobs: list[Job], ctx: Ctx, width: int) -> list[Any]:
        return [fn(j, ctx) for j in jobs]
    return column if reads is None else _reading(column, reads)


def _time_attr(name: str) -> Column:
    return _reading(lambda jobs, ctx, width: [fmt_time(getattr(j, name)) for j in jobs], name)


def _cut(text: str, width: int) -> str:
    return text[:width] if width > 0 else text


def _col_job_id(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    if not any(map(attrgetter("array_job_id"), jobs)):
        return list(map(str, map(attrgetter("job_id"), jobs)))
    return [str(j.job_id) if j.array_job_id is None else _array_id_text(j) for j in jobs]


def _array_task_id(j: Job, ctx: Ctx) -> str:
    if j.array_job_id is None:
        return "N/A"
    return (j.array_spec or "") if j.array_task_id is None else str(j.array_task_id)


def _col_state_compact(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    return list(map(STATE_COMPACT.get, map(attrgetter("state"), jobs), repeat("?")))


def _col_time_used(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    now = ctx.now
    secs = fmt_secs
    return ["0:00" if not j.start_time else
            secs(now - int(j.start_time)) if j.state == "RUNNING" else secs(time_used(j, now))
            for j in jobs]


def _col_time_limit(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    unlimited = _cut("UNLIMITED", width)
    return [unlimited if s is None else fmt_secs(s) for s in map(time_limit_secs, jobs)]


def _time_left(j: Job, ctx: Ctx, width: int) -> str:
    secs = time_limit_secs(j)
    if secs is None:
        return _cut("UNLIMITED", width)
    return fmt_secs(secs - time_used(j, ctx.now) if secs >= 0 else -1)


def _node_list(job: Job, ctx: Ctx) -> str:
    if job.node_list:
        return job.node_list
    return ctx.node_name if job.state in ALLOCATED_STATES else ""


def _col_reason_list(jobs: list[Job], ctx: Ctx, width: int) -> list[str]:
    reason_states = REASON_STATES
    if reason_states.issuperset(map(attrgetter("state"), jobs)):  # all "(reason)": a pending listing
        reasons = list(map(attrgetter("reason"), jobs))
        table = {r: _cut(f"({r or 'None'})", width) for r in set(reasons)}
        return list(map(table.__getitem__, reasons))
    shown: dict[str, str] = {}
    out = []
    for j in jobs:
        if j.state in reason_states:
            text = shown.get(j.reason)
            if text is None:
                text = shown[j.reason] = _cut(f"({j.reason or 'None'})", width)
            out.append(text)
        else:
            out.append(j.node_list or _node_list(j, ctx))
    return out


def _end(j: Job, ctx: Ctx) -> str:
    end = end_time(j, ctx.now)
    return end if isinstance(end, str) else fmt_time(end)


def _min_cpus(job: Job, ctx: Ctx) -> str:
    return fmt_units(job.cpus_per_task * int(_spec(job, "ntasks_per_node") or 1))


def _over_subscribe(job: Job, ctx: Ctx) -> str:
    return "NO" if _spec(job, "exclusive") else ("YES" if _spec(job, "oversubscribe") else "OK")


def _batch_host(job: Job, ctx: Ctx) -> str:
    return job.batch_host or ("n/a" if job.state in PENDING_STATES else (ctx.node_name or "n/a"))


def _std_out(job: Job, ctx: Ctx) -> str:
    return job.stdout or f"{job.work_dir}/slurm-{job.job_id}.out"


def _pending_time(job: Job, ctx: Ctx) -> str:
    if job.start_time and job.start_time < ctx.now:
        return str(int(job.start_time) - int(job.submit_time))
    return str(ctx.now - int(job.submit_time))


def _tres(job: Job, ctx: Ctx) -> str:
    mem = job.mem_per_cpu_mb * job.num_cpus if job.mem_per_cpu_mb else job.mem_mb * job.nodes
    text = f"cpu={job.num_cpus},mem={fmt_units(mem, 2)},node={job.nodes},billing={job.num_cpus}"
    return text + (f",gres/gpu={job.gpus}" if job.gpus else "")


# --- the tables -----------------------------------------------------------------------------

_F = Field
# What the shared helpers read (see Field.reads).
USED_READS = "start_time state end_time"  # time_used
START_READS = "start_time state begin_time"  # start_time
END_READS = "end_time time_limit " + START_READS  # end_time
ID_READS = "job_id array_job_id array_task_id array_spec"
TRES_READS = "mem_per_cpu_mb num_cpus mem_mb nodes gpus"
FIELDS: dict[str, Field] = {
    "a": _F("ACCOUNT", _attr("account")),
    "A": _F("JOBID", _per_job(lambda j, c: str(raw_id(j.job_id, j.array_job_id)), "job_id array_job_id")),
    "b": _F("TRES_PER_NODE", _per_job(lambda j, c: j.tres_per_node or "N/A", "tres_per_node")),
    "B": _F("EXEC_HOST", _per_job(_batch_host, "batch_host state")),
    "c": _F("MIN_CPUS", _per_job(_min_cpus)),
    "C": _F("CPUS", _attr_str("num_cpus")),
    "d": _F("MIN_TMP_DISK", _per_job(lambda j, c: fmt_units(int(_spec(j, "tmp_mb") or 0), 2))),
    "D": _F("NODES", _attr_str("nodes")),
    "e": _F("END_TIME", _per_job(_end, END_READS)),
    "E": _F("DEPENDENCY", _per_job(lambda j, c: j.dependency or None if j.state in PENDING_STATES else None,
                                  "dependency state"), nullable=True),
    "f": _F("FEATURES", _spec_value("constraint"), nullable=True),
    "F": _F("ARRAY_JOB_ID", _per_job(lambda j, c: str(j.array_job_id or j.job_id), "array_job_id job_id")),
    "g": _F("GROUP", _per_job(lambda j, c: j.group or str(j.gid), "group gid")),
    "G": _F("GROUP", _attr_str("gid")),
    "h": _F("OVER_SUBSCRIBE", _per_job(_over_subscribe)),
    "H": _F("SOCKETS_PER_NODE", _const("*")),
    "i": _F("JOBID", _col_job_id, reads=ID_READS),
    "I": _F("CORES_PER_SOCKET", _const("*")),
    "j": _F("NAME", _attr("name")),
    "J": _F("THREADS_PER_CORE", _const("*")),
    "k": _F("COMMENT", _per_job(lambda j, c: j.comment or None, "comment"), nullable=True),
    "K": _F("ARRAY_TASK_ID", _per_job(_array_task_id, ID_READS)),
    "l": _F("TIME_LIMIT", _col_time_limit, cut=None, reads="time_limit"),
    "L": _F("TIME_LEFT", lambda jobs, c, w: [_time_left(j, c, w) for j in jobs], cut=None,
             reads="time_limit " + USED_READS),
    "m": _F("MIN_MEMORY", _per_job(lambda j, c: fmt_units(j.mem_per_cpu_mb or j.mem_mb, 2),
                                   "mem_per_cpu_mb mem_mb")),
    "M": _F("TIME", _col_time_used, cut=False, reads=USED_READS),
    "n": _F("REQ_NODES", _spec_value("nodelist", "")),
    "N": _F("NODELIST", _per_job(_node_list, "node_list state"), cut=False, header_cut=False),
    "o": _F("COMMAND", _attr("command"), nullable=True),
    "O": _F("CONTIGUOUS", _per_job(lambda j, c: "1" if _spec(j, "contiguous") else "0")),
    "p": _F("PRIORITY", _per_job(lambda j, c: f"{j.priority / 4294967295:16.14f}", "priority")),
    "P": _F("PARTITION", _attr("partition")),
    "q": _F("QOS", _attr("qos")),
    "Q": _F("PRIORITY", _attr_str("priority")),
    "r": _F("REASON", _per_job(lambda j, c: j.reason or "None", "reason")),
    "R": _F("NODELIST(REASON)", _col_reason_list, cut=None, header_cut=False, reads="state reason node_list"),
    "s": _F("", _const("")),
    "S": _F("START_TIME", _per_job(lambda j, c: fmt_time(start_time(j, c.now)), START_READS)),
    "t": _F("ST", _col_state_compact, reads="state"),
    "T": _F("STATE", _attr("state")),
    "u": _F("USER", lambda jobs, ctx, w: [j.user or str(j.uid) for j in jobs], reads="user uid"),
    "U": _F("UID", _attr_str("uid")),
    "v": _F("RESERVATION", _spec_value("reservation"), nullable=True),
    "V": _F("SUBMIT_TIME", _time_attr("submit_time")),
    "w": _F("WCKEY", _spec_value("wckey"), nullable=True),
    "W": _F("LICENSES", _spec_value("licenses"), nullable=True),
    "x": _F("EXC_NODES", _spec_value("exclude", "")),
    "X": _F("CORE_SPEC", _const("N/A")),
    "y": _F("NICE", _per_job(lambda j, c: str(int(_spec(j, "nice") or 0)))),
    "Y": _F("SCHEDNODES", _const(None), cut=False, header_cut=False, nullable=True),
    "z": _F("S:C:T", _const("*:*:*")),
    "Z": _F("WORK_DIR", _attr("work_dir")),
}

def _long_fields() -> dict[str, Field]:
    """The -O/--Format names (built on first use: most listings use -o letters only)."""
    _L = FIELDS
    _NULL = _const(None)
    fields: dict[str, Field] = {
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
        "cluster": _F("CLUSTER", _per_job(lambda j, c: c.cluster or None, ""), nullable=True),
        "delayboot": _F("DELAY_BOOT", _const("0:00")),
        "numtasks": _F("TASKS", _attr_str("ntasks")),
        "clusterfeature": _F("CLUSTER_FEATURES", _NULL, nullable=True),
        "prefer": _F("PREFER", _NULL, nullable=True),
        "admin_comment": _F("ADMIN_COMMENT", _NULL, nullable=True),
        "system_comment": _F("SYSTEM_COMMENT", _NULL, nullable=True),
        "lastschedeval": _F("LAST_SCHED_EVAL", _time_attr("eligible_time")),
        "pendingtime": _F("PENDING_TIME", _per_job(_pending_time, "start_time submit_time")),
        "accruetime": _F("ACCRUE_TIME", _time_attr("eligible_time")),
        "allocnodes": _F("ALLOC_NODES", _per_job(lambda j, c: c.node_name or None, ""), nullable=True),
        "allocsid": _F("ALLOC_SID", _const("0")),
        "associd": _F("ASSOC_ID", _const("0")),
        "batchflag": _F("BATCH_FLAG", _const("1")),
        "boardspernode": _F("BOARDS_PER_NODE", _const("N/A")),
        "cpuspertask": _F("CPUS_PER_TASK", _per_job(
            lambda j, c: str(j.cpus_per_task) if _spec(j, "cpus_per_task_given") else "N/A")),
        "derivedec": _F("DERIVED_EC", _per_job(
            lambda j, c: str((j.derived_exit_code << 8) | j.derived_exit_signal),
            "derived_exit_code derived_exit_signal")),
        "eligibletime": _F("ELIGIBLE_TIME", _time_attr("eligible_time")),
        "exit_code": _F("EXIT_CODE", _per_job(
            lambda j, c: str(((j.exit_code or 0) << 8) | (j.exit_signal or 0)), "exit_code exit_signal")),
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
        "requeue": _F("REQUEUE", _per_job(lambda j, c: "1" if j.requeue else "0", "requeue")),
        "resizetime": _F("RESIZE_TIME", _const("N/A"), cut=False),
        "restartcnt": _F("RESTART_COUNT", _attr_str("restart_count")),
        "sperboard": _F("SOCKETS_PER_BOARD", _const("0")),
        "stderr": _F("STDERR", _per_job(lambda j, c: j.stderr or _std_out(j, c), "stderr stdout work_dir job_id")),
        "stdin": _F("STDIN", _attr("stdin")),
        "stdout": _F("STDOUT", _per_job(_std_out, "stdout work_dir job_id")),
        "mintime": _F("TIME_MIN", _per_job(lambda j, c: fmt_secs(int(_spec(j, "time_min") or 0) * 60))),
        "wait4switch": _F("WAIT4SWITCH", _const("0:00")),
        "cpus-per-tres": _F("CPUS_PER_TRES", _const("N/A")),
        "mem-per-tres": _F("MEM_PER_TRES", _const("N/A")),
        "tres": _F("TRES_ALLOC", _per_job(_tres, TRES_READS)),
        "tres-alloc": _F("TRES_ALLOC", _per_job(_tres, TRES_READS)),
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
    fields["cpus-per-task"] = fields["cpuspertask"]
    # flowslurm's own: what a cloud job's machines cost so far and per hour, and what they are
    for name, header, column in (("cost", "COST", "cost"), ("priceperhour", "PRICE_PER_HOUR", "price_per_hour"),
                                 ("instancetype", "INSTANCE_TYPE", "instance_type"),
                                 ("cloudid", "CLOUD_ID", "cloud_id")):
        fields[name] = _F(header, _per_job(lambda j, c, a=column: getattr(j, a, None), column), nullable=True)
    return fields


_LONG_FIELDS: dict[str, Field] = {}


def __getattr__(name: str) -> Any:
    if name == "LONG_FIELDS":  # the table, built when first asked for
        if not _LONG_FIELDS:
            _LONG_FIELDS.update(_long_fields())
        return _LONG_FIELDS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def long_field(name: str) -> Field | None:
    """The -O field for `name` (case-insensitive); "numtask..." matches by prefix as in SLURM."""
    fields = __getattr__("LONG_FIELDS")
    key = name.lower()
    found = fields.get(key)
    if found is None and key.startswith("numtask"):
        return fields["numtasks"]
    return found
