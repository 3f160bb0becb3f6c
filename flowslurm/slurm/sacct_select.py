"""Which jobs sacct lists: -s/--state, --name, -S/-E time windows and -j matching (SLURM 22.05).

Pure functions over `Job` (flowslurm.engine.model); the clock comes in as `now`.

- `parse_states` reads -s values ("CA,cd", "OUT_OF_MEMORY", ...) with sacct's fatal messages.
- `parse_time_arg` reads -S/-E ("now-1hour", "2026-11-29", "16:00", "today", ...), resolving
  dates without a year and clock times without a date into the past, as sacct does.
- `time_window` applies sacct's defaults: midnight today to now without -j and -s; all time
  with -j; the single instant "now" with -s alone (so `sacct -s F` shows what failed just now).
- `job_selected` / `select_jobs` apply a window, states, names, users and -j selectors;
  `steps_only` tells `rows_for` which jobs were asked for by step ("380.batch").
"""

from __future__ import annotations

import time

from flowslurm.engine.model import Job

TYPE_CHECKING = False  # `typing` costs sacct's start-up some 5 ms: annotations only
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from flowslurm.slurm.jobrefs import JobIdSelector


def _error(message: str, code: int, **how: str) -> Exception:
    """A timeparse.SlurmValueError, imported only when one is raised (sacct starts without timeparse)."""
    from flowslurm.slurm.timeparse import SlurmValueError

    return SlurmValueError(message, code, **how)


__all__ = [
    "SACCT_STATES", "parse_states", "split_list", "parse_time_arg", "time_window", "Selection",
    "job_selected", "select_jobs", "steps_only",
]

# (state as stored, compact code): what sacct accepts with -s and can find in accounting.
SACCT_STATES: tuple[tuple[str, str], ...] = (
    ("PENDING", "PD"), ("RUNNING", "R"), ("SUSPENDED", "S"), ("COMPLETED", "CD"), ("CANCELLED", "CA"),
    ("FAILED", "F"), ("TIMEOUT", "TO"), ("NODE_FAIL", "NF"), ("PREEMPTED", "PR"), ("BOOT_FAIL", "BF"),
    ("DEADLINE", "DL"), ("OUT_OF_MEMORY", "OOM"), ("REQUEUED", "RQ"), ("RESIZING", "RS"), ("REVOKED", "RV"),
)
# States SLURM knows by name but does not keep in accounting: -s with them is fatal.
_UNACCOUNTED: tuple[tuple[str, str], ...] = (
    ("COMPLETING", "CG"), ("CONFIGURING", "CF"), ("RESV_DEL_HOLD", "RD"), ("REQUEUE_FED", "RF"),
    ("REQUEUE_HOLD", "RH"), ("SIGNALING", "SI"), ("SPECIAL_EXIT", "SE"), ("STAGE_OUT", "SO"), ("STOPPED", "ST"),
)
_ENDED = frozenset(
    {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
     "OUT_OF_MEMORY", "REQUEUED", "RESIZING", "REVOKED"}
)


def split_list(text: str) -> list[str]:
    """SLURM's comma-list reading: a leading quote runs to its partner, other quotes become '`',
    empty items are skipped."""
    quote = text[:1] if text[:1] in ("'", '"') else ""
    body = text[1:] if quote else text
    if quote and quote in body:
        body = body[: body.index(quote)]
    body = body.replace('"', "`").replace("'", "`")
    return [item for item in body.split(",") if item]


def parse_states(values: Iterable[str]) -> list[str]:
    """-s/--state values (names or codes, any case, comma lists) as stored state names, in order.

    Errors are fatal with exit 1: "unrecognized job state value 'X'" and
    "job state X is not supported / accounted" (e.g. for COMPLETING)."""
    states: list[str] = []
    for value in values:
        for name in split_list(value):
            low = name.lower()
            found = next((s for s, code in SACCT_STATES if low in (s.lower(), code.lower())), None)
            if found is None:
                if any(low in (s.lower(), code.lower()) for s, code in _UNACCOUNTED):
                    raise _error(f"job state {name} is not supported / accounted", 1, level="fatal")
                raise _error(f"unrecognized job state value '{name}'", 1, level="fatal")
            if found not in states:
                states.append(found)
    return states


