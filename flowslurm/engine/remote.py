"""The engine daemon's pass over remote jobs: starting them at their provider, following them in
batches, moving their SLURM state along, and giving machines back.

A remote job lives in the ledger exactly as a local one (ids, dependencies, throttles, holds are
the scheduler's). When the scheduler releases it (a launch token, still PENDING), this pass asks its
provider to `start` it and records the handle in the job's `cloud` row; later passes `poll` every
live handle in one batched call per provider and act on what they see:

    waiting   -> PENDING (Resources)          booting -> CONFIGURING (machines granted, billed)
    ready     -> the job's shepherd is started (it uploads, runs, streams output, records the end)
    preempted -> requeued under the same id (restart count + 1), or PREEMPTED with --no-requeue
    gone      -> NODE_FAIL, when the machines ended without the job having ended

Whatever state a job ends in, the next pass cancels its provider handle: nothing keeps billing
after its job (the instance also cancels itself, for when this machine is off). Only the daemon
runs this pass, so two processes never start the same job; `start` is idempotent by name besides.
"""

from __future__ import annotations

import os
import signal
import time

from flowslurm.engine import requeue
from flowslurm.engine.ledger import CLOUD_COST_SQL
from flowslurm.engine.model import RUNNING_STATES
from flowslurm.errors import FlowError
from flowslurm.providers import base
from flowslurm.providers.local.proctree import alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from pathlib import Path

    from flowslurm.engine.ledger import Ledger
    from flowslurm.providers.base import Handle, Observation, RemoteProvider

_ACTIVE = ("PENDING", *RUNNING_STATES)
_LIVE_JOBS = (
    "(jobs.provider != 'local' AND ((jobs.state = 'PENDING' AND jobs.launch_token IS NOT NULL)"
    f" OR jobs.state IN ({','.join(repr(s) for s in RUNNING_STATES)})))"
)


def busy(ledger: Ledger) -> bool:
    """Whether any remote job or live handle still needs the daemon."""
    row = ledger.conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM jobs WHERE {_LIVE_JOBS}) OR EXISTS (SELECT 1 FROM cloud WHERE bid_live = 1)"
    ).fetchone()
    return bool(row[0])


def log(home: str | Path, message: str, who: str = "remote") -> None:
    """A line in the engine's log (never given a secret)."""
    with open(os.path.join(home, "engine.log"), "a", encoding="utf-8") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {who}: {message}\n")


