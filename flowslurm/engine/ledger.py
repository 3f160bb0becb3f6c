"""The job ledger: one SQLite file (WAL mode) that is the source of truth for every job on this machine.

Job ids come from an AUTOINCREMENT key, so they only grow and are never reused, even when many
`sbatch` processes submit at once. Each write is one short `BEGIN IMMEDIATE` transaction; readers
(squeue, sacct) never block writers thanks to WAL.
"""

from __future__ import annotations

import os
import sys


def _import_sqlite() -> Any:
    """The C module alone: the `sqlite3` package adds only datetime adapters we never use (~4 ms a
    start). On import `_sqlite3` fetches `functools.lru_cache` for its statement cache, and
    functools drags in collections, operator and more (~6 ms). The same C cache, from `_functools`,
    is handed over instead when functools is not loaded yet; nothing else sees the stand-in."""
    try:
        if "functools" in sys.modules:
            import _sqlite3
            return _sqlite3
        from _functools import _lru_cache_wrapper

        def lru_cache(maxsize: int | None = 128, typed: bool = False) -> Any:
            return lambda function: _lru_cache_wrapper(function, maxsize, typed, tuple)

        stand_in = type(sys)("functools")
        stand_in.lru_cache = lru_cache  # type: ignore[attr-defined]
        sys.modules["functools"] = stand_in
        try:
            import _sqlite3
        finally:
            if sys.modules.get("functools") is stand_in:
                del sys.modules["functools"]
        return _sqlite3
    except ImportError:  # pragma: no cover - an interpreter without the private modules
        import sqlite3
        return sqlite3


sqlite3 = _import_sqlite()

from flowslurm.engine.model import Job, Step, task_placeholder
from flowslurm.errors import LedgerError
from flowslurm.jsontext import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3  # noqa: F811 - the types; at run time the name is the module _import_sqlite returns
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from pathlib import Path
    from typing import Any

JOB_COLUMNS: tuple[str, ...] = tuple(n for n in Job.__slots__ if n not in ("spec", "steps"))
STEP_COLUMNS: tuple[str, ...] = tuple(Step.__slots__)

# Columns the engine keeps for itself beside the Job fields.
_INTERNAL_COLUMNS = """
    spec TEXT NOT NULL DEFAULT '{}',
    script_id INTEGER,
    shepherd_pid INTEGER,
    job_pid INTEGER,
    cancel_requested INTEGER,
    launch_token TEXT
"""

_JOB_TYPES = {"float": "REAL", "int": "INTEGER", "str": "TEXT", "bool": "INTEGER"}

# Dollars a cloud job's machines cost so far: earlier runs, plus the run being billed from its
# allocation until its release (or now). An expression over a `cloud` row.
CLOUD_COST_SQL = ("(cost + COALESCE(price_per_hour * MAX(0.0, COALESCE(released_at,"
                  " CAST(strftime('%s', 'now') AS REAL)) - allocated_at) / 3600.0, 0.0))")
# Columns `rows()` reads from a job's cloud row, for listings (sacct's Cost, PricePerHour, ...).
_CLOUD_COLUMNS = {
    "cost": f"printf('%.2f', {CLOUD_COST_SQL})",
    "price_per_hour": "printf('%.2f', price_per_hour)",
    "instance_type": "instance_type",
    "cloud_id": "bid",
}


def _q(names: Iterable[str]) -> str:
    """Column names quoted (some, like "group", are SQL keywords)."""
    return ", ".join(f'"{n}"' for n in names)


def _column_sql(cls: type, names: Sequence[str]) -> str:
    out = []
    types = cls.__init__.__annotations__  # the field types, as strings
    for name in cls.__slots__:  # type: ignore[attr-defined]
        if name in names:
            base = str(types[name]).split("|")[0].strip()
            out.append(f'"{name}" {_JOB_TYPES.get(base, "TEXT")}')
    return ",\n    ".join(out)


