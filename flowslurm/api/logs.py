"""Reading a task's output: all of it, its last lines, or following it as it grows.

A task's output is its SLURM output file (a cloud task's is streamed home into the same file by
its shepherd), so one reader serves every backend. Tailing reads from the end in blocks, so the
last 100 lines of a 10 GB log cost a few kilobytes; following polls the file's size.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from flowslurm.api.tasks import Task

__all__ = ["follow", "read", "tail_bytes"]

BLOCK = 64 * 1024


def tail_bytes(path: str, lines: int) -> bytes:
    """The last `lines` lines of a file (fewer if it is shorter); b"" when it does not exist."""
    try:
        fh = open(path, "rb")
    except OSError:
        return b""
    with fh:
        end = fh.seek(0, os.SEEK_END)
        if lines <= 0:
            return b""
        data = b""
        pos = end
        while pos > 0:
            step = min(BLOCK, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
            # one more newline than lines wanted: the file's own last newline ends the last line
            if data.count(b"\n") > lines:
                break
        parts = data.split(b"\n")
        trailing = data.endswith(b"\n")
        body = parts[:-1] if trailing else parts
        kept = body[-lines:]
        return b"\n".join(kept) + (b"\n" if trailing and kept else b"")


def _read_all(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def read(path: str, tail: int | None = None, other: str | None = None) -> str:
    """The output file's text (and the error file's, after it, when that is another file)."""
    paths = [path] + ([other] if other and other != path else [])
    if tail is None:
        data = b"".join(_read_all(p) for p in paths)
    elif len(paths) == 1:
        data = tail_bytes(path, tail)
    else:
        data = b"".join(_read_all(p) for p in paths)
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-tail:]) if tail > 0 else b""
    return data.decode("utf-8", "replace")


def follow(task: Task, tail: int | None = None, poll_s: float = 0.2) -> Iterator[str]:
    """Lines of the task's output as they are written (without their newlines); ends once the task
    has ended and its output is read to the end."""
    path = task.log_path
    offset = 0
    if tail is not None:
        start = tail_bytes(path, tail)
        try:
            offset = os.path.getsize(path)
        except OSError:
            offset = 0
        for line in start.decode("utf-8", "replace").splitlines():
            yield line
    pending = b""
    while True:
        task.refresh()
        ended = task.is_terminal
        chunk = read_from(path, offset)
        if chunk:
            offset += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
            continue  # read again at once: more may be there
        if ended:
            if pending:
                yield pending.decode("utf-8", "replace")
            return
        time.sleep(poll_s)


def read_from(path: str, offset: int) -> bytes:
    """What a growing output file holds past `offset` (nothing while it does not exist yet)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read()
    except OSError:
        return b""
