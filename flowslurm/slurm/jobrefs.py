"""References to other jobs as SLURM 22.05 reads them: --dependency values and the job id lists
of scancel, squeue -j and sacct -j.

Parsers are pure and raise only `SubmitError` (dependencies) or `SlurmValueError` (job ids).
"""

from __future__ import annotations

from flowslurm.errors import SubmitError
from flowslurm.record import FrozenRecord, Record
from flowslurm.slurm.timeparse import SlurmValueError
from flowslurm.slurm.values import _strtol, parse_index_set

TYPE_CHECKING = False

__all__ = ["DepClause", "Dependency", "parse_dependency", "format_dependency", "JobIdSelector", "parse_job_ids"]


def _digit(ch: str) -> bool:
    """True for one ASCII digit (C isdigit), False for "" and other characters."""
    return len(ch) == 1 and "0" <= ch <= "9"


# ---------------------------------------------------------------- dependencies

_DEP_ERROR = "Batch job submission failed: Job dependency problem"
# Accepted type prefixes, in the order they are tried (case-insensitive). Note that only the
# first 11 characters of "afterburstbuffer" are compared, as in SLURM.
_DEP_KINDS: tuple[tuple[str, str], ...] = (
    ("afternotok:", "afternotok"),
    ("aftercorr:", "aftercorr"),
    ("afterany:", "afterany"),
    ("afterok:", "afterok"),
    ("afterburstb", "afterburstbuffer"),
    ("after:", "after"),
)


class DepClause(Record):
    """One dependency on one job: kind ("afterok", ..., "singleton"), target text ("123", "123_4",
    "123_*"; "" for singleton), its parts, a start delay in minutes, and whether the text said
    "(failed)"."""

    __slots__ = ("kind", "target", "job_id", "task", "all_tasks", "delay", "failed")

    def __init__(
        self,
        kind: str,
        target: str = "",
        job_id: int = 0,
        task: int | None = None,
        all_tasks: bool = False,
        delay: int = 0,
        failed: bool = False,
    ) -> None:
        self.kind = kind
        self.target = target
        self.job_id = job_id
        self.task = task
        self.all_tasks = all_tasks
        self.delay = delay
        self.failed = failed


class Dependency(Record):
    """A --dependency value: clauses (one per job, as scontrol lists them) joined by "," or "?"."""

    __slots__ = ("clauses", "any_of")

    def __init__(self, clauses: list[DepClause], any_of: bool = False) -> None:
        self.clauses = clauses
        self.any_of = any_of

    @property
    def joiner(self) -> str:
        return "?" if self.any_of else ","


def _expand_array_deps(text: str) -> str:
    """Rewrite "123_[1-3]" as "123_1:123_2:123_3"; raises SubmitError on a bad bracket."""
    out: list[str] = []
    i = 0
    while i < len(text):
        start = text.find("_[", i)
        if start < 0:
            out.append(text[i:])
            break
        k = start
        while k > i and _digit(text[k - 1]):
            k -= 1
        close = text.find("]", start)
        ids = parse_index_set(text[start + 2 : close]) if close > 0 and k < start else None
        if not ids:
            raise SubmitError(_DEP_ERROR, 1)
        job = text[k:start]
        out.append(text[i:start] + "_" + ":".join([str(ids[0])] + [f"{job}_{t}" for t in ids[1:]]))
        i = close + 1
    return "".join(out)


def _dep_state(text: str, i: int) -> tuple[bool, int]:
    """Optional "(state)" at text[i]: (failed?, index after it)."""
    if text[i : i + 1] != "(":
        return False, i
    close = text.find(")", i)
    if close < 0:
        raise SubmitError(_DEP_ERROR, 1)
    return text[i + 1 : close].lower() == "failed", close + 1


def _dep_target(text: str, i: int, kind: str, allowed_after: str) -> tuple[DepClause, int]:
    """One "JOB[_TASK|_*][+MIN][(state)]" at text[i]; returns the clause and the index after it."""
    job, j = _strtol(text, i)
    if job is None or job <= 0 or job > 2**32 - 1:
        raise SubmitError(_DEP_ERROR, 1)
    target = str(job)
    task: int | None = None
    all_tasks = False
    if text[j : j + 2] == "_*":
        all_tasks, target, j = True, f"{job}_*", j + 2
    elif text[j : j + 1] == "_":
        val, j = _strtol(text, j + 1)
        if val is None or val < 0:
            raise SubmitError(_DEP_ERROR, 1)
        task, target = val, f"{job}_{val}"
    if text[j : j + 1] not in allowed_after:
        raise SubmitError(_DEP_ERROR, 1)
    delay = 0
    if text[j : j + 1] == "+":
        val, j = _strtol(text, j + 1)
        if val is None or val <= 0:
            raise SubmitError(_DEP_ERROR, 1)
        delay = val
    failed, j = _dep_state(text, j)
    return DepClause(kind, target, job, task, all_tasks, delay, failed), j