class RemotePass:
    """One per daemon: keeps a provider object per name (each holds an HTTP client) across passes."""

    def __init__(self, ledger: Ledger, home: str | Path, poll_interval_s: float = 5.0) -> None:
        self.ledger = ledger
        self.home = home
        self.poll_interval_s = poll_interval_s
        self.providers: dict[str, RemoteProvider] = {}
        self.last_poll = 0.0

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()

    def provider(self, name: str) -> RemoteProvider:
        if name not in self.providers:
            self.providers[name] = base.remote(name)
        return self.providers[name]

    def run(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        names = [r[0] for r in self.ledger.conn.execute(
            f"SELECT DISTINCT provider FROM jobs WHERE {_LIVE_JOBS}"
            " UNION SELECT DISTINCT jobs.provider FROM cloud JOIN jobs USING (job_id) WHERE cloud.bid_live = 1"
        )]
        for name in names:
            try:
                provider = self.provider(name)
                self._cancel_ended(name, provider, now)
                self._start_released(name, provider)
                if now - self.last_poll >= self.poll_interval_s:
                    self._poll(name, provider, now)
            except FlowError as exc:  # the provider is unreachable or refused: try again next pass
                log(self.home, f"{name}: {exc.message}")
        if now - self.last_poll >= self.poll_interval_s:
            self.last_poll = now

    # ---- start ------------------------------------------------------------------------------

    def _start_released(self, name: str, provider: RemoteProvider) -> None:
        rows = self.ledger.conn.execute(
            "SELECT job_id, restart_count, script_id FROM jobs LEFT JOIN cloud USING (job_id)"
            " WHERE jobs.provider = ? AND jobs.state = 'PENDING' AND jobs.launch_token IS NOT NULL"
            " AND (cloud.job_id IS NULL OR cloud.bid_live = 0) ORDER BY priority DESC, job_id", (name,)
        ).fetchall()
        for job_id, restart, script_id in rows:
            job = self.ledger.job(job_id)
            if job is None:
                continue
            script, argv, environ = self.ledger.script(script_id)
            key = f"{_ledger_tag(self.home)}-{job_id}-{restart or 0}"
            handle = provider.start(base.StartJob(job, script, argv, environ, key))
            with self.ledger.write() as conn:  # live even if the job was cancelled meanwhile: the cancel pass returns it
                _save_handle(conn, handle)

    # ---- poll -------------------------------------------------------------------------------

    def _poll(self, name: str, provider: RemoteProvider, now: float) -> None:
        rows = self.ledger.conn.execute(
            "SELECT job_id, bid_name, bid, instance, ssh_destination, price_per_hour, instance_type, region"
            " FROM cloud JOIN jobs USING (job_id) WHERE cloud.bid_live = 1 AND jobs.provider = ?", (name,)
        ).fetchall()
        if not rows:
            return
        handles = [base.Handle(r[0], r[2], r[1], r[3], r[4], r[5], r[6], r[7]) for r in rows]
        seen = provider.poll(handles)
        for handle in handles:
            obs = seen.get(handle.job_id)
            if obs is not None:
                self._observe(provider, handle, obs, now)

    def _observe(self, provider: RemoteProvider, handle: Handle, obs: Observation, now: float) -> None:
        job_id = handle.job_id
        launch = None
        with self.ledger.write() as conn:
            row = conn.execute(
                "SELECT state, cancel_requested, requeue, shepherd_pid, launch_token FROM jobs WHERE job_id = ?",
                (job_id,),
            ).fetchone()
            if row is None:
                return
            state, cancel_uid, may_requeue, shepherd, token = row
            conn.execute(
                "UPDATE cloud SET instance = COALESCE(?, instance), instance_status = ?,"
                " ssh_destination = COALESCE(?, ssh_destination), price_per_hour = COALESCE(?, price_per_hour)"
                " WHERE job_id = ?",
                (obs.instance, obs.status, obs.destination, obs.price_per_hour, job_id),
            )
            if state not in _ACTIVE:
                return  # ended: the cancel pass gives the machines back
            if obs.phase in (base.BOOTING, base.READY) and state == "PENDING":
                conn.execute(
                    "UPDATE jobs SET state = 'CONFIGURING', reason = 'None', start_time = ?, node_list = ?,"
                    " batch_host = ? WHERE job_id = ?",
                    (now, obs.instance or "", obs.instance or "", job_id),
                )
                conn.execute("UPDATE cloud SET allocated_at = ? WHERE job_id = ? AND allocated_at IS NULL",
                             (now, job_id))
                state = "CONFIGURING"
            if cancel_uid is not None and state == "CONFIGURING":
                _end(conn, job_id, "CANCELLED", now, cancelled_by=cancel_uid)
            elif obs.phase == base.READY and state in RUNNING_STATES and not (shepherd and alive(shepherd)):
                from flowslurm.engine.scheduler import take_lock

                fd = take_lock(self.home, job_id)
                if fd is not None:
                    launch = (fd, token)
            elif obs.phase == base.PREEMPTED:
                _stop_shepherd(shepherd)
                if may_requeue:
                    _end(conn, job_id, "PREEMPTED", now)
                    conn.execute("UPDATE jobs SET requeue_request = 'requeue' WHERE job_id = ?", (job_id,))
                    requeue.end_run(conn, job_id, now, 0.0)
                else:
                    _end(conn, job_id, "PREEMPTED", now)
            elif obs.phase == base.GONE:
                _stop_shepherd(shepherd)
                _end(conn, job_id, "NODE_FAIL", now, reason="NodeDown")
        if launch is not None:
            self._launch(provider, job_id, *launch)

    def _launch(self, provider: RemoteProvider, job_id: int, fd: int, token: str) -> None:
        from flowslurm.engine.runner import spawn_detached

        try:
            spawn_detached(provider.shepherd_module, [str(job_id), token or "", str(fd)], self.home, fd)
        finally:
            os.close(fd)

    # ---- give back --------------------------------------------------------------------------

    def _cancel_ended(self, name: str, provider: RemoteProvider, now: float) -> None:
        """Cancel the handles of jobs that no longer hold them: ended, requeued (a new run gets a new
        bid), or pending again. Cancelling is idempotent, so a crash in between only repeats it."""
        rows = self.ledger.conn.execute(
            "SELECT job_id, bid_name, bid, api_key_fid FROM cloud JOIN jobs USING (job_id)"
            " WHERE cloud.bid_live = 1 AND jobs.provider = ? AND NOT"
            " (jobs.state IN ('CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED')"
            "  OR (jobs.state = 'PENDING' AND jobs.launch_token IS NOT NULL AND cloud.allocated_at IS NULL))",
            (name,),
        ).fetchall()
        for job_id, bid_name, bid, key_ref in rows:
            provider.cancel(base.Handle(job_id, bid, bid_name, key_ref=key_ref))
            with self.ledger.write() as conn:
                conn.execute(
                    "UPDATE cloud SET bid_live = 0, released_at = COALESCE(released_at, ?) WHERE job_id = ?",
                    (now, job_id),
                )


def _save_handle(conn: sqlite3.Connection, handle: Handle) -> None:
    """A new run's handle: an earlier run's cost is kept, its billing fields are reset."""
    old = conn.execute(f"SELECT {CLOUD_COST_SQL} FROM cloud WHERE job_id = ?", (handle.job_id,)).fetchone()
    spent = old[0] if old else 0.0
    conn.execute(
        "INSERT OR REPLACE INTO cloud (job_id, bid_name, bid, bid_live, instance_type, region, price_per_hour,"
        " cost) VALUES (?, ?, ?, 1, ?, ?, ?, ?)",
        (handle.job_id, handle.name, handle.ref, handle.instance_type, handle.region, handle.price_per_hour, spent),
    )


def _end(conn: sqlite3.Connection, job_id: int, state: str, now: float, *, reason: str = "None",
         cancelled_by: int | None = None) -> None:
    conn.execute(
        "UPDATE jobs SET state = ?, reason = ?, end_time = ?, exit_code = 0, exit_signal = 0,"
        " cancelled_by = COALESCE(?, cancelled_by), shepherd_pid = NULL WHERE job_id = ?",
        (state, reason, now, cancelled_by, job_id),
    )
    conn.execute("UPDATE steps SET state = 'CANCELLED', end_time = ? WHERE job_id = ? AND state = 'RUNNING'",
                 (now, job_id))


def _stop_shepherd(pid: int | None) -> None:
    """A remote job's shepherd owns no processes here: when its machines are gone, it just stops."""
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _ledger_tag(home: str | Path) -> str:
    """A short tag unique to this ledger, so bid names (the idempotency keys) from two ledgers that
    share a Mithril project never collide."""
    path = os.path.join(home, "ledger.tag")
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except FileNotFoundError:
        tag = os.urandom(4).hex()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(tag + "\n")
        return tag

