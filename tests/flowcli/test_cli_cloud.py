"""The `flow` CLI's cloud commands that need the Mithril API but no running instance, against the
emulator served in this process (real HTTP, a manual clock: a bid stays Open until the test moves
time on). flow init, volumes, instances, placement (--dry-run), a task's bid, mount, cancel.

Commands that reach a running instance (ssh, upload-code, logs of a cloud task) are exercised in
tests/api/test_seed_examples.py, against the emulator program with real sshds.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flowslurm.emulator.server import EmulatorServer
from tests.api.conftest import flow_cli
from tests.conftest import Cluster, wait_for


@dataclass
class Api:
    cluster: Cluster
    emulator: EmulatorServer

    @property
    def env(self) -> dict[str, str]:
        return self.cluster.env

    def flow(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return flow_cli(env or self.env, self.cluster.workdir, *args)

    def bids(self) -> list[dict[str, object]]:
        with self.emulator.state.lock:
            return [dict(b) for b in self.emulator.state.bids.values()]


@pytest.fixture
def api(cluster: Cluster) -> Iterator[Api]:
    emulator = EmulatorServer().start()
    cluster.env.update(MITHRIL_API_URL=emulator.url, MITHRIL_API_KEY=emulator.api_key, MITHRIL_PROJECT="default",
                       FLOWSLURM_REMOTE_POLL="0.1")
    try:
        yield Api(cluster, emulator)
    finally:
        emulator.stop()
    assert not emulator.state.internal_errors, emulator.state.internal_errors[0]


def without_mithril_env(env: dict[str, str], url: str) -> dict[str, str]:
    out = {k: v for k, v in env.items() if not k.startswith("MITHRIL_")}
    out["MITHRIL_API_URL"] = url
    return out


def test_init_validates_the_key_and_writes_a_private_config(api: Api) -> None:
    e = api.emulator
    env = without_mithril_env(api.env, e.url)
    bad = api.flow("init", "--api-key", "fkey_" + "x" * 30, "--yes", env=env)
    assert bad.returncode == 5 and "rejected" in bad.stderr and "Traceback" not in bad.stderr
    path = api.cluster.home / "config.yaml"
    assert not path.exists()
    junk = api.flow("init", "--api-key", "not-a-key", "--yes", env=env)
    assert junk.returncode == 3 and "fkey_" in junk.stderr
    several = api.flow("init", "--api-key", e.api_key, "--yes", env=env)
    assert several.returncode == 3 and "default, research" in several.stderr
    res = api.flow("init", "--api-key", e.api_key, "--project", "research", "--region", "us-central1-b", "--yes",
                   env=env)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "project: research" in text and "region: us-central1-b" in text and "backend: local" in text
    assert e.api_key not in res.stdout + res.stderr
    shown = json.loads(api.flow("init", "--show", "--json", env=env).stdout)
    assert shown["project"] == "research" and shown["api_key"] == "set (hidden)"
    # the stored key is what the cloud commands now use: no MITHRIL_API_KEY in the environment
    assert api.flow("volumes", "list", env=env).returncode == 0
    # sbatch still runs locally: flow init changed only the Mithril settings
    assert api.cluster.run("sbatch", "--parsable", "--wrap", "true", env=env).returncode == 0
    assert api.cluster.run("squeue", "-h", "-o", "%P", env=env).stdout.strip() in ("", "local")


def test_interactive_init_prompts_for_the_key_and_project(api: Api) -> None:
    import pty
    import select

    from tests.conftest import BIN

    e = api.emulator
    env = without_mithril_env(api.env, e.url)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of its own, as a person at a prompt has
        os.chdir(api.cluster.workdir)
        os.execve(str(BIN / "flow"), [str(BIN / "flow"), "init"], env)
    seen = b""
    answers = [(b"API key", e.api_key.encode() + b"\n"), (b"Project (", b"research\n")]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        if answers and answers[0][0] in seen:
            os.write(fd, answers.pop(0)[1])
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "Saved Mithril settings" in text and e.api_key not in text and "✓ API key accepted" in text
    assert "project: research" in (api.cluster.home / "config.yaml").read_text()


def test_volumes_create_list_delete(api: Api) -> None:
    made = api.flow("volumes", "create", "--size", "50", "--name", "training-data", "--json")
    assert made.returncode == 0, made.stderr
    vol = json.loads(made.stdout)
    assert vol["size_gb"] == 50 and vol["interface"] == "block" and vol["region"] == "us-central1-a"
    listed = api.flow("volumes", "list")
    assert ":1" in listed.stdout and vol["volume_id"] in listed.stdout and "50GB" in listed.stdout
    bad = api.flow("volumes", "create", "--size", "5", "--name", "Bad_Name")
    assert bad.returncode == 3 and "lower-case" in bad.stderr
    refused = api.flow("volumes", "delete", ":1")  # no terminal to confirm on
    assert refused.returncode == 2 and "nothing deleted" in refused.stderr
    missing = api.flow("volumes", "delete", "trainin-data", "--yes")
    assert missing.returncode == 4 and "training-data" in missing.stderr
    gone = api.flow("volumes", "delete", ":1", "--yes")
    assert gone.returncode == 0 and "Deleted volume training-data" in gone.stdout
    assert api.flow("volumes", "list").stdout.startswith("No volumes")


def test_instances_show_live_prices_and_dry_run_places(api: Api) -> None:
    data = json.loads(api.flow("instances", "--json").stdout)
    rows = {r["name"]: r for r in data["instance_types"]}
    assert data["live"] and set(rows) == {"a100", "8xa100", "8xh100"}
    assert rows["a100"]["price_per_hour"] == 1.10 and rows["a100"]["region"] == "us-central1-b"
    table = api.flow("instances").stdout
    assert "a100-80gb.sxm.1x" in table and "$1.10" in table
    dry = api.flow("run", "-i", "4xa100", "--dry-run", "--max-price-per-hour", "12", "nvidia-smi")
    assert dry.returncode == 0, dry.stderr
    assert "a100-80gb.sxm.8x" in dry.stdout and "$12.00/h per instance: the cap" in dry.stdout
    assert not api.bids()
    none = api.flow("run", "-i", "8xa100", "--region", "eu-central1-a", "true")
    assert none.returncode == 7 and "no spot market in region eu-central1-a" in none.stderr


def test_a_cloud_task_gets_a_bid_a_volume_and_is_cancelled(api: Api) -> None:
    res = api.flow("run", "-i", "a100", "--name", "gpu-job-1", "--max-price-per-hour", "5", "sleep 600")
    assert res.returncode == 0, res.stderr
    task = res.stdout.split()[1]
    job = task.removeprefix("task-")
    assert api.cluster.run("squeue", "-h", "-o", "%i %j %P").stdout.split() == [job, "gpu-job-1", "mithril"]
    wait_for(api.bids, timeout=30)  # the engine placed the bid; the manual clock keeps it Open
    [bid] = api.bids()
    assert bid["limit_price"] == "$5.00" and bid["region"] == "us-central1-b"
    detail = json.loads(api.flow("status", task, "--json").stdout)
    assert detail["status"] == "pending" and detail["backend"] == "mithril" and detail["instance_type"] == "a100"
    api.flow("volumes", "create", "--size", "10", "--name", "scratch", "--region", "us-central1-b")
    mounted = api.flow("mount", "scratch", "gpu-job-1")
    assert mounted.returncode == 0 and "/mnt/scratch" in mounted.stdout, mounted.stderr
    assert api.flow("mount", ":1", ":1").returncode == 0  # by indices: attached once, not twice
    [vol] = json.loads(api.flow("volumes", "list", "--json").stdout)
    assert api.bids()[0]["launch_specification"]["volumes"] == [vol["volume_id"]]  # type: ignore[index]
    elsewhere = api.flow("volumes", "create", "--size", "10", "--name", "far", "--region", "eu-central1-a")
    assert elsewhere.returncode == 0
    wrong = api.flow("mount", "far", task)
    assert wrong.returncode == 3 and "region" in wrong.stderr
    done = api.flow("cancel", "gpu-job-1")
    assert done.returncode == 0 and f"Cancelled {task} (gpu-job-1)" in done.stdout
    wait_for(lambda: api.bids()[0]["status"] == "Terminated", timeout=30)
    assert json.loads(api.flow("status", task, "--json").stdout)["status"] == "cancelled"
    ended = api.flow("mount", "scratch", task)
    assert ended.returncode == 1 and "has ended" in ended.stderr


def test_local_paths_never_reach_the_network_without_a_key(cluster: Cluster, tmp_path: Path) -> None:
    res = flow_cli(cluster.env | {"MITHRIL_API_URL": "http://127.0.0.1:9"}, cluster.workdir, "run", "-i", "a100",
                   "true")
    assert res.returncode == 5 and "flow init" in res.stderr
