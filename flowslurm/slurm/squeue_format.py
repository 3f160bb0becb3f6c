"""squeue's output: format compilation (-o / -O), array folding, sorting, state filters, rendering.

Pure functions over `flowslurm.engine.model.Job` rows, or the ledger's light rows holding the
columns `columns_read` names; no ledger access and no I/O. A format is compiled once into
printf-style pieces plus one column function per field, so rendering builds and lays out each
column with a list comprehension or a map, and each line with one join.

SLURM 22.05 behaviours kept on purpose:
- `-o` is split on "%" (empty pieces skipped, so "%%" is no escape); text before the first "%" is
  a literal prefix; each piece is `[.][digits]letter` + literal suffix. A size is both the minimum
  and (for left-justified or "cut" values) the maximum width. A bad piece prints itself literally
  and adds "Invalid job format specification: <char>" to `errors`; output still goes on (exit 0).
- `-O` is a comma list of `name[:[.]size][suffix]`, default width 20, names case-insensitive.
- Pending tasks of one array fold into one `N_[0-9%2]` line; `-r` prints them one per task.
- Default order: partition, state code, priority (high first), on top of SLURM's start-time pass.
"""

from __future__ import annotations

import time
from itertools import compress
from operator import attrgetter, not_
from flowslurm.engine.model import Job
from flowslurm.errors import SlurmInputError
from flowslurm.slurm import squeue_fields as sf
from flowslurm.slurm.squeue_fields import (  # noqa: F401  (re-exported)
    ALL_STATES, BASE_STATES, DEFAULT_STATES, ERROR_PREFIX, FLAG_STATES, filter_states, parse_states,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    SortKey = Callable[[Job], Any]

DEFAULT_FORMAT = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
LONG_FORMAT = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"
DEFAULT_SORT = "P,t,-p"
MAX_ARRAY_SPAN = 4_000_001  # SLURM's largest MaxArraySize
MAX_WIDTH = 100_000  # our cap on absurd field sizes (SLURM would pad to any int)
BITSTR_LEN = 64  # SLURM_BITSTR_LEN default: array task lists longer than this end in "..."

class Item:
    """One compiled piece: a field (with width/justification) or literal text only (field None)."""

    __slots__ = ("field", "width", "right", "suffix")

    def __init__(self, field: sf.Field | None, width: int = 0, right: bool = False,
                 suffix: str = "") -> None:
        self.field = field
        self.width = width
        self.right = right
        self.suffix = suffix


class CompiledFormat:
    """A compiled squeue format: its pieces, the printf row template, the header line and the
    error lines SLURM prints on stderr for bad pieces (it still prints the listing, exit 0).

    `pieces` splits the template into one printf piece per field, each with the literal text
    after it (the first also with the text before it), so a column is laid out on its own."""

    __slots__ = ("items", "errors", "template", "header_line", "pieces")

    def __init__(self, items: list[Item], errors: list[str], template: str, header_line: str,
                 pieces: list[str] | None = None) -> None:
        self.items = items
        self.errors = errors
        self.template = template
        self.header_line = header_line
        self.pieces = pieces or []


# --- compiling formats ----------------------------------------------------------------------


def _spec_text(width: int, right: bool, cut: bool | None) -> str:
    """printf conversion for a value: "%18.18s" (right, cut), "%18s", "%-8.8s", "%s", "%s "."""
    if width > 0:
        if right:
            return f"%{width}.{width}s" if cut else f"%{width}s"
        return f"%-{width}.{width}s"
    return "%s " if width < 0 else "%s"


def _finish(items: list[Item], errors: list[str]) -> CompiledFormat:
    template_parts: list[str] = []
    header_parts: list[str] = []
    pieces: list[str] = []
    lead = ""  # literal text before the first field
    for item in items:
        fld = item.field
        literal = item.suffix.replace("%", "%%")
        if fld is not None:
            spec = _spec_text(item.width, item.right, fld.cut is True)
            template_parts.append(spec)
            header_parts.append(pad(fld.header, item.width, item.right, fld.header_cut))
            pieces.append(lead + spec + literal)
            lead = ""
        elif pieces:
            pieces[-1] += literal
        else:
            lead += literal
        template_parts.append(literal)
        header_parts.append(item.suffix)
    return CompiledFormat(items, errors, "".join(template_parts), "".join(header_parts), pieces)


def pad(text: str, width: int, right: bool, cut: bool = True) -> str:
    """One value laid out as SLURM's _print_str does."""
    if width > 0:
        if right:
            return (text[:width] if cut else text).rjust(width)
        return text[:width].ljust(width)
    return text + " " if width < 0 else text


def compile_format(fmt: str) -> CompiledFormat:
    """Compile an -o/--format string ("%all" expands to every letter, "|"-separated)."""
    if fmt.lower() == "%all":
        letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
        letters += [chr(c) for c in range(ord("A"), ord("Z") + 1)]
        fmt = "|".join("%" + c for c in letters)
    items: list[Item] = []
    errors: list[str] = []
    first = fmt.find("%")
    if first < 0:
        return _finish([Item(None, suffix=fmt)] if fmt else [], errors)
    if first > 0:
        items.append(Item(None, suffix=fmt[:first]))
    for token in fmt[first:].split("%"):
        if not token:
            continue
        i = 0
        right = token[0] == "."
        if right:
            i = 1
        start = i
        while i < len(token) and "0" <= token[i] <= "9":
            i += 1
        width = _c_int(int(token[start:i])) if i > start else 0
        letter = token[i] if i < len(token) else ""
        fld = sf.FIELDS.get(letter) if letter else None
        if fld is None:
            items.append(Item(None, suffix="%" + token))
            errors.append(f"{ERROR_PREFIX}Invalid job format specification: {letter}")
        else:
            items.append(Item(fld, width, right, token[i + 1:]))
    return _finish(items, errors)


def compile_long_format(spec: str) -> CompiledFormat:
    """Compile an -O/--Format list: "JobID,Name:30,State:.12|" style entries."""
    items: list[Item] = []
    errors: list[str] = []
    for token in spec.split(","):
        if not token:
            continue
        name, sep, rest = token.partition(":")
        right, width, suffix = False, 20, ""
        if sep:
            if rest.startswith("."):
                right, rest = True, rest[1:]
            width, suffix = _leading_int(rest)
        fld = sf.long_field(name)
        if fld is None:
            items.append(Item(None, suffix=suffix))
            errors.append(f"{ERROR_PREFIX}Invalid job format specification: {name}")
        else:
            items.append(Item(fld, width, right, suffix))
    return _finish(items, errors)


compile_Format = compile_long_format  # the name used in the brief, after squeue's -O/--Format


def _leading_int(text: str) -> tuple[int, str]:
    """strtol(text, &end, 10): the leading integer (0 if none) and what follows it."""
    stripped = text.lstrip(" \t\n\v\f\r")
    i = 1 if stripped[:1] in ("+", "-") else 0
    j = i
    while j < len(stripped) and stripped[j].isdigit() and stripped[j].isascii():
        j += 1
    if j == i:
        return 0, text
    value = max(min(int(stripped[:j]), 2**63 - 1), -2**63)  # strtol saturates, then int truncates
    return _c_int(value), stripped[j:]


def _c_int(value: int) -> int:
    """A width as C's `int` holds it (wrapping at 32 bits), capped at MAX_WIDTH."""
    value = (value + 2**31) % 2**32 - 2**31
    return min(value, MAX_WIDTH)


def select_format(fmt: str | None = None, long_fmt: str | None = None, *, long: bool = False,
                  environ: dict[str, str] | None = None) -> CompiledFormat:
    """The format squeue uses for -o / -O / -l and SQUEUE_FORMAT / SQUEUE_FORMAT2 (in that order)."""
    if long and fmt is not None:
        raise SlurmInputError("squeue: fatal: Options -o(--format) and -l(--long) are mutually "
                              "exclusive. Please remove one and retry.", 1)
    if fmt is None and long_fmt is None and environ:
        if environ.get("SQUEUE_FORMAT") is not None:
            fmt = environ["SQUEUE_FORMAT"]
        elif environ.get("SQUEUE_FORMAT2") is not None:
            long_fmt = environ["SQUEUE_FORMAT2"]
    if fmt is not None:
        return compile_format(fmt)
    if long_fmt is not None:
        return compile_long_format(long_fmt)
    return compile_format(LONG_FORMAT if long else DEFAULT_FORMAT)


# --- arrays ---------------------------------------------------------------------------------


def parse_array_ids(text: str) -> list[int]:
    """Task ids of an array spec such as "0-3,5,7-15:4%2" (the throttle is ignored)."""
    ids: set[int] = set()
    for part in text.split("%", 1)[0].split(","):
        if not part:
            continue
        rng, _, step_text = part.partition(":")
        lo_text, dash, hi_text = rng.partition("-")
        numbers = [lo_text, hi_text if dash else lo_text, step_text or "1"]
        if not all(n.isdigit() and n.isascii() for n in numbers):
            raise SlurmInputError(f"Invalid job array specification: {text}", 1)
        lo, hi, step = (int(n) for n in numbers)
        if hi - lo > MAX_ARRAY_SPAN:
            raise SlurmInputError(f"Invalid job array specification: {text}", 1)
        ids.update(range(lo, hi + 1, max(step, 1)))
    return sorted(ids)


def format_array_ids(ids: list[int], throttle: int = 0) -> str:
    """SLURM's text for a set of task ids: "0-3,5", "0-100:10" for an even step, "%N" throttle."""
    ids = sorted(set(ids))
    text = ""
    if ids and ids[-1] - ids[0] > 10 and len(ids) > 5 and ids[1] != ids[0] + 1:
        step = ids[1] - ids[0]
        if all(b - a == step for a, b in zip(ids, ids[1:])):
            text = f"{ids[0]}-{ids[-1]}:{step}"
    if not text:
        # runs of consecutive ids: they start at 0 and after every gap
        starts = [0] + [i for i, (a, b) in enumerate(zip(ids, ids[1:]), 1) if b != a + 1]
        ends = [i - 1 for i in starts[1:]] + [len(ids) - 1]
        parts = [str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}" for i, j in zip(starts, ends)] if ids else []
        text = ",".join(parts)[:BITSTR_LEN - 1]
        if len(text) > BITSTR_LEN - 3:
            text = text[:BITSTR_LEN - 4] + "..."
    if throttle > 0:
        text += f"%{throttle}"
    return text


def _fold(jobs: list[Job], expand: bool = True) -> tuple[list[Job], dict[int, list[Job]]]:
    """Folded rows plus, with `expand`, each folded row's (by id()) pending tasks in task order."""
    if not any(map(attrgetter("array_job_id"), jobs)):
        return list(jobs), {}
    out: list[Job | None] = []
    groups: dict[tuple[int, str, str], list[Job]] = {}
    masters: dict[tuple[int, str, str], Job] = {}
    slots: dict[tuple[int, str, str], int] = {}
    for job in jobs:
        aid = job.array_job_id
        if aid is None or job.state != "PENDING":
            out.append(job)
            continue
        key = (aid, job.name, job.partition)
        if job.array_task_id is None:
            if key in masters:  # a second master row for the same array: leave it alone
                out.append(job)
                continue
            masters[key] = job
        else:
            groups.setdefault(key, []).append(job)
        if key not in slots:
            slots[key] = len(out)
            out.append(None)
    members: dict[int, list[Job]] = {}
    for key, slot in slots.items():
        tasks = sorted(groups.get(key, []), key=lambda j: j.array_task_id or 0)
        master = masters.get(key)
        ids = [t.array_task_id for t in tasks if t.array_task_id is not None]
        if master is not None:
            ids += parse_array_ids(master.array_spec or "")
        rep = master if master is not None else tasks[0]
        throttle = rep.array_throttle or (tasks[0].array_throttle if tasks else 0)
        folded = rep.copy(job_id=key[0], array_task_id=None, array_spec=format_array_ids(ids, throttle))
        out[slot] = folded
        if expand:
            members[id(folded)] = _expand(folded, tasks, master)
    return [j for j in out if j is not None], members


def _expand(folded: Job, tasks: list[Job], master: Job | None) -> list[Job]:
    """One row per task id of a folded array, as `squeue -r` prints it (job id = the array's)."""
    aid = folded.job_id
    by_id = {t.array_task_id: t for t in tasks}
    ids = sorted(set(by_id) | set(parse_array_ids(master.array_spec or "") if master else ()))
    rows = []
    for tid in ids:
        row = by_id.get(tid)
        if row is None or row.job_id != aid:
            row = (row if row is not None else folded).copy(job_id=aid, array_task_id=tid, array_spec=None)
        rows.append(row)
    return rows


def fold_array_tasks(jobs: list[Job]) -> list[Job]:
    """Fold pending tasks of one array (same name and partition) into one row `N_[spec]`.

    The row is a copy of the lowest pending task (or of the array's master row) with
    job_id = array_job_id, array_task_id None and array_spec the compact task list with the
    throttle, e.g. "0-3,5,7-9%2". Other rows are returned unchanged, in input order.
    """
    return _fold(jobs)[0]


# --- sorting --------------------------------------------------------------------------------

_SORT_LETTERS = frozenset("BCdDegGHIJzijlLmMNpQPtTuUvVS" "bcfhnO")


def _id_key(j: Job) -> int:
    if j.array_job_id is None:
        return (j.job_id << 32) | sf.NO_VAL
    return (j.array_job_id << 32) | (sf.NO_VAL if j.array_task_id is None else j.array_task_id)


def _limit_key(j: Job) -> int:
    secs = sf.time_limit_secs(j)
    return sf.INFINITE if secs is None else (sf.NO_VAL if secs < 0 else secs // 60)


def _sort_keys(now: int) -> dict[str, SortKey]:
    """The key of each -S letter that orders anything (b c f h n O H I J z leave the order as is)."""
    codes = sf.STATE_COMPACT

    def left(j: Job) -> int:
        secs = sf.time_limit_secs(j)
        return sf.INFINITE if secs is None or secs < 0 else secs - sf.time_used(j, now)

    def end(j: Job) -> float:
        value = sf.end_time(j, now)
        return float(sf.INFINITE) if isinstance(value, str) else float(value or 0)

    return {
        "B": attrgetter("batch_host"), "C": attrgetter("num_cpus"), "D": attrgetter("nodes"),
        "d": lambda j: int(j.spec.get("tmp_mb") or 0) if j.spec else 0, "e": end,
        "g": lambda j: j.group or str(j.gid), "G": attrgetter("gid"), "i": _id_key,
        "j": attrgetter("name"), "l": _limit_key, "L": left, "N": attrgetter("node_list"),
        "m": lambda j: j.mem_per_cpu_mb or j.mem_mb, "M": lambda j: sf.time_used(j, now),
        "p": attrgetter("priority"), "Q": attrgetter("priority"), "P": attrgetter("partition"),
        "t": lambda j: codes.get(j.state, "?"), "T": attrgetter("state"),
        "u": lambda j: j.user or str(j.uid), "U": attrgetter("uid"), "V": attrgetter("submit_time"),
        "v": lambda j: (j.spec.get("reservation") or "") if j.spec else "",
    }


# The ledger columns each -S key reads (None: the job's spec), and what folding, filtering, the
# start-time pass and the default order read whatever is printed.
_SORT_READS: dict[str, str | None] = {
    "B": "batch_host", "C": "num_cpus", "D": "nodes", "d": None, "e": sf.END_READS, "g": "group gid",
    "G": "gid", "i": sf.ID_READS, "j": "name", "l": "time_limit", "L": "time_limit " + sf.USED_READS,
    "N": "node_list", "m": "mem_per_cpu_mb mem_mb", "M": sf.USED_READS, "p": "priority", "Q": "priority",
    "P": "partition", "t": "state", "T": "state", "u": "user uid", "U": "uid", "V": "submit_time", "v": None,
    "S": sf.START_READS,
}
BASE_READS = ("job_id", "array_job_id", "array_task_id", "array_spec", "array_throttle", "name", "partition",
              "state", "priority", "start_time", "begin_time")


def columns_read(fmt: CompiledFormat, sort: str | None = None) -> tuple[str, ...] | None:
    """The ledger columns `render(jobs, fmt, sort=sort)` reads from each job, or None when it needs
    whole jobs (a field or sort key over the spec). A bad `sort` raises SlurmInputError."""
    names = dict.fromkeys(BASE_READS)
    reads = [item.field.reads for item in fmt.items if item.field is not None]
    for key, _ in parse_sort(sort) if sort else ():
        more = _SORT_READS.get(key, "")  # "cluster" and the letters that leave the order: nothing
        reads.append(None if more is None else tuple(more.split()))
    for more in reads:
        if more is None:
            return None
        names.update(dict.fromkeys(more))
    return tuple(names)


def parse_sort(spec: str) -> list[tuple[str, bool]]:
    """`-S/--sort` into (key, descending) pairs, first key most significant; "cluster" is a key.

    Read right to left like SLURM: every letter is a key, "-" just before it reverses it."""
    keys: list[tuple[str, bool]] = []
    i = len(spec) - 1
    while i >= 0:
        ch = spec[i]
        if ch in ",+-":
            i -= 1
            continue
        if i + 1 >= 7 and spec[i - 6:i + 1].lower() == "cluster":
            keys.append(("cluster", i >= 7 and spec[i - 7] == "-"))
            i -= 7
            continue
        if ch not in _SORT_LETTERS:
            raise SlurmInputError(f"{ERROR_PREFIX}Invalid sort specification: {ch}", 1)
        keys.append((ch, i > 0 and spec[i - 1] == "-"))
        i -= 1
    keys.reverse()
    return keys


def _start_sort(jobs: list[Job], descending: bool, now: int, effective: bool) -> list[Job]:
    """SLURM's start-time comparator under glibc's merge sort: jobs with a start time, ordered
    (stably) by it; then those without one, in reverse of their incoming order."""
    starts: list[Any] = list(map(attrgetter("start_time"), jobs))
    has_begin = any(map(attrgetter("begin_time"), jobs))
    if has_begin:
        starts = [sf.start_time(j, now) for j in jobs]
    started = list(compress(jobs, starts))
    if not started:
        return jobs[::-1]
    unstarted = list(compress(reversed(jobs), map(not_, reversed(starts))))
    if effective:
        def key(j: Job) -> float:
            start = sf.start_time(j, now)
            return now if start < now and j.state == "PENDING" else start
        started.sort(key=key, reverse=descending)
    elif has_begin:
        started.sort(key=lambda j: sf.start_time(j, now), reverse=descending)
    else:
        started.sort(key=attrgetter("start_time"), reverse=descending)
    return started + unstarted


def _default_sort(rows: list[Job]) -> list[Job]:
    """"P,t,-p": priority (high first) inside (partition, state code) groups, stably."""
    rows.sort(key=attrgetter("priority"), reverse=True)
    kinds = set(zip(map(attrgetter("partition"), rows), map(attrgetter("state"), rows)))
    codes = sf.STATE_COMPACT
    order = sorted(kinds, key=lambda k: (k[0], codes.get(k[1], "?")))
    if len(order) == 1:
        return rows
    if len(order) > 8:
        return sorted(rows, key=lambda j: (j.partition, codes.get(j.state, "?")))
    return [j for part, state in order for j in rows if j.state == state and j.partition == part]


def sort_jobs(jobs: list[Job], sort: str | None = None, *, now: float) -> list[Job]:
    """Order rows as squeue does: its start-time pass, then the --sort keys (default "P,t,-p")."""
    now_i = int(now)
    rows = _start_sort(jobs, True, now_i, effective=False)
    if sort is None or sort == DEFAULT_SORT:
        return _default_sort(rows)
    table = _sort_keys(now_i)
    for letter, descending in reversed(parse_sort(sort)):  # least significant key first
        if letter == "S":
            rows = _start_sort(rows, descending, now_i, effective=True)
        elif letter in table:
            rows.sort(key=table[letter], reverse=descending)
    return rows


# --- rendering ------------------------------------------------------------------------------


def _column(item: Item, jobs: list[Job], ctx: sf.Ctx) -> list[Any]:
    fld = item.field
    assert fld is not None
    cut_width = item.width if item.right and item.width > 0 else 0
    values = fld.column(jobs, ctx, cut_width)
    if fld.nullable:
        null = "" if (not item.right and 0 < item.width < 6) else "(null)"
        values = [null if v is None else v for v in values]
    return values


def format_rows(jobs: list[Job], fmt: CompiledFormat, *, now: float, node_name: str = "",
                cluster: str = "") -> list[str]:
    """One line (without newline) per row, in the given order; no folding or sorting."""
    ctx = sf.Ctx(int(now), node_name, cluster)
    columns = [_column(item, jobs, ctx) for item in fmt.items if item.field is not None]
    if not columns:
        return [fmt.template.replace("%%", "%")] * len(jobs)
    # Column by column: a column with one value throughout (a pending listing's partition, state,
    # reason, ...) is laid out once; then each line is a join of its laid-out cells.
    cells = []
    count = len(jobs)
    for piece, values in zip(fmt.pieces, columns):
        first = values[0] if count else None
        if type(first) is str and values.count(first) == count:
            cells.append([piece % first] * count)
        else:
            cells.append(list(map(piece.__mod__, zip(values))))
    if len(cells) == 1:
        return cells[0]
    return list(map("".join, zip(*cells)))


def render(jobs: list[Job], fmt: CompiledFormat | str = DEFAULT_FORMAT, *, header: bool = True,
           now: float | None = None, long_header_time: bool = False, array_unfold: bool = False,
           sort: str | None = None, node_name: str = "", cluster: str = "",
           folded: dict[int, list[Job]] | None = None) -> str:
    """squeue's stdout for `jobs` (already filtered): optional date line, header, sorted rows.

    Pending array tasks are folded (`N_[0-9%2]`) unless `array_unfold` (-r/--array, or when the
    caller selected single tasks with -j). `folded` says the caller folded them already (as
    `fold_array_tasks` does): it maps each folded row (by id()) to the task rows `array_unfold`
    prints in its place. `sort` is the -S text; a bad one raises SlurmInputError (SLURM has
    printed the header line by then)."""
    compiled = compile_format(fmt) if isinstance(fmt, str) else fmt
    now = time.time() if now is None else now
    rows, members = (list(jobs), folded) if folded is not None else _fold(jobs, expand=array_unfold)
    rows = sort_jobs(rows, sort, now=now)
    if array_unfold and members:
        expanded: list[Job] = []
        for row in rows:
            expanded.extend(members.get(id(row), (row,)))
        rows = expanded
    lines: list[str] = []
    if header:
        if long_header_time:
            lines.append(time.ctime(int(now)))
        lines.append(compiled.header_line)
    lines.extend(format_rows(rows, compiled, now=now, node_name=node_name, cluster=cluster))
    return "\n".join(lines) + "\n" if lines else ""