def _schema_v1() -> str:
    job_cols = _column_sql(Job, [c for c in JOB_COLUMNS if c != "job_id"])
    step_cols = _column_sql(Step, [c for c in STEP_COLUMNS if c not in ("job_id", "step_id")])
    return f"""
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    {job_cols},
    {_INTERNAL_COLUMNS}
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_array ON jobs(array_job_id);
CREATE TABLE IF NOT EXISTS scripts (
    script_id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    argv TEXT NOT NULL DEFAULT '[]',
    environ TEXT NOT NULL DEFAULT '{{}}'
);
CREATE TABLE IF NOT EXISTS steps (
    job_id INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    {step_cols},
    PRIMARY KEY (job_id, step_id)
);
"""


# Each entry upgrades the schema from version i to i+1. Never edit a released entry: append.
MIGRATIONS: list[str] = [
    _schema_v1(),
    # v2: end-time index for sacct's time window, and a signal mailbox for scancel --signal.
    """
CREATE INDEX IF NOT EXISTS jobs_end ON jobs(end_time);
ALTER TABLE jobs ADD COLUMN signal_request TEXT;
""",
    # v3: requeue. A mailbox for `scontrol requeue` of a running job, and the earlier runs of requeued
    # jobs (their job row and steps as JSON, as each run ended), which `sacct --duplicates` lists.
    """
ALTER TABLE jobs ADD COLUMN requeue_request TEXT;
CREATE TABLE IF NOT EXISTS runs (
    job_id INTEGER NOT NULL,
    restart INTEGER NOT NULL,
    job TEXT NOT NULL,
    steps TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (job_id, restart)
);
""",
    # v4: squeue's index. Queued jobs by state, then array, name, partition and task: squeue folds
    # a 1000-task array from the index alone, without reading the job rows. It leads with state,
    # so it also answers every lookup by state that jobs_state answered.
    """
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs(state, array_job_id, name, partition, array_task_id);
DROP INDEX IF EXISTS jobs_state;
""",
    # v5: cloud jobs. What a job holds at its cloud provider for its current run (a Mithril spot bid
    # and its instance), what that costs, and whether the bid is still live. The run being billed
    # costs price_per_hour from allocated_at to released_at (or now); `cost` holds earlier runs'.
    # A row whose bid is not yet cancelled is a promise the engine keeps: no bid outlives its job.
    """
CREATE TABLE IF NOT EXISTS cloud (
    job_id INTEGER PRIMARY KEY,
    bid_name TEXT NOT NULL,
    bid TEXT,
    bid_live INTEGER NOT NULL DEFAULT 0,
    instance TEXT,
    instance_status TEXT,
    ssh_destination TEXT,
    instance_type TEXT,
    region TEXT,
    price_per_hour REAL,
    allocated_at REAL,
    released_at REAL,
    cost REAL NOT NULL DEFAULT 0,
    api_key_fid TEXT
);
CREATE INDEX IF NOT EXISTS cloud_live ON cloud(bid_live);
""",
]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema up to `target`; returns the version found before."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found >= target:
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        for version in range(current, target):
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def _sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (bool, int, float)):
        return str(int(value) if isinstance(value, bool) else value)
    return "'" + str(value).replace("'", "''") + "'"


def _select_only(only: Sequence[str]) -> str:
    """A select list that reads the `only` columns and yields the model's defaults for the rest,
    so rows still map onto Job(*row) while SQLite builds far fewer Python objects."""
    blank = Job(0)
    return ", ".join(f'"{name}"' if name in only else _sql_literal(getattr(blank, name)) for name in JOB_COLUMNS)


