"""How `flow` speaks: tables, JSON, times, confirmations, and progress that only a terminal sees.

On a TTY long waits show a spinner and each step as it completes; on a pipe nothing decorative is
written (no spinner frames, no carriage returns), so `flow run ... | tee log` stays clean. JSON
output goes to stdout alone; every message for people goes to stderr.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from flowslurm.cli.common import Env

__all__ = ["Progress", "ago", "confirm", "is_tty", "print_json", "table"]

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def print_json(env: Env, data: Any) -> None:
    import json

    env.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    out = []
    for row in [headers, *rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def ago(stamp: float | None, now: float | None = None) -> str:
    """"12s ago", "5m ago", "3h ago", "2d ago"; "-" for no time."""
    if stamp is None:
        return "-"
    delta = max(0, int((now if now is not None else time.time()) - stamp))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{delta // size}{unit} ago"
    return f"{delta}s ago"


def duration(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def confirm(env: Env, question: str) -> bool:
    """Ask on the terminal; False when there is none to ask (scripts pass --yes)."""
    if not is_tty(env.stdin):
        return False
    env.stderr.write(f"{question} [y/N] ")
    env.stderr.flush()
    answer = env.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


class Progress:
    """`with Progress(env, "Starting task") as p: ... p.step("Allocated")`: a spinner line on a
    TTY (redrawn by `tick`), finished steps as "✓ text" lines; silent on a pipe unless `plain`."""

    def __init__(self, env: Env, text: str, *, plain_steps: bool = False) -> None:
        self.stream: TextIO = env.stderr
        self.tty = is_tty(env.stderr)
        self.text = text
        self.plain_steps = plain_steps
        self.frame = 0
        self.drawn = False

    def __enter__(self) -> Progress:
        self.tick()
        return self

    def __exit__(self, *exc: object) -> None:
        self._clear()

    def _clear(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False

    def tick(self, text: str | None = None) -> None:
        if text is not None:
            self.text = text
        if not self.tty:
            return
        self.stream.write(f"\r\033[K{SPINNER[self.frame % len(SPINNER)]} {self.text}")
        self.stream.flush()
        self.frame += 1
        self.drawn = True

    def step(self, text: str) -> None:
        """A completed step: kept on screen (and written on a pipe only with plain_steps)."""
        if self.tty:
            self._clear()
            self.stream.write(f"✓ {text}\n")
            self.stream.flush()
            self.tick()
        elif self.plain_steps:
            self.stream.write(text + "\n")
            self.stream.flush()
