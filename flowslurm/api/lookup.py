"""Finding tasks in the ledger by the names users give them.

A task is a ledger job, whichever door it came in by, so every form works everywhere:

    12, task-12        the SLURM job id, bare or as Flow's task id
    12_3, task-12_3    one task of a job array
    :1, :2             the first, second ... row of `flow status` (most recent first)
    dev-box            a task name: the most recent task of that name (a live one first)

Only the ledger is read (no pydantic, no network): `flow status TASK` and `flow logs TASK` start
fast.
"""

from __future__ import annotations

from flowslurm.api.errors import TaskNotFoundError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.engine.ledger import Ledger

__all__ = ["ACTIVE_SQL", "parse_task_id", "resolve", "resolve_many", "task_id_of"]

PREFIX = "task-"
ACTIVE_SQL = "state IN ('PENDING','RUNNING','SUSPENDED','COMPLETING','CONFIGURING','REQUEUED')"
# The order of `flow status`: newest first. An array's tasks not started yet sit under placeholders
# (negative ids): order them by their array's id.
LIST_ORDER = "COALESCE(array_job_id, job_id) DESC, COALESCE(array_task_id, 0) DESC"


def task_id_of(job_id: int, array_job_id: int | None = None, array_task_id: int | None = None) -> str:
    """Flow's task id for a ledger row: "task-12", or "task-12_3" for an array task."""
    if array_job_id is not None and array_task_id is not None:
        return f"{PREFIX}{array_job_id}_{array_task_id}"
    return f"{PREFIX}{job_id}"


def parse_task_id(text: str) -> tuple[int, int | None] | None:
    """(job id, array task or None) for "12", "task-12", "12_3", "task-12_3"; None for anything else."""
    body = text.strip()
    if body.lower().startswith(PREFIX):
        body = body[len(PREFIX):]
    head, sep, tail = body.partition("_")
    if not (head.isascii() and head.isdigit()) or (sep and not (tail.isascii() and tail.isdigit())):
        return None
    return int(head), (int(tail) if sep else None)


def _by_id(ledger: Ledger, job_id: int, task: int | None) -> int | None:
    if task is not None:
        row = ledger.conn.execute("SELECT job_id FROM jobs WHERE array_job_id = ? AND array_task_id = ?",
                                  (job_id, task)).fetchone()
        if row is None and task == 0:
            row = ledger.conn.execute("SELECT job_id FROM jobs WHERE job_id = ? AND array_job_id IS NULL",
                                      (job_id,)).fetchone()
        return None if row is None else int(row[0])
    row = ledger.conn.execute("SELECT job_id FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    if row is None:  # an array's master id: its first task
        row = ledger.conn.execute("SELECT job_id FROM jobs WHERE array_job_id = ? ORDER BY array_task_id LIMIT 1",
                                  (job_id,)).fetchone()
    return None if row is None else int(row[0])


def _not_found(ledger: Ledger, ref: str) -> TaskNotFoundError:
    from difflib import get_close_matches

    names = [r[0] for r in ledger.conn.execute(
        f"SELECT DISTINCT name FROM jobs ORDER BY {LIST_ORDER} LIMIT 200").fetchall()]
    close = get_close_matches(ref, names, n=3)
    suggestions = [f"Did you mean {' or '.join(repr(c) for c in close)}?"] if close else []
    suggestions.append("`flow status` lists tasks; a task is named by its id (12 or task-12), its name, "
                       "or :N, its row in `flow status`")
    return TaskNotFoundError(f"no task {ref!r}", suggestions)


def resolve(ledger: Ledger, ref: str, *, prefer_active: bool = True) -> int:
    """The ledger job id `ref` names. Raises TaskNotFoundError with the closest names."""
    text = str(ref).strip()
    if not text:
        raise TaskNotFoundError("no task named: the task id is empty", ["Give a task id, e.g. task-12 or 12"])
    parsed = parse_task_id(text)
    if parsed is not None:
        found = _by_id(ledger, *parsed)
        if found is not None:
            return found
    if text.startswith(":") and text[1:].isdigit():
        index = int(text[1:])
        row = None
        if index >= 1:
            row = ledger.conn.execute(f"SELECT job_id FROM jobs ORDER BY {LIST_ORDER} LIMIT 1 OFFSET ?",
                                      (index - 1,)).fetchone()
        if row is None:
            count = ledger.count()
            raise TaskNotFoundError(f"no task {text}: `flow status` lists {count} task{'s' if count != 1 else ''}",
                                    ["Indices count from :1, the most recent task"])
        return int(row[0])
    order = (f"CASE WHEN {ACTIVE_SQL} THEN 0 ELSE 1 END, " if prefer_active else "") + LIST_ORDER
    row = ledger.conn.execute(f"SELECT job_id FROM jobs WHERE name = ? ORDER BY {order} LIMIT 1", (text,)).fetchone()
    if row is None:
        raise _not_found(ledger, text)
    return int(row[0])


def resolve_many(ledger: Ledger, refs: list[str]) -> list[int]:
    """Job ids for several refs (a name names every live task of that name); errors for the first
    ref that names nothing."""
    out: list[int] = []
    for ref in refs:
        ids = [resolve(ledger, ref)]
        if parse_task_id(ref) is None and not ref.startswith(":"):
            ids = [r[0] for r in ledger.conn.execute(
                f"SELECT job_id FROM jobs WHERE name = ? AND {ACTIVE_SQL} ORDER BY job_id", (ref,))] or ids
        out.extend(i for i in ids if i not in out)
    return out
