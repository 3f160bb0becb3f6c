"""Driving jobs forward: scheduling passes, launching shepherds, waking or starting the engine daemon.

Every process that changes what can run (sbatch after inserting a job, a shepherd after its job
ends, scancel, scontrol) calls `after_change`, so jobs start without waiting for a timer. The
engine daemon (flowslurm.engine.daemon) covers what needs a clock (begin times, dependency
delays) and recovery after a crash; it is started on demand and exits when idle.
"""

from __future__ import annotations

import errno
import os
import sys

from flowslurm.engine.scheduler import schedule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from flowslurm.config import Node
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.scheduler import Claim

SOCKET_NAME = "engine.sock"


def _python_env(home: str | Path) -> dict[str, str]:
    env = {"FLOWSLURM_HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    env["PYTHONPATH"] = package_root + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")
    for key, value in os.environ.items():
        # MITHRIL_*: the cloud provider's settings (and key) when not in config.yaml; FLOW_ROOT: on an
        # emulated instance, what marks its processes
        if key.startswith(("FLOWSLURM_", "MITHRIL_")) and key != "FLOWSLURM_JOB_TOKEN" or key == "FLOW_ROOT":
            env.setdefault(key, value)
    return env


def spawn_detached(module: str, args: list[str], home: str | Path, pass_fd: int | None = None) -> int:
    """Start `python -m module args` in its own session with stdio on /dev/null; returns its pid."""
    log = os.open(os.path.join(home, "engine.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, log, 1),
        (os.POSIX_SPAWN_DUP2, log, 2),
    ]
    if pass_fd is not None:
        os.set_inheritable(pass_fd, True)
    try:
        return os.posix_spawn(
            sys.executable, [sys.executable, "-m", module, *args], _python_env(home),
            file_actions=actions, setsid=True,
        )
    finally:
        os.close(log)
        if pass_fd is not None:
            os.set_inheritable(pass_fd, False)


def launch(claim: Claim, home: str | Path) -> None:
    try:
        spawn_detached(
            "flowslurm.providers.local.shepherd", [str(claim.job_id), claim.token, str(claim.lock_fd)], home, claim.lock_fd
        )
    finally:
        os.close(claim.lock_fd)


def wake_daemon(home: str | Path) -> bool:
    """Nudge a running engine daemon; False when none is listening."""
    import _socket  # the C module: `socket` costs milliseconds of enum set-up for one datagram

    path = os.path.join(home, SOCKET_NAME)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.sendto(b"w", path)
        return True
    except OSError as exc:
        return exc.errno in (errno.EAGAIN, errno.ENOBUFS)  # queue full: it is awake anyway
    finally:
        sock.close()


def ensure_daemon(home: str | Path, fingerprint: str | None = None) -> None:
    """Wake the engine daemon, or start one. With `fingerprint` (of the caller's cloud settings, see
    `settings_fingerprint`), a daemon started with other settings (no API key in its environment,
    another key or API) is replaced by one started from this process's environment: the daemon
    reads those settings once, and the job just submitted needs these."""
    if not wake_daemon(home):
        spawn_detached("flowslurm.engine.daemon", [], home)
        return
    if fingerprint is None:
        return
    try:
        with open(os.path.join(home, FINGERPRINT_NAME), encoding="ascii") as fh:
            if fh.read().strip() == fingerprint:
                return
        with open(os.path.join(home, "engine.pid"), encoding="ascii") as fh:
            os.kill(int(fh.read().strip()), 15)  # SIGTERM: it finishes its pass and leaves
    except (OSError, ValueError):
        pass
    spawn_detached("flowslurm.engine.daemon", ["--wait-lock"], home)


FINGERPRINT_NAME = "engine.fingerprint"


def settings_fingerprint(environ: Mapping[str, str]) -> str:
    """A digest of the MITHRIL_* settings in an environment (never the values themselves)."""
    import hashlib

    text = "\0".join(f"{k}={v}" for k, v in sorted(environ.items()) if k.startswith("MITHRIL_"))
    return hashlib.sha256(text.encode()).hexdigest()


def after_change(ledger: Ledger, home: str | Path, node: Node) -> int:
    """Run a scheduling pass, launch what it claimed, and keep the daemon around for what still waits.
    Returns the number of jobs still pending."""
    result = schedule(ledger, node, home)
    for claim in result.claims:
        launch(claim, home)
    if result.pending:
        ensure_daemon(home)
    return result.pending
