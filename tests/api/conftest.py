"""Fixtures for the Flow API and CLI tests.

`flow_env`: the `cluster` fixture's private flowslurm home, made the process environment (so the
API called in this process, and every engine process it starts, use it and are cleaned up with
it) and the current directory.

`cloud`: one Mithril emulator program (real HTTP, sandbox instances with real sshds, a 0.1 s
market) and a flowslurm home pointed at it, shared by a test module: starting an emulator costs
seconds, and each test only adds tasks. `cloud_env` makes it the process environment for
in-process API calls. On teardown no bid may be left live and no process of the home running.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import BIN, Cluster, kill_home, wait_for

ROOT = Path(__file__).resolve().parents[2]
CLEAN_PREFIXES = ("SLURM_", "SBATCH_", "FLOWSLURM_", "MITHRIL_", "FLOW_")


def _use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cwd: Path) -> None:
    from flowslurm import config

    for key in list(os.environ):
        if key.startswith(CLEAN_PREFIXES):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(config, "_settings_cache", None)


@pytest.fixture
def flow_env(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    _use_env(monkeypatch, cluster.env, cluster.workdir)
    yield cluster


def flow_cli(env: dict[str, str], cwd: Path, *args: str, input: str | None = None,
             timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run this checkout's `flow` as a user would (bin/flow), bounded in time."""
    return subprocess.run([str(BIN / "flow"), *args], input=input, capture_output=True, text=True, env=env,
                          cwd=str(cwd), timeout=timeout)


class Cloud:
    """A flowslurm home aimed at a running emulator."""

    def __init__(self, home: Path, workdir: Path, env: dict[str, str], mithril: object) -> None:
        self.home = home
        self.workdir = workdir
        self.env = env
        self.mithril = mithril

    def flow(self, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return flow_cli(self.env, self.workdir, *args, input=input, timeout=timeout)

    def run(self, cmd: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / cmd), *args], capture_output=True, text=True, env=self.env,
                              cwd=str(self.workdir), timeout=60)

    def live_bids(self) -> list[dict[str, object]]:
        return [b for b in self.mithril.state()["bids"] if b["status"] != "Terminated"]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    from flowslurm.emulator.testing import Emulator

    base = tmp_path_factory.mktemp("cloud")
    home, work, pybin = base / "home", base / "work", base / "pybin"
    for folder in (home, work, pybin):
        folder.mkdir()
    (pybin / "python").symlink_to(sys.executable)  # the seed's examples say `python train.py`
    user = getpass.getuser()
    with Emulator(base / "mithril", allocate_after=0.1, boot_after=0.1, ssh_user=user) as mithril:
        env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_PREFIXES)}
        env.update(
            PATH=f"{BIN}:{pybin}:{env.get('PATH', '/usr/bin:/bin')}", FLOWSLURM_HOME=str(home),
            FLOWSLURM_PYTHON=sys.executable, FLOWSLURM_CPUS="8", FLOWSLURM_MEMORY_MB="16384", FLOWSLURM_GPUS="0",
            FLOWSLURM_KILL_WAIT="2", FLOWSLURM_OUTPUT_DIR_WAIT="1", FLOWSLURM_NODE_NAME="testnode",
            HOME=str(base), MITHRIL_API_URL=mithril.url, MITHRIL_API_KEY=mithril.api_key, MITHRIL_PROJECT="default",
            MITHRIL_SSH_USER=user, FLOWSLURM_REMOTE_POLL="0.1", PYTHONPATH=str(ROOT),
        )
        c = Cloud(home, work, env, mithril)
        try:
            yield c
            from flowslurm.engine.ledger import Ledger

            ledger = Ledger.open(home)  # cancel what a test left running, then nothing may stay billed
            live = [r[0] for r in ledger.conn.execute(
                "SELECT job_id FROM jobs WHERE state IN ('PENDING','RUNNING','CONFIGURING')")]
            ledger.close()
            if live:
                c.run("scancel", *map(str, live))
            wait_for(lambda: not c.live_bids(), timeout=30)
        finally:
            kill_home(home)


@pytest.fixture
def cloud_env(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    _use_env(monkeypatch, cloud.env, cloud.workdir)
    yield cloud
