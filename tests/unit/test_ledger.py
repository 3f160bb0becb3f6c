"""The ledger: schema versions, migrations, id allocation, row round trips."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from flowslurm.engine.ledger import MIGRATIONS, SCHEMA_VERSION, Ledger, migrate
from flowslurm.engine.model import Job, Step, raw_id, task_placeholder


def test_new_ledger_is_private_wal_and_current(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path)
    assert ledger.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert stat.S_IMODE((tmp_path / "ledger.db").stat().st_mode) == 0o600


def test_migration_from_v1_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 0
    conn.execute("INSERT INTO jobs (name, state, submit_time) VALUES ('old', 'COMPLETED', 1.0)")
    conn.close()
    ledger = Ledger(path)
    assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == SCHEMA_VERSION
    (job,) = ledger.jobs()
    assert (job.job_id, job.name, job.state) == (1, "old", "COMPLETED")
    cols = {row[1] for row in ledger.conn.execute("PRAGMA table_info(jobs)")}
    assert "signal_request" in cols
    # migrating again is a no-op
    assert migrate(ledger.conn) == SCHEMA_VERSION


def test_migration_from_v2_adds_requeue(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=2) == 0
    conn.execute("INSERT INTO jobs (name, state, submit_time, signal_request) VALUES ('old', 'RUNNING', 1.0, '10:steps')")
    conn.close()
    ledger = Ledger(path)
    assert ledger.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
    (job,) = ledger.jobs()
    assert (job.job_id, job.name, job.state) == (1, "old", "RUNNING")
    assert ledger.internal(1, "signal_request", "requeue_request") == ("10:steps", None)
    assert ledger.runs([1]) == []
    assert migrate(ledger.conn) == SCHEMA_VERSION


def test_ids_only_grow_and_arrays_share_master(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path)
    with ledger.write() as conn:
        sid = ledger.insert_script(conn, "#!/bin/sh\n", [], {})
        (a,) = ledger.insert_jobs(conn, [Job(0, name="a")], sid)
        tasks = [Job(0, name="arr", array_job_id=0, array_task_id=i) for i in (0, 1, 2)]
        ids = ledger.insert_jobs(conn, tasks, sid)
    # the array takes one id, as in SLURM; its tasks wait under placeholders, in task order, until they start
    assert ids == [task_placeholder(a + 1, i) for i in (0, 1, 2)] and ids == sorted(ids) and ids[0] < 0
    assert {t.array_job_id for t in ledger.jobs("name = 'arr'")} == {a + 1}
    assert [raw_id(i, a + 1) for i in ids] == [a + 1] * 3
    with ledger.write() as conn:
        (b,) = ledger.insert_jobs(conn, [Job(0, name="b")], sid)
        conn.execute("DELETE FROM jobs")
    with ledger.write() as conn:
        (c,) = ledger.insert_jobs(conn, [Job(0, name="c")], sid)
    assert (b, c) == (a + 2, a + 3)  # never reused, even after rows are gone


def test_job_and_step_round_trip(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path)
    job = Job(0, name="x", user="u", state="RUNNING", time_limit=5, requeue=False, spec={"k": [1, 2]})
    with ledger.write() as conn:
        sid = ledger.insert_script(conn, "#!/bin/sh\necho hi\n", ["a b"], {"FOO": "1"})
        (job_id,) = ledger.insert_jobs(conn, [job], sid)
        ledger.upsert_step(conn, Step(job_id, "batch", "batch", "COMPLETED", 0, 0, 1.0, 2.0))
    got = ledger.job(job_id)
    assert got is not None
    assert (got.name, got.time_limit, got.requeue, got.spec) == ("x", 5, False, {"k": [1, 2]})
    assert [(s.step_id, s.state) for s in got.steps] == [("batch", "COMPLETED")]
    assert ledger.script(sid) == ("#!/bin/sh\necho hi\n", ["a b"], {"FOO": "1"})