# ---------------------------------------------------------------- -S / -E

_DAY = 86400


def _begin_epoch(text: str, now: float) -> int | None:
    """The --begin reading of `text` (future-leaning), None when it names no time."""
    from flowslurm.slurm.timeparse import SlurmValueError, parse_begin

    try:
        return int(parse_begin(text, now))
    except SlurmValueError as bad:
        if bad.preamble is None:
            return None
        raise _error(bad.preamble, 1, level="bare") from None


def parse_time_arg(text: str, now: float) -> int | None:
    """Epoch seconds for a -S/-E value, or None when it names no time (sacct then ignores it).

    Same grammar as --begin, but sacct looks into the past: a clock time without a date means
    today (even when later than now) and a date without a year means this year, or last year
    for a later month. A bad value raises
    SlurmValueError("Invalid time specification (pos=N): TEXT", 1, level="bare").
    """
    epoch = _begin_epoch(text, now)
    low = text.lower()
    if epoch is None or any(word in low for word in ("now", "today", "tomorrow", "uts")):
        return epoch
    # How the answer moves with the clock tells which parts the text left out.
    moved = (_begin_epoch(text, now + 3 * _DAY) or epoch) - epoch
    here, then = time.localtime(now), time.localtime(epoch)
    if _DAY < moved < 5 * _DAY:  # a clock time only
        fields = (here.tm_year, here.tm_mon, here.tm_mday, then.tm_hour, then.tm_min, then.tm_sec, 0, 0, -1)
        return int(time.mktime(fields))
    if (_begin_epoch(text, now + 400 * _DAY) or epoch) - epoch > 300 * _DAY:  # a date without a year
        year = here.tm_year - 1 if then.tm_mon > here.tm_mon else here.tm_year
        fields = (year, then.tm_mon, then.tm_mday, then.tm_hour, then.tm_min, then.tm_sec, 0, 0, -1)
        return int(time.mktime(fields))
    return epoch


def _local_midnight(now: float) -> int:
    t = time.localtime(now)
    return int(time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1)))


def _stamp(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(epoch))


def time_window(
    start: int | None, end: int | None, *, now: float, has_ids: bool, has_states: bool
) -> tuple[int, int]:
    """sacct's [start, end] after its defaults (end is exclusive-ish: it is bumped by one second
    when it equals start or now). Start after end raises
    SlurmValueError("Start time (A) requested is after end time (B).", 1)."""
    inow = int(now)
    s = start or 0
    e = end or 0
    if has_states:
        if not s and not has_ids:
            s = inow
        if s and not e:
            e = s
    elif not has_ids and not s:
        s = _local_midnight(now)
    if not e:
        e = inow
    if e and s > e:
        raise _error(f"Start time ({_stamp(s)}) requested is after end time ({_stamp(e)}).", 1)
    if e == s or e == inow:
        e += 1
    return s, e


# ---------------------------------------------------------------- selecting jobs


class Selection:
    """What sacct was asked for. Empty tuples mean "no filter"; `window` from `time_window`."""

    __slots__ = ("window", "ids", "states", "names", "users", "accounts", "partitions")

    def __init__(
        self, window: tuple[int, int], ids: tuple[JobIdSelector, ...] = (), states: tuple[str, ...] = (),
        names: tuple[str, ...] = (), users: tuple[str, ...] = (), accounts: tuple[str, ...] = (),
        partitions: tuple[str, ...] = (),
    ) -> None:
        self.window = window
        self.ids = ids
        self.states = states
        self.names = names
        self.users = users  # user names or numeric uids
        self.accounts = accounts
        self.partitions = partitions

    def __repr__(self) -> str:
        return "Selection(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"