def _row_class(names: tuple[str, ...]) -> type:
    """The record type of `Ledger.rows`: a tuple with a named, read-only field per column."""
    try:
        from _collections import _tuplegetter  # what namedtuple's fields are made of
    except ImportError:  # pragma: no cover - not CPython
        from operator import itemgetter

        def _tuplegetter(index: int, doc: str) -> Any:
            return property(itemgetter(index), doc=doc)

    index = {name: i for i, name in enumerate(names)}
    job_id = _tuplegetter(index["job_id"], "job_id")

    def copy(self: tuple[Any, ...], **changes: Any) -> tuple[Any, ...]:
        values = list(self)
        for name, value in changes.items():
            if name not in index:
                raise AttributeError(f"{name} was not read from the ledger")
            values[index[name]] = value
        return tuple.__new__(type(self), values)

    def steps(self: Any) -> list[Step]:
        return self._steps.get(job_id.__get__(self), [])

    body: dict[str, Any] = {name: _tuplegetter(i, name) for i, name in enumerate(names)}
    body.update(__slots__=(), _fields=names, _steps={}, copy=copy, steps=property(steps))
    return type("JobRow", (tuple,), body)


class LazySpec(dict):  # type: ignore[type-arg]
    """A job's spec, decoded from its JSON text on first use: squeue lists thousands of jobs and
    reads the spec of few of them."""

    __slots__ = ("_raw", "_conn")

    def __init__(self, raw: str | int, conn: sqlite3.Connection | None = None) -> None:
        super().__init__()
        self._raw: str | int | None = raw  # the JSON text, or the job id to read it for
        self._conn = conn

    def _load(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            if not isinstance(raw, str):
                row = self._conn.execute("SELECT spec FROM jobs WHERE job_id = ?", (raw,)).fetchone()  # type: ignore[union-attr]
                raw = row[0] if row else "{}"
            import json  # only when a spec is read: squeue mostly does not

            self.update(json.loads(raw))

    def get(self, key: Any, default: Any = None) -> Any:
        self._load()
        return dict.get(self, key, default)

    def __getitem__(self, key: Any) -> Any:
        self._load()
        return dict.__getitem__(self, key)

    def __contains__(self, key: object) -> bool:
        self._load()
        return dict.__contains__(self, key)

    def __iter__(self) -> Iterator[Any]:
        self._load()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._load()
        return dict.__len__(self)

    def __eq__(self, other: object) -> bool:
        self._load()
        return dict.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        self._load()
        return dict.__repr__(self)

    def items(self) -> Any:
        self._load()
        return dict.items(self)

    def keys(self) -> Any:
        self._load()
        return dict.keys(self)

    def values(self) -> Any:
        self._load()
        return dict.values(self)


class _Transaction:
    """The context manager `Ledger.write` returns (contextlib is not imported for this one use)."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _use_wal(conn: sqlite3.Connection, patience_s: float = 60.0) -> None:
    """Put a new ledger in WAL mode. Switching needs the file to itself and SQLite answers "locked"
    at once, without its busy handler, while others open the same new file: so try again."""
    import time

    deadline = time.monotonic() + patience_s
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class Ledger:
    """A connection to the ledger. Cheap to open: one file open and a version check."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        new = not os.path.exists(path)
        try:
            if new:
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            self.conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 60000")
            _use_wal(self.conn)
            self.conn.execute("PRAGMA synchronous = NORMAL")
            migrate(self.conn)
        except sqlite3.Error as exc:
            raise LedgerError(f"cannot open the job ledger {path}: {exc}") from exc

    @classmethod
    def open(cls, home: str | Path | None = None) -> Ledger:
        if home is None:
            from flowslurm import config

            return cls(os.path.join(config.home_dir(), "ledger.db"))
        return cls(os.path.join(home, "ledger.db"))

    def close(self) -> None:
        self.conn.close()

    def write(self) -> _Transaction:
        """One write transaction, taken at once (BEGIN IMMEDIATE) so it cannot deadlock on upgrade:
        `with ledger.write() as conn: ...` commits at the end, rolls back on an exception."""
        return _Transaction(self.conn)

    # ---- jobs -------------------------------------------------------------------------------

    def insert_jobs(self, conn: sqlite3.Connection, jobs: Sequence[Job], script_id: int,
                    prepare: Callable[[Job], None] | None = None) -> list[int]:
        """Insert jobs inside an open write transaction, with consecutive new ids (the transaction
        holds the write lock, so the ids AUTOINCREMENT would give are reserved here in one go). An
        array's tasks share the first task's id as `array_job_id` (its master id). `prepare(job)` runs
        once a job's id is known, before its row is written. Returns the new ids in order."""
        first = self.next_id(conn)
        cols = list(JOB_COLUMNS) + ["spec", "script_id"]
        specs: dict[int, str] = {}  # the tasks of an array share one spec: encode it once
        rows = []
        for i, job in enumerate(jobs):
            if job.array_task_id is not None:  # tasks wait under placeholders; the array takes one id
                job.array_job_id = first
                job.job_id = task_placeholder(first, job.array_task_id)
            else:
                job.job_id = first + i
            if prepare is not None:
                prepare(job)
            text = specs.get(id(job.spec))
            if text is None:
                text = specs[id(job.spec)] = dumps(job.spec)
            rows.append([getattr(job, c) for c in JOB_COLUMNS] + [text, script_id])
        conn.executemany(f"INSERT INTO jobs ({_q(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
        if jobs and jobs[0].array_task_id is not None:  # no row holds the master id yet: reserve it
            self.reserve_id(conn, first)
        return [job.job_id for job in jobs]

    def next_id(self, conn: sqlite3.Connection) -> int:
        """The id AUTOINCREMENT would give next (inside a write transaction)."""
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
        top = conn.execute("SELECT MAX(job_id) FROM jobs").fetchone()[0]
        return max(seq[0] if seq else 0, top or 0) + 1

    def reserve_id(self, conn: sqlite3.Connection, job_id: int) -> None:
        """Make `job_id` taken, so AUTOINCREMENT never hands it out (sqlite_sequence has no key)."""
        if conn.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'jobs'", (job_id,)).rowcount == 0:
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('jobs', ?)", (job_id,))

    def insert_script(self, conn: sqlite3.Connection, text: str, argv: list[str], environ: dict[str, str]) -> int:
        cur = conn.execute(
            "INSERT INTO scripts (text, argv, environ) VALUES (?, ?, ?)",
            (text, dumps(argv), dumps(environ)),
        )
        return int(cur.lastrowid or 0)

    def script(self, script_id: int) -> tuple[str, list[str], dict[str, str]]:
        row = self.conn.execute("SELECT text, argv, environ FROM scripts WHERE script_id = ?", (script_id,)).fetchone()
        if row is None:
            raise LedgerError(f"script {script_id} is missing from the ledger")
        import json

        return row[0], json.loads(row[1]), json.loads(row[2])

    def jobs(
        self,
        where: str = "1",
        params: Sequence[Any] = (),
        *,
        with_spec: bool = False,
        with_steps: bool = False,
        order: str = "job_id",
        only: Sequence[str] | None = None,
    ) -> list[Job]:
        """Jobs matching `where`. Their spec is read from the ledger only when first used (eagerly
        with `with_spec`, for callers that will read every one). With `only`, just those columns
        are read (the rest keep the model's defaults): listing 10,000 jobs reads a third as much."""
        cols = _q(JOB_COLUMNS) if only is None else _select_only(only)
        if with_spec:
            cols += ", spec"
        rows = self.conn.execute(f"SELECT {cols} FROM jobs WHERE {where} ORDER BY {order}", params).fetchall()
        n = len(JOB_COLUMNS)
        jobs = []
        for row in rows:
            job = Job(*row[:n])
            job.requeue = bool(job.requeue)
            job.spec = LazySpec(row[n]) if with_spec else LazySpec(job.job_id, self.conn)
            jobs.append(job)
        if with_steps and jobs:
            self._attach_steps(jobs)
        return jobs

    def job(self, job_id: int, *, with_spec: bool = True) -> Job | None:
        found = self.jobs("job_id = ?", (job_id,), with_spec=with_spec, with_steps=True)
        return found[0] if found else None

    def rows(
        self, columns: Sequence[str], where: str = "1", params: Sequence[Any] = (), *, order: str = "jobs.job_id",
        with_steps: bool = False, exprs: dict[str, str] | None = None,
    ) -> list[Any]:
        """Just `columns` of the jobs matching `where`, as light read-only records for listings of
        thousands of jobs: tuples whose fields read as attributes (`row.state`), made in C with no
        Job per row. `row.copy(**changes)` works as for Job. A column not asked for (and `spec`)
        raises AttributeError. `row.steps` is the job's steps with `with_steps`, else empty.
        `exprs` reads some columns from SQL expressions instead ({"job_id": "array_job_id"})."""
        from itertools import repeat

        names = tuple(columns) if "job_id" in columns else ("job_id", *columns)
        cls = _row_class(names)
        exprs = exprs or {}
        select = ", ".join(
            f'{exprs[n]} AS "{n}"' if n in exprs
            else f'(SELECT {_CLOUD_COLUMNS[n]} FROM cloud WHERE cloud.job_id = jobs.job_id) AS "{n}"'
            if n in _CLOUD_COLUMNS else f'jobs."{n}"' for n in names)
        cur = self.conn.execute(f"SELECT {select} FROM jobs WHERE {where} ORDER BY {order}", params)
        rows = list(map(tuple.__new__, repeat(cls), cur))
        if with_steps and rows:
            by_id: dict[int, list[Step]] = {}
            for row in self.conn.execute(
                f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE job_id IN (SELECT job_id FROM jobs WHERE {where})"
                " ORDER BY job_id, rowid", params
            ):
                by_id.setdefault(row[0], []).append(Step(*row))
            cls._steps = by_id
        return rows

    def _attach_steps(self, jobs: list[Job]) -> None:
        by_id = {j.job_id: j for j in jobs}
        cols = ", ".join(STEP_COLUMNS)
        ids = list(by_id)
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for row in self.conn.execute(
                f"SELECT {cols} FROM steps WHERE job_id IN ({marks}) ORDER BY job_id, rowid", chunk
            ):
                by_id[row[0]].steps.append(Step(*row))

    def internal(self, job_id: int, *names: str) -> tuple[Any, ...]:
        row = self.conn.execute(f"SELECT {', '.join(names)} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise LedgerError(f"job {job_id} is not in the ledger")
        return tuple(row)

    def update(self, conn: sqlite3.Connection, job_id: int, **values: Any) -> None:
        sets = ", ".join(f'"{k}" = ?' for k in values)
        conn.execute(f"UPDATE jobs SET {sets} WHERE job_id = ?", [*values.values(), job_id])

    def upsert_step(self, conn: sqlite3.Connection, step: Step) -> None:
        cols = ", ".join(STEP_COLUMNS)
        marks = ", ".join("?" * len(STEP_COLUMNS))
        conn.execute(
            f"INSERT OR REPLACE INTO steps ({cols}) VALUES ({marks})",
            [getattr(step, c) for c in STEP_COLUMNS],
        )

    def runs(self, job_ids: Sequence[int]) -> list[Job]:
        """The earlier runs of requeued jobs (state REQUEUED), each with its steps, oldest first."""
        import json

        out: list[Job] = []
        ids = list(job_ids)
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for job_id, job_text, steps_text in self.conn.execute(
                f"SELECT job_id, job, steps FROM runs WHERE job_id IN ({marks}) ORDER BY job_id, restart", chunk
            ):
                values = json.loads(job_text)
                job = Job(job_id, **{k: v for k, v in values.items() if k in JOB_COLUMNS and k != "job_id"})
                job.requeue = bool(job.requeue)
                job.spec = LazySpec(job_id, self.conn)
                job.steps = [Step(*row) for row in json.loads(steps_text)]
                out.append(job)
        return out

    def count(self, where: str = "1", params: Iterable[Any] = ()) -> int:
        return int(self.conn.execute(f"SELECT COUNT(*) FROM jobs WHERE {where}", tuple(params)).fetchone()[0])
