"""sacct's output as SLURM 22.05 prints it: -o/--format parsing, row order and rendering.

Pure functions over `Job` / `Step` (flowslurm.engine.model), or the ledger's light rows holding
the columns `columns_read` and `sacct_select.READS` name: no ledger access, no I/O. The field
table itself (widths, print kinds, how each value comes from the model) is in `sacct_fields`.

- `field_list_spec` assembles the field list the way sacct does (-o, -b, -l, SACCT_FORMAT);
  `parse_format` turns it into `Column`s (prefix matching, "%N" widths, "ALL").
- `rows_for` orders jobs and their steps as sacct lists them; `render` prints them fixed-width
  (truncating with '+'), `-p` (the delimiter after every field) or `-P` (between fields).
- `helpformat` is `sacct -e`.
"""

from __future__ import annotations

import time
from itertools import repeat

from flowslurm.engine.model import Job, Step
from flowslurm.slurm.sacct_fields import (
    EXTRA_FIELDS,
    FIELDS,
    Ctx,
    FieldDef,
    clock,
    derived_exit_pair,
    format_exit,
    job_exit_pair,
    state_text,
)

_SEARCHED = FIELDS + EXTRA_FIELDS

TYPE_CHECKING = False  # `typing` costs sacct's start-up some 5 ms: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any


def _error(message: str, code: int, **how: str) -> Exception:
    """A timeparse.SlurmValueError, imported only when one is raised (sacct starts without timeparse)."""
    from flowslurm.slurm.timeparse import SlurmValueError

    return SlurmValueError(message, code, **how)


__all__ = [
    "FIELDS", "FieldDef", "Column", "Ctx", "Row", "DEFAULT_FIELDS", "BRIEF_FIELDS", "LONG_FIELDS",
    "field_list_spec", "parse_format", "helpformat", "rows_for", "render", "job_exit_pair",
    "format_exit", "derived_exit_pair", "state_text",
]

DEFAULT_FIELDS = "jobid,jobname,partition,account,alloccpus,state,exitcode"
BRIEF_FIELDS = "jobid,state,exitcode"
LONG_FIELDS = (
    "jobid,jobidraw,jobname,partition,maxvmsize,maxvmsizenode,maxvmsizetask,avevmsize,maxrss,"
    "maxrssnode,maxrsstask,averss,maxpages,maxpagesnode,maxpagestask,avepages,mincpu,mincpunode,"
    "mincputask,avecpu,ntasks,alloccpus,elapsed,state,exitcode,avecpufreq,reqcpufreqmin,"
    "reqcpufreqmax,reqcpufreqgov,reqmem,consumedenergy,maxdiskread,maxdiskreadnode,maxdiskreadtask,"
    "avediskread,maxdiskwrite,maxdiskwritenode,maxdiskwritetask,avediskwrite,reqtres,alloctres,"
    "tresusageinave,tresusageinmax,tresusageinmaxn,tresusageinmaxt,tresusageinmin,tresusageinminn,"
    "tresusageinmint,tresusageintot,tresusageoutmax,tresusageoutmaxn,tresusageoutmaxt,"
    "tresusageoutave,tresusageouttot"
)
_MAX_WIDTH = 100_000  # SLURM would overflow its stack far before this; we simply clamp.
_C_SPACE = " \t\n\v\f\r"


class Column:
    """A field as requested with -o: the definition and the width in force (sign = justification)."""

    __slots__ = ("field", "width")

    def __init__(self, field: FieldDef, width: int) -> None:
        self.field = field
        self.width = width

    @property
    def name(self) -> str:
        return self.field.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Column):
            return (self.field, self.width) == (other.field, other.width)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.field.name, self.width))

    def __repr__(self) -> str:
        return f"Column({self.field.name!r}, {self.width})"


Row = tuple[Job, "Step | None"]

# ---------------------------------------------------------------- -o / --format


def helpformat() -> str:
    """`sacct -e` / `--helpformat`: the field names, four to a line, each padded to 19."""
    out: list[str] = []
    for i, field in enumerate(FIELDS):
        if i & 3:
            out.append(" ")
        elif i:
            out.append("\n")
        out.append(f"{field.name:<19}")
    out.append("\n")
    return "".join(out)