def parse_dependency(text: str) -> Dependency | None:
    """--dependency "afterok:1:2,afterany:3", "afterok:5_*?afternotok:6", "after:7+10", "singleton",
    or a bare "123" (afterany). "" and "0" mean no dependency (None).

    Raises SubmitError("Batch job submission failed: Job dependency problem", 1).
    """
    if text in ("", "0"):
        return None
    s = _expand_array_deps(text) if "_[" in text else text
    clauses: list[DepClause] = []
    any_of = False
    i = 0
    while True:
        rest = s[i:]
        if rest[:9].lower() == "singleton":
            failed, i = _dep_state(s, i + 9)
            clauses.append(DepClause("singleton", failed=failed))
        elif ":" not in rest and _digit(rest[:1]):
            clause, i = _dep_target(s, i, "afterany", ",")
            clauses.append(clause)
        else:
            kind = next((k for p, k in _DEP_KINDS if rest[: len(p)].lower() == p), None)
            if kind is None or ":" not in rest:
                raise SubmitError(_DEP_ERROR, 1)
            i += rest.index(":") + 1
            while True:
                clause, i = _dep_target(s, i, kind, ",?:+(")
                clauses.append(clause)
                if s[i : i + 1] != ":":
                    break
                i += 1
        sep = s[i : i + 1]
        if sep == "":
            break
        if sep not in ",?":
            raise SubmitError(_DEP_ERROR, 1)
        any_of = any_of or sep == "?"
        i += 1
    return Dependency(clauses, any_of)


def format_dependency(dep: Dependency | None, states: list[str] | None = None) -> str:
    """Dependency text as squeue %E / scontrol Dependency= show it, e.g.
    "afterok:262(unfulfilled),afterok:264(unfulfilled)", "afterok:255_*(unfulfilled)",
    "singleton(unfulfilled)", "after:7+10(failed)".

    `states` gives each clause's state ("unfulfilled", "failed" or "fulfilled"; default
    "unfulfilled", or "failed" where the text said so). Fulfilled clauses are left out; ""
    comes back when nothing is left (squeue and scontrol then print "(null)").
    """
    if dep is None:
        return ""
    pieces: list[str] = []
    for idx, clause in enumerate(dep.clauses):
        state = states[idx] if states is not None else ("failed" if clause.failed else "unfulfilled")
        if state == "fulfilled":
            continue
        if clause.kind == "singleton":
            pieces.append(f"singleton({state})")
            continue
        delay = f"+{clause.delay}" if clause.delay else ""
        pieces.append(f"{clause.kind}:{clause.target}{delay}({state})")
    return dep.joiner.join(pieces)


# ---------------------------------------------------------------- job ids


class JobIdSelector(FrozenRecord):
    """One job id on a command line: the job, optionally array tasks and a step.

    `tasks` None means the whole job (also for "123_*", where `all_tasks` is True); otherwise the
    selected task ids. `step` is "batch", "extern", "interactive", "0", ... or None. Immutable.
    """

    __slots__ = ("job_id", "tasks", "step", "all_tasks")

    def __init__(
        self, job_id: int, tasks: tuple[int, ...] | None = None, step: str | None = None, all_tasks: bool = False
    ) -> None:
        init = object.__setattr__
        init(self, "job_id", job_id)
        init(self, "tasks", tasks)
        init(self, "step", step)
        init(self, "all_tasks", all_tasks)

    if TYPE_CHECKING:
        job_id: int
        tasks: tuple[int, ...] | None
        step: str | None
        all_tasks: bool


