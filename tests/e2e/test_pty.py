"""Interactive work through a real pseudo-terminal: `srun --pty` and `salloc` as a person types them.

Each test runs flowslurm's command on a pty of its own (the test holds the master end, as a
terminal emulator does), with a window size set on it, then reads what appears and types keys,
Ctrl-C included.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator

import pytest

from tests.conftest import BIN, Cluster


class Terminal:
    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, rows: int = 37, cols: int = 91) -> None:
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # the pty is its controlling terminal
        )
        os.close(slave)
        self.seen = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern.encode())
        while True:
            found = regex.search(self.seen)
            if found:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} on the terminal within {timeout}s; it shows:\n"
                                     f"{self.seen.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # EIO: the command and everything on the terminal ended
                    time.sleep(0.05)

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running; the terminal shows:\n{self.seen.decode(errors='replace')}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def terminal(cluster: Cluster) -> Iterator[type[Terminal]]:
    opened: list[Terminal] = []

    class Opened(Terminal):
        def __init__(self, *args: str, rows: int = 37, cols: int = 91) -> None:
            super().__init__([str(BIN / args[0]), *args[1:]], dict(cluster.env, SHELL="/bin/sh", PS1="prompt> "),
                             str(cluster.workdir), rows, cols)
            opened.append(self)

    yield Opened
    for term in opened:
        term.close()


def test_srun_pty_runs_on_a_terminal_of_its_size_and_returns_the_exit_code(terminal: type[Terminal]) -> None:
    term = terminal("srun", "--pty", "sh", "-c", 'test -t 0 && test -t 1 && echo IS_A_TTY; stty size; exit 7')
    term.expect(r"IS_A_TTY\r?\n37 91")
    assert term.wait() == 7


def test_ctrl_c_and_window_size_reach_the_program_on_the_pty(terminal: type[Terminal]) -> None:
    term = terminal("srun", "--pty", "sh", "-c",
                    "trap 'stty size' WINCH; trap 'echo got-INT; exit 3' INT; echo ready;"
                    " while :; do sleep 0.1; done")
    term.expect("ready")
    term.resize(50, 120)
    term.expect(r"50 120")
    term.type(b"\x03")  # Ctrl-C: a key on the terminal, not a signal to srun
    term.expect("got-INT")
    assert term.wait() == 3


def test_salloc_shell_with_an_interactive_step_inside(terminal: type[Terminal], cluster: Cluster) -> None:
    term = terminal("salloc", "-n", "1")
    term.expect(r"Granted job allocation (\d+)")
    job_id = term.expect(r"Granted job allocation (\d+)").group(1).decode()
    term.type(b"echo JOB=$SLURM_JOB_ID\n")
    term.expect(rf"JOB={job_id}")
    term.type(b"srun --pty sh -c 'test -t 0 && echo INNER_TTY $SLURM_STEP_ID'\n")
    term.expect(r"INNER_TTY 0\r?\n(.|\n)*prompt> ")  # typed after the prompt, as a person does
    term.type(b"exit\n")
    term.expect(rf"Relinquishing job allocation {job_id}")
    assert term.wait() == 0
    assert cluster.state(int(job_id)) == "COMPLETED"