def field_list_spec(
    formats: Sequence[str] = (), *, brief: bool = False, long: bool = False, env: Mapping[str, str] | None = None
) -> str:
    """The field list sacct assembles: every -o value, then -b's and -l's lists; SACCT_FORMAT
    (or the default list) only when none of those was given. Each piece ends with ','.

    -o together with -l is fatal ("Options -o(--format) and -l(--long) are mutually exclusive...").
    """
    if long and formats:
        raise _error(
            "Options -o(--format) and -l(--long) are mutually exclusive. Please remove one and retry.",
            1,
            level="fatal",
        )
    spec = "".join(f"{f}," for f in formats)
    if brief:
        spec += BRIEF_FIELDS + ","
    if long:
        spec += LONG_FIELDS + ","
    if not formats and not brief and not long:
        env_value = (env or {}).get("SACCT_FORMAT")
        spec = f"{env_value if env_value is not None else DEFAULT_FIELDS},"
    return spec


def _atoi(text: str) -> int:
    """C atoi: optional blanks and sign, then digits; 0 when there are none."""
    i = 0
    while i < len(text) and text[i] in _C_SPACE:
        i += 1
    sign = 1
    if i < len(text) and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    start = i
    while i < len(text) and "0" <= text[i] <= "9":
        i += 1
    value = sign * int(text[start:i]) if i > start else 0
    return max(-_MAX_WIDTH, min(_MAX_WIDTH, value))


def _find_field(name: str) -> int | None:
    """The first field (table order, SLURM's then ours) whose name starts with `name`, ignoring case."""
    low = name.lower()
    for i, field in enumerate(_SEARCHED):
        if field.name.lower().startswith(low):
            return i
    return None


def parse_format(spec: str) -> list[Column]:
    """Columns for a field list such as "JobID,JobName%30,State" (a missing trailing ',' is added).

    As in sacct: names match by case-insensitive prefix (first field in table order), "ALL" (or
    any prefix of it, e.g. "a") selects every field, "%N" sets the width (negative = left
    justified, non-numbers read as 0), a width applies to every use of that field, and an empty
    item ends the list. Unknown names raise SlurmValueError('Invalid field requested: "X"', 1).
    """
    if not spec.endswith(","):
        spec += ","
    chosen: list[int] = []
    widths: dict[int, int] = {}
    for piece in spec.split(",")[:-1]:
        piece = piece.lstrip(_C_SPACE)
        if not piece:
            break
        name, pct, width_text = piece.partition("%")
        width = _atoi(width_text) if pct else None
        if "all".startswith(name.lower()):
            for i in range(len(FIELDS)):
                if width is not None:
                    widths[i] = width
                chosen.append(i)
            continue
        index = _find_field(name)
        if index is None:
            low = name.lower()
            if low in ("allocgres", "reqgres"):
                kind = "AllocGRES" if low == "allocgres" else "ReqGRES"
                tres = "AllocTRES" if low == "allocgres" else "ReqTRES"
                raise _error(f"{kind} has been removed, please use {tres}", 1, level="fatal")
            raise _error(f'Invalid field requested: "{name}"', 1)
        if width is not None:
            widths[index] = width
        chosen.append(index)
    return [Column(_SEARCHED[i], widths.get(i, _SEARCHED[i].width)) for i in chosen]


def columns_read(columns: Sequence[Column]) -> tuple[str, ...] | None:
    """The job columns rendering `columns` reads ("steps" among them when a job row reads its
    steps), or None when a field needs the whole job (its spec)."""
    names: dict[str, None] = {}
    for col in columns:
        reads = col.field.reads
        if reads is None:
            return None
        names.update(dict.fromkeys(reads))
    return tuple(names)


# ---------------------------------------------------------------- rows


def _step_rank(step: Step) -> tuple[float, int, int]:
    order = {"extern": 0, "batch": 1, "interactive": 2}
    start = step.start_time if step.start_time else float("inf")
    if step.step_id.isdigit():
        return (start, 3, int(step.step_id))
    return (start, order.get(step.step_id, 3), 0)


def _job_key(job: Job) -> tuple[float, int, int, int]:
    task = job.array_task_id if job.array_task_id is not None else 0xFFFFFFFE
    return (int(job.submit_time), job.array_job_id or 0, task, job.job_id)


def rows_for(
    jobs: Iterable[Job], *, allocations_only: bool = False, steps_only: Mapping[int, Sequence[str]] | None = None
) -> list[Row]:
    """The rows sacct prints, in its order: jobs by submit time (then array job, task, id), each
    followed by its steps in start order (extern, batch, 0, 1, ...).

    `allocations_only` is -X (no steps). `steps_only` maps a job id to the only step ids to show
    for it (when -j named steps, e.g. "380.batch"); such a job's own row is then left out.
    """
    rows: list[Row] = []
    for job in sorted(jobs, key=_job_key):
        only = steps_only.get(job.job_id) if steps_only and not allocations_only else None
        if only is None:
            rows.append((job, None))
            if allocations_only:
                continue
        steps = job.steps if len(job.steps) < 2 else sorted(job.steps, key=_step_rank)
        if only is None:
            rows.extend([(job, step) for step in steps])
        else:
            rows.extend([(job, step) for step in steps if step.step_id in only])
    return rows


