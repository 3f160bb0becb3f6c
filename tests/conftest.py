"""Shared fixtures: a private flowslurm home per test, flowslurm's own commands, and cleanup.

Tests run the commands from this checkout's bin/ (never whatever `sbatch` is first on PATH) with
FLOWSLURM_HOME in a temporary directory. Every process a test caused (engine daemon, shepherds,
jobs) carries that home in its environment, and is killed when the test ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "bin"


def processes_with_env(marker: bytes) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if marker in fh.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.02) -> object:
    """Poll until predicate() is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


def kill_home(home: Path) -> None:
    """End every process a flowslurm home started (engine, shepherds, jobs): they carry it in their
    environment. SIGTERM first, a bounded wait, then SIGKILL."""
    marker = f"FLOWSLURM_HOME={home}\0".encode()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_with_env(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGTERM:
            deadline = time.monotonic() + 3
            while processes_with_env(marker) and time.monotonic() < deadline:
                time.sleep(0.05)


@dataclass
class Cluster:
    """A private flowslurm installation: run its commands, look at its ledger."""

    home: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, cmd: str, *args: str, input: str | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        full_env = dict(self.env)
        full_env.update(env or {})
        return subprocess.run(
            [str(BIN / cmd), *args], input=input, capture_output=True, text=True, env=full_env,
            cwd=str(cwd or self.workdir), timeout=timeout,
        )

    def processes(self, var: str, value: str) -> list[int]:
        """Live processes of this installation whose environment has var=value (another flowslurm
        home on the machine has its own job 1 and step 1.0)."""
        found = []
        for pid in processes_with_env(f"FLOWSLURM_HOME={self.home}\0".encode()):
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    if f"\0{var}={value}\0".encode() in b"\0" + fh.read():
                        found.append(pid)
            except OSError:
                continue
        return found

    def submit(self, *args: str, **kw: object) -> int:
        res = self.run("sbatch", "--parsable", *args, **kw)  # type: ignore[arg-type]
        assert res.returncode == 0, res.stderr
        return int(res.stdout.strip().split(";")[0])

    def state(self, job_id: int) -> str:
        import sqlite3

        conn = sqlite3.connect(self.home / "ledger.db", timeout=30)
        try:
            row = conn.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        finally:
            conn.close()
        return row[0] if row else ""

    def wait_state(self, job_id: int, *states: str, timeout: float = 30) -> str:
        return str(wait_for(lambda: self.state(job_id) in states and self.state(job_id), timeout))

    def wait_done(self, job_id: int, timeout: float = 30) -> str:
        from flowslurm.engine.model import FINISHED_STATES

        return self.wait_state(job_id, *FINISHED_STATES, timeout=timeout)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "FLOWSLURM_"))}
    env.update(
        PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        FLOWSLURM_HOME=str(home),
        FLOWSLURM_PYTHON=sys.executable,
        FLOWSLURM_CPUS="8",
        FLOWSLURM_MEMORY_MB="16384",
        FLOWSLURM_GPUS="0",
        FLOWSLURM_KILL_WAIT="2",
        FLOWSLURM_OUTPUT_DIR_WAIT="1",
        FLOWSLURM_NODE_NAME="testnode",
        HOME=str(tmp_path),
    )
    yield Cluster(home, work, env)
    kill_home(home)