def _scancel_ids(args: list[str]) -> list[JobIdSelector]:
    """scancel's reading: "123", "123_4", "123_*", "123_[1-3]", "123.0", "1,2" (per argument)."""
    result: list[JobIdSelector] = []
    pending = list(args)
    while pending:
        arg = pending.pop(0)
        bad = SlurmValueError(f"Invalid job id {arg}", 1)
        job, j = _strtol(arg)
        if job is None or job <= 0:
            raise bad
        if arg[j : j + 2] == "_[":
            close = arg.find("]", j)
            ids = parse_index_set(arg[j + 1 : close + 1]) if close == len(arg) - 1 else None
            if not ids:
                raise bad
            result.append(JobIdSelector(job, tuple(ids)))
            continue
        tasks: tuple[int, ...] | None = None
        all_tasks = False
        if arg[j : j + 2] == "_*":
            all_tasks, j = True, j + 2
        elif arg[j : j + 1] in ("_", "+"):  # "+N" is a hetjob component: accepted, not used
            is_task = arg[j] == "_"
            val, j = _strtol(arg, j + 1)
            if val is not None and val < 0:
                raise bad
            if is_task:
                tasks = (val or 0,)
        step: str | None = None
        if arg[j : j + 1] == ".":
            val, j = _strtol(arg, j + 1)
            if val is not None and val < 0:
                raise bad
            step = str(val or 0)
        result.append(JobIdSelector(job, tasks, step, all_tasks))
        if arg[j : j + 1] == ",":
            pending.insert(0, arg[j + 1 :])
        elif arg[j:]:
            raise bad
    return result


def _split_outside_brackets(text: str) -> list[str]:
    """Split on commas that are not inside [...]; drop empty pieces."""
    pieces: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth <= 0:
            pieces.append("".join(current))
            current = []
        else:
            current.append(ch)
    pieces.append("".join(current))
    return [p for p in pieces if p]


def _c_int(value: int) -> int:
    """A C long stored in a C int (32 bits), as squeue's `int job_id = strtol(...)` does."""
    return (value + 2**31) % 2**32 - 2**31


def _squeue_ids(args: list[str]) -> list[JobIdSelector]:
    """squeue -j reading: a leading number is the job, "_N" / "_[1-3]" picks tasks, the rest is
    ignored (as squeue does). Numbers are C ints: "2147483648" is negative, hence refused."""
    result: list[JobIdSelector] = []
    for arg in args:
        for tok in _split_outside_brackets(arg):
            job, j = _strtol(tok)
            if job is None or _c_int(job) <= 0:
                raise SlurmValueError(f"Invalid job id: {tok}", 1)
            job = _c_int(job)
            tasks: tuple[int, ...] | None = None
            if tok[j : j + 2] == "_[":
                ids = parse_index_set(tok[j + 1 : tok.find("]", j) + 1])
                tasks = tuple(ids) if ids else (0,)
            elif tok[j : j + 2] == "_*":
                result.append(JobIdSelector(job, None, None, True))
                continue
            elif tok[j : j + 1] == "_":
                val, _ = _strtol(tok, j + 1)
                tasks = (_c_int(val or 0),)
            result.append(JobIdSelector(job, tasks))
    return result


def _sacct_ids(args: list[str]) -> list[JobIdSelector]:
    """sacct -j reading: "123", "123_4", "123.batch", "123.0", "123_4.batch" (fatal errors)."""
    result: list[JobIdSelector] = []
    for arg in args:
        for tok in arg.split(","):
            if tok == "":
                continue
            if not _digit(tok[0]):
                raise SlurmValueError(f"Bad job/step specified: {tok}", 1, level="fatal")
            name, dot, step_text = tok.partition(".")
            step: str | None = None
            if dot:
                if step_text in ("batch", "extern", "interactive"):
                    step = step_text
                elif _digit(step_text[:1]):
                    step = str(_strtol(step_text)[0])
                else:
                    raise SlurmValueError(f"Bad step specified: {name}", 1, level="fatal")
            tasks: tuple[int, ...] | None = None
            if "_" in name:
                under = name[name.index("_") + 1 :]
                if not _digit(under[:1]):
                    raise SlurmValueError(f"Bad job array element specified: {name}", 1, level="fatal")
                tasks = (int(_strtol(under)[0] or 0),)
            selector = JobIdSelector(int(_strtol(name)[0] or 0), tasks, step)
            if selector not in result:
                result.append(selector)
    return result


def parse_job_ids(args: list[str], command: str = "scancel") -> list[JobIdSelector]:
    """Job ids as `command` ("scancel", "squeue" or "sacct") reads them; comma lists allowed.

    Errors (SlurmValueError, exit 1), as each command words them:
      scancel: "Invalid job id abc" (level "error")
      squeue:  "Invalid job id: abc" (level "error")
      sacct:   "Bad job/step specified: abc", "Bad step specified: 123",
               "Bad job array element specified: 123_x" (level "fatal")
    """
    if command == "squeue":
        return _squeue_ids(args)
    if command == "sacct":
        return _sacct_ids(args)
    return _scancel_ids(args)