# The job columns job_selected, steps_only and rows_for's order read.
READS = ("job_id", "array_job_id", "array_task_id", "array_spec", "submit_time", "eligible_time", "start_time",
         "end_time", "state", "name", "user", "uid", "account", "partition")


def _t(value: float | None) -> int:
    return int(value) if value else 0


def _in_state_window(job: Job, state: str, s: int, e: int) -> bool:
    """Was `job` in `state` during [s, e]? (the accounting query's reading)."""
    start, end, eligible = _t(job.start_time), _t(job.end_time), _t(job.eligible_time)
    if state == "PENDING":
        waited = (start and s < start) or (not start and end and s < end) or (
            not start and not end and job.state == "PENDING"
        )
        return bool(eligible and waited and e > eligible)
    if state == "RUNNING":
        return bool(start and (s < end or (not end and job.state == "RUNNING")) and e > start)
    if state == "SUSPENDED":
        return job.state == "SUSPENDED" and start <= e
    return job.state == state and bool(end) and s <= end <= e


def _id_matches(job: Job, sel: JobIdSelector) -> bool:
    if sel.job_id != job.job_id and sel.job_id != job.array_job_id:
        return False
    if sel.tasks is None:
        return True
    if job.array_task_id is not None:
        return job.array_task_id in sel.tasks
    if job.array_job_id is not None and job.array_spec:  # a master row still holding its tasks
        from flowslurm.slurm.values import parse_index_set

        held = parse_index_set(job.array_spec.split("%")[0].replace(":", "-"))
        return bool(held) and any(t in held for t in sel.tasks)  # type: ignore[operator]
    return False


def job_selected(job: Job, sel: Selection) -> bool:
    """Whether sacct lists `job` for `sel` (its steps follow it, see `steps_only`)."""
    s, e = sel.window
    submit, end = _t(job.submit_time), _t(job.end_time)
    if sel.ids:
        if not any(_id_matches(job, i) for i in sel.ids):
            return False
        if not sel.states and not (submit < e and (end >= s or not end)):
            return False
    elif not sel.states:
        eligible = _t(job.eligible_time)
        if not (eligible and eligible < e and (end >= s or not end)):
            return False
    if sel.states and not any(_in_state_window(job, st, s, e) for st in sel.states):
        return False
    if sel.names and job.name.lower() not in {n.lower() for n in sel.names}:
        return False
    if sel.users and job.user not in sel.users and str(job.uid) not in sel.users:
        return False
    if sel.accounts and job.account.lower() not in {a.lower() for a in sel.accounts}:
        return False
    return not sel.partitions or job.partition in sel.partitions


def select_jobs(jobs: Iterable[Job], sel: Selection) -> list[Job]:
    """The jobs `sel` picks, in the order given (`rows_for` sorts them)."""
    if sel.ids or sel.states or sel.names or sel.accounts or sel.partitions:
        return [job for job in jobs if job_selected(job, sel)]
    # sacct's everyday question (a time window, perhaps users), over thousands of jobs: the same
    # tests as job_selected, inline. Times compare as whole seconds (_t), 0 meaning unset.
    s, e = sel.window
    eligible = [job for job in jobs if job.eligible_time and (since := int(job.eligible_time)) and since < e
                and (not job.end_time or int(job.end_time) >= s or not int(job.end_time))]
    if not sel.users:
        return eligible
    users = sel.users
    return [job for job in eligible if job.user in users or str(job.uid) in users]


def steps_only(jobs: Iterable[Job], ids: Sequence[JobIdSelector]) -> dict[int, list[str]]:
    """For jobs that -j named only by step ("380.batch", "382_2.0"): job id -> the step ids to show.

    A job also named without a step (e.g. "-j 380,380.batch") is shown in full and left out."""
    result: dict[int, list[str]] = {}
    for job in jobs:
        wanted: list[str] = []
        for sel in ids:
            if not _id_matches(job, sel):
                continue
            if sel.step is None:
                wanted = []
                break
            wanted.append(sel.step)
        if wanted:
            result[job.job_id] = wanted
    return result
