"""Finding processes through /proc, so the emulator can stop exactly what it started.

A sandbox's processes are found three ways, because each alone can miss some: the startup
script's process group (setsid at launch), the process tree under its sshd (connection handlers
call setsid themselves), and the FLOW_ROOT=<root> variable that every process started by the
script or over SSH inherits (it survives a daemon's own setsid). Zombies count as gone: on a
machine whose PID 1 does not reap, they stay listed but hold nothing.
"""

from __future__ import annotations

import os


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, parent pid, process group) of a live process, None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()  # the command name may hold spaces and parentheses
    state = fields[0].decode()
    if state in ("Z", "X", "x"):
        return None
    return state, int(fields[1]), int(fields[2])


def pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def alive(pid: int) -> bool:
    return _stat(pid) is not None


def group(pgid: int) -> list[int]:
    """Live members of process group `pgid`."""
    found = []
    for pid in pids():
        stat = _stat(pid)
        if stat is not None and stat[2] == pgid:
            found.append(pid)
    return found


def descendants(root: int) -> list[int]:
    """Live processes below `root` in the parent tree (not `root` itself)."""
    children: dict[int, list[int]] = {}
    for pid in pids():
        stat = _stat(pid)
        if stat is not None:
            children.setdefault(stat[1], []).append(pid)
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def with_env(name: str, value: str, *, prefix: bool = False) -> list[int]:
    """Live processes (other than this one) whose environment has name=value, or, with `prefix`,
    name=<value...>."""
    wanted = f"\0{name}={value}".encode() + (b"" if prefix else b"\0")
    found = []
    for pid in pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = b"\0" + fh.read()
        except OSError:
            continue
        if wanted in environ and alive(pid):
            found.append(pid)
    return found


def with_cmdline(text: str) -> list[int]:
    """Live processes (other than this one) whose command line contains `text`."""
    wanted = text.encode()
    found = []
    for pid in pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
        except OSError:
            continue
        if wanted in cmdline and alive(pid):
            found.append(pid)
    return found
