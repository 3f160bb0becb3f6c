"""Finding and signalling every process of a job, including ones that left its process group.

Each job's processes carry `FLOWSLURM_JOB_TOKEN=<token>` in their environment (set by the
shepherd and inherited by every descendant), so a job's processes are found even after they
daemonize or start their own session, as SLURM's proctrack plugins find them.
"""

from __future__ import annotations

import os
import signal

TOKEN_VAR = "FLOWSLURM_JOB_TOKEN"


def job_pids(token: str, also: str | None = None) -> list[int]:
    """Pids of the job's processes; with `also`, only those whose environment has that variable."""
    return _scan(f"\0{TOKEN_VAR}={token}\0".encode(), f"\0{also}=".encode() if also else b"")


def pids_with(var: str, value: str, token: str | None = None) -> list[int]:
    """Pids of processes (of this user) whose environment has var=value exactly; with `token`, only that
    job's (values such as a step's "<job>.<step>" repeat across installations, whose job ids are their own)."""
    return _scan(f"\0{var}={value}\0".encode(), f"\0{TOKEN_VAR}={token}\0".encode() if token else b"")


def _scan(needle: bytes, extra: bytes = b"") -> list[int]:
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                data = b"\0" + fh.read() + b"\0"
        except OSError:
            continue
        if needle in data and extra in data:
            found.append(int(name))
    return found


def signal_job(token: str, sig: int, pgid: int | None = None) -> int:
    """Send `sig` to the job's process group and to every process carrying its token; returns how many."""
    count = 0
    if pgid:
        try:
            os.killpg(pgid, sig)
            count += 1
        except (ProcessLookupError, PermissionError):
            pass
    for pid in job_pids(token):
        try:
            os.kill(pid, sig)
            count += 1
        except (ProcessLookupError, PermissionError):
            pass
    return count


def rss_kb(token: str) -> dict[int, int]:
    """Resident memory of each of the job's processes, in KiB."""
    sizes = {}
    for pid in job_pids(token):
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        sizes[pid] = int(line.split()[1])
                        break
        except (OSError, ValueError):
            continue
    return sizes


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


SIGNALS_TERMINATE = (signal.SIGCONT, signal.SIGTERM)
