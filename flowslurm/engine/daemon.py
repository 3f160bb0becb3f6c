"""The engine daemon: one per FLOWSLURM_HOME, started on demand, gone when there is nothing to do.

It holds `engine.lock` for its whole life (so at most one runs), listens on a datagram socket
for nudges, and on every nudge or timer runs a scheduling pass and crash recovery. It owns no
job: shepherds do. Killing it (even with SIGKILL) loses nothing; the next command starts another.

Usage (internal): python -m flowslurm.engine.daemon
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import socket
import sys
import time
from pathlib import Path

from flowslurm import config
from flowslurm.engine import requeue
from flowslurm.engine.ledger import Ledger
from flowslurm.engine.runner import FINGERPRINT_NAME, SOCKET_NAME, launch, settings_fingerprint
from flowslurm.engine.scheduler import ACTIVE_RUNNING, schedule, take_lock
from flowslurm.providers.local import proctree

IDLE_EXIT_S = 10.0
TICK_S = 2.0


def recover(ledger: Ledger, home: Path) -> list[int]:
    """Find running local jobs whose shepherd is gone. A job whose script never started goes back to
    PENDING; one whose script did start ends as NODE_FAIL, with its leftover processes killed. A job
    whose requeue was asked for is requeued either way (see engine.requeue)."""
    recovered = []
    marks = ",".join("?" * len(ACTIVE_RUNNING))
    for job_id, job_pid, token in ledger.conn.execute(
        f"SELECT job_id, job_pid, launch_token FROM jobs WHERE state IN ({marks}) AND provider = 'local'", ACTIVE_RUNNING
    ).fetchall():
        fd = take_lock(home, job_id)
        if fd is None:
            continue  # its shepherd (or the launcher about to start it) is alive
        try:
            with ledger.write() as conn:
                row = conn.execute("SELECT state, launch_token FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
                if row is None or row[0] not in ACTIVE_RUNNING or row[1] != token:
                    continue
                if job_pid is None:
                    conn.execute(
                        "UPDATE jobs SET state = 'PENDING', reason = 'None', start_time = NULL, node_list = '',"
                        " batch_host = '', gpu_ids = '', launch_token = NULL WHERE job_id = ?",
                        (job_id,),
                    )
                else:
                    if token:
                        proctree.signal_job(token, signal.SIGKILL, job_pid)
                    conn.execute(
                        "UPDATE jobs SET state = 'NODE_FAIL', reason = 'NodeDown', end_time = ?, exit_code = 0,"
                        " exit_signal = 0 WHERE job_id = ?",
                        (time.time(), job_id),
                    )
                    conn.execute(
                        "UPDATE steps SET state = 'CANCELLED', end_time = ? WHERE job_id = ? AND state = 'RUNNING'",
                        (time.time(), job_id),
                    )
                requeue.end_run(conn, job_id, time.time())  # a requeue its shepherd did not live to finish
            recovered.append(job_id)
        finally:
            os.close(fd)
    return recovered


def _bind(home: Path) -> socket.socket | None:
    path = home / SOCKET_NAME
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        path.unlink(missing_ok=True)
        sock.bind(str(path))
    except OSError:  # e.g. a path longer than sun_path allows: fall back to the timer alone
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def serve(home: Path) -> None:
    from flowslurm.engine.remote import RemotePass, busy

    ledger = Ledger.open(home)
    node = config.node()
    remote_pass = RemotePass(ledger, home, poll_interval_s=config.remote_poll_interval())
    sock = _bind(home)
    (home / "engine.pid").write_text(f"{os.getpid()}\n")
    fd = os.open(home / FINGERPRINT_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:  # what cloud settings this daemon runs with
        fh.write(settings_fingerprint(os.environ) + "\n")
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    idle_since: float | None = None
    last_recover = 0.0
    try:
        while not stop:
            now = time.time()
            if now - last_recover >= TICK_S:
                recover(ledger, home)
                last_recover = now
            result = schedule(ledger, node, home, now)
            for claim in result.claims:
                launch(claim, home)
            remote_busy = busy(ledger)
            if remote_busy:
                remote_pass.run(now)
            running = ledger.count(f"state IN ({','.join('?' * len(ACTIVE_RUNNING))}) AND provider = 'local'",
                                   ACTIVE_RUNNING)
            if result.pending == 0 and running == 0 and not result.claims and not remote_busy:
                idle_since = idle_since or now
                if now - idle_since >= IDLE_EXIT_S:
                    # Stop listening first, then look once more: a job submitted while we were
                    # leaving either sees no socket (and starts a new daemon) or is seen here.
                    if sock is not None:
                        (home / SOCKET_NAME).unlink(missing_ok=True)
                        sock.close()
                        sock = None
                    if ledger.count("(state = 'RUNNING' OR (state = 'PENDING' AND held = '')) AND provider = 'local'") == 0:
                        break
                    sock, idle_since = _bind(home), None
            else:
                idle_since = None
            timeout = min(TICK_S, remote_pass.poll_interval_s) if remote_busy else TICK_S
            if result.next_wakeup is not None:
                timeout = max(0.0, min(timeout, result.next_wakeup - time.time()))
            if sock is None:
                time.sleep(min(timeout, 0.5))
                continue
            ready, _, _ = select.select([sock], [], [], timeout)
            if ready:
                try:
                    while sock.recv(64):
                        pass
                except BlockingIOError:
                    pass
    finally:
        remote_pass.close()
        if sock is not None:
            (home / SOCKET_NAME).unlink(missing_ok=True)
            sock.close()
        (home / "engine.pid").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    home = config.home()
    fd = os.open(home / "engine.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    # --wait-lock: replacing a daemon that was told to leave (runner.ensure_daemon) waits for it
    deadline = time.monotonic() + (30.0 if "--wait-lock" in argv else 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() >= deadline:
                return 0  # another daemon serves this home
            time.sleep(0.05)
    serve(home)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