# ---------------------------------------------------------------- rendering


def _date_text(value: float | None, width: int, ctx: Ctx, cache: dict[float, str]) -> str:
    if not value:
        return "Unknown"[:width]
    text = cache.get(value)
    if text is None:
        text = cache[value] = time.strftime(ctx.time_format, time.localtime(value))
    return text[:width]


def _layout(col: Column, ctx: Ctx, fixed: bool, cache: dict[float, str]) -> Callable[[Any], str]:
    """What turns a getter's value into the printed cell of `col` (fixed-width cells padded)."""
    kind = col.field.kind
    width = abs(col.width)
    cut_kind = kind == "str" or kind == "date"
    blank = " " * width
    pad = str.ljust if col.width < 0 else str.rjust
    cut = width - 1

    def text(v: Any) -> str | None:  # the value as printed, before padding (None: unset)
        if kind == "date":  # cut to the width, without '+', even with -p/-P
            return _date_text(v, width, ctx, cache)
        if kind == "secs":
            return None if v is None else clock(int(v))
        if kind == "uint":
            return None if v is None else str(v)
        return v

    def lay(v: Any) -> str:
        t = text(v)
        if not fixed:
            return "" if t is None else t
        if width == 0:  # printf precision 0 hides strings; numbers still print
            return "" if cut_kind else (t or " ")
        if not t:
            return blank
        if cut_kind and len(t) > width:
            return t[:cut] + "+"
        return pad(t, width)

    return lay


def _cells(col: Column, rows: Sequence[Row], ctx: Ctx, fixed: bool, cache: dict[float, str],
           jobs: list[Job] | None = None) -> list[str]:
    """The printed text of one column for every row (fixed-width cells include the padding).
    `jobs`: the rows' jobs when no row is a step's (sacct -X)."""
    field = col.field
    if jobs is not None:
        values = list(map(field.job, jobs, repeat(ctx)))
    else:
        jget, sget = field.job, field.step
        values = [jget(j, ctx) if s is None else sget(j, s, ctx) for j, s in rows]
    lay = _layout(col, ctx, fixed, cache)
    if len(values) > 8:
        distinct = set(values)
        # names, states, partitions, CPU counts, ...: each value laid out once. Equal values print
        # alike, but for uint fields (str(1) and str(True) differ): there only plain ints.
        if len(distinct) * 2 <= len(values) and (
                field.kind != "uint" or all(type(v) is int for v in distinct if v is not None)):
            table = {v: lay(v) for v in distinct}
            return list(map(table.__getitem__, values))
    return list(map(lay, values))


def render(
    rows: Sequence[Row],
    columns: Sequence[Column],
    *,
    header: bool = True,
    parsable: str | None = None,
    delimiter: str | None = None,
    now: float | None = None,
    cluster: str = "",
    time_format: str = "%Y-%m-%dT%H:%M:%S",
    units: str | None = None,
    noconvert: bool = False,
) -> str:
    """sacct's stdout for `rows`. `parsable` is None (fixed width), "ending" (-p: the delimiter
    after every field) or "no_ending" (-P: between fields); `delimiter` (--delimiter) defaults
    to "|". `header` False is -n/--noheader. `now` (default: the clock) prices running jobs."""
    ctx = Ctx(time.time() if now is None else now, cluster, time_format, units, noconvert)
    fixed = parsable is None
    delim = "|" if delimiter is None else delimiter
    out: list[str] = []
    if header:
        if fixed:
            names = [f"{c.name[: abs(c.width)]:{'<' if c.width < 0 else '>'}{abs(c.width)}} " for c in columns]
            out.append("".join(names) + "\n")
            out.append("".join("-" * abs(c.width) + " " for c in columns) + "\n")
        else:
            out.append(_join([c.name for c in columns], parsable, delim) + "\n")
    if not rows:
        return "".join(out)
    dates: dict[float, str] = {}
    jobs = [job for job, step in rows] if all(step is None for _job, step in rows) else None
    cols = [_cells(c, rows, ctx, fixed, dates, jobs) for c in columns]
    if not cols:
        out.append("\n" * len(rows))
    elif fixed:
        out.append(" \n".join(map(" ".join, zip(*cols))) + " \n")
    else:
        out.extend(_join(cells, parsable, delim) + "\n" for cells in zip(*cols))
    return "".join(out)


def _join(cells: Sequence[str], parsable: str | None, delim: str) -> str:
    text = delim.join(cells)
    return text + delim if parsable == "ending" and cells else text
