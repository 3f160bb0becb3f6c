"""`flow dev` on the local backend, as a user runs it (bin/flow), with real podman containers in the
busybox image tests/e2e/test_containers.py builds: the dev environment is a long-lived job in the
ledger (squeue shows it), each `-c` command runs in a fresh container with the code at /workspace
and is removed after, --reset and --stop clean up. Every test removes what it started."""

from __future__ import annotations

import json
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import BIN, flow_cli
from tests.conftest import Cluster, wait_for
from tests.e2e.test_containers import IMAGE, MARKER, image_env

__all__ = ["image_env"]  # the session fixture that builds the image, shared with the container tests


def flow(c: Cluster, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return flow_cli(c.env, c.workdir, *args, input=input, timeout=timeout)


def _containers(c: Cluster) -> list[str]:
    res = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}", "--filter", f"label=flowslurm.home={c.home}"],
                         capture_output=True, text=True, env=c.env, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def _squeue(c: Cluster) -> list[str]:
    return c.run("squeue", "-h", "-o", "%i|%j|%T|%l").stdout.split()


@pytest.fixture
def dcluster(cluster: Cluster, image_env: dict[str, str]) -> Iterator[Cluster]:
    """A private flowslurm home that can run the test image; no dev image configured."""
    cluster.env.update(image_env)
    cluster.env.pop("FLOW_DEV_IMAGE", None)
    yield cluster
    flow(cluster, "dev", "--stop")
    names = _containers(cluster)
    if names:
        subprocess.run(["podman", "rm", "-f", "-t", "0", "--ignore", *names], capture_output=True, env=cluster.env,
                       timeout=60)


def test_start_reuse_status_and_stop(dcluster: Cluster) -> None:
    c = dcluster
    none = flow(c, "dev", "--status")
    assert none.returncode == 0 and "No dev environment 'flow-dev' is up" in none.stdout
    first = flow(c, "dev")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Started dev environment task-"), first.stdout
    task = first.stdout.split()[3]
    job = task.removeprefix("task-")
    wait_for(lambda: c.state(int(job)) == "RUNNING", timeout=30)
    assert _squeue(c) == [f"{job}|flow-dev|RUNNING|UNLIMITED"]
    again = flow(c, "dev")
    assert again.returncode == 0 and again.stdout.startswith(f"Reusing dev environment {task} "), again.stdout
    assert len(_squeue(c)) == 1
    status = flow(c, "dev", "--status")
    assert f"Dev environment {task} (SLURM job {job}): running on this machine" in status.stdout
    assert "time limit none" in status.stdout
    up = flow(c, "upload-code", task)
    assert up.returncode == 0 and up.stdout.endswith("nothing to upload\n")
    stopped = flow(c, "dev", "--stop")
    assert stopped.returncode == 0 and f"Stopped dev environment {task}" in stopped.stdout
    c.wait_done(int(job))
    assert c.state(int(job)) == "CANCELLED" and _squeue(c) == []
    assert "No dev environment" in flow(c, "dev", "--stop").stdout


def test_command_runs_in_a_fresh_container_with_the_code_at_workspace(dcluster: Cluster) -> None:
    c = dcluster
    (c.workdir / "code.txt").write_text("the code\n")
    res = flow(c, "dev", "--image", IMAGE, "-c",
               f"pwd; cat code.txt; cat {MARKER}; echo made > out.txt; touch /tmp/left; echo to-err >&2; exit 3")
    assert res.returncode == 3, res.stderr
    assert res.stdout == "/workspace\nthe code\nonly in the image\n"
    assert "to-err\n" in res.stderr and "Started dev environment" in res.stderr
    assert "Exited with exit code" not in res.stderr
    assert (c.workdir / "out.txt").read_text() == "made\n"  # the code directory is the host's, mounted
    fresh = flow(c, "dev", "--image", IMAGE, "-c", "test ! -e /tmp/left && echo fresh")
    assert fresh.returncode == 0 and fresh.stdout == "fresh\n", fresh.stderr
    assert "Started" not in fresh.stderr and "Reusing" not in fresh.stderr
    piped = flow(c, "dev", "--image", IMAGE, "--", "cat", "-", input="from stdin\n")
    assert piped.returncode == 0 and piped.stdout == "from stdin\n", piped.stderr
    wait_for(lambda: not _containers(c), timeout=10, interval=0.1)  # --rm: nothing left
    job = _squeue(c)[0].split("|")[0]
    steps = c.run("sacct", "-j", job, "-n", "-P", "-o", "JobID,JobName,State").stdout.splitlines()
    assert f"{job}.0|flow-dev-command|FAILED" in steps and f"{job}.1|flow-dev-command|COMPLETED" in steps


def test_warm_command_is_fast(dcluster: Cluster) -> None:
    c = dcluster
    assert flow(c, "dev", "--image", IMAGE, "-c", "true").returncode == 0  # start, and warm the image
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        res = flow(c, "dev", "--image", IMAGE, "-c", "true")
        timings.append(time.perf_counter() - began)
        assert res.returncode == 0, res.stderr
    bare = time.perf_counter()
    subprocess.run(["podman", "run", "--rm", "--network=host", "--log-driver=none", "--entrypoint=", IMAGE, "true"],
                   check=True, env=c.env, capture_output=True, timeout=60)
    bare_s = time.perf_counter() - bare
    best = min(timings)
    print(f"\nflow dev -c true (warm): best {best:.3f} s of {[round(t, 3) for t in timings]}; "
          f"bare podman run {bare_s:.3f} s; client overhead about {best - bare_s:.3f} s")
    assert best < 5.0


def test_image_defaults_and_the_error_without_one(dcluster: Cluster) -> None:
    c = dcluster
    res = flow(c, "dev", "-c", "true")
    assert res.returncode == 2 and "flow dev -c needs a container image" in res.stderr
    assert "FLOW_DEV_IMAGE" in res.stderr and "Traceback" not in res.stderr
    assert _squeue(c) == []  # nothing was started for a command that cannot run
    c.env["FLOW_DEV_IMAGE"] = IMAGE
    assert flow(c, "dev", "-c", f"cat {MARKER}").stdout == "only in the image\n"
    assert flow(c, "dev", "--stop").returncode == 0
    del c.env["FLOW_DEV_IMAGE"]
    assert flow(c, "dev", "--image", IMAGE).returncode == 0  # the dev environment's own image
    assert f"image     {IMAGE}" in flow(c, "dev", "--status").stdout
    assert flow(c, "dev", "-c", f"cat {MARKER}").stdout == "only in the image\n"
    assert flow(c, "dev", "--status", "--reset").returncode == 2


def test_reset_removes_containers_and_keeps_the_environment(dcluster: Cluster) -> None:
    c = dcluster
    started = flow(c, "dev", "--image", IMAGE)
    task = started.stdout.split()[3]
    job = int(task.removeprefix("task-"))
    proc = subprocess.Popen([str(BIN / "flow"), "dev", "-c", "sleep 60"], cwd=c.workdir, env=c.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _containers(c), timeout=30, interval=0.1)
        assert len(flow(c, "dev", "--status").stdout.split("containers 1: ")) == 2
        res = flow(c, "dev", "--reset")
        assert res.returncode == 0 and res.stdout == f"Removed 1 container; {task} stays up.\n", res.stdout
        assert _containers(c) == []
        proc.wait(timeout=30)
        assert proc.returncode != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert c.state(job) == "RUNNING"
    assert flow(c, "dev", "-c", "echo still").stdout == "still\n"


def test_cloud_command_line_and_code_fingerprint(tmp_path: Path) -> None:
    """What runs on the VM, checked without one: the mount under the VM's root, the labels --reset
    finds, `sh -c` with the command as one word; and a fingerprint that changes with the code only."""
    from types import SimpleNamespace

    from flowslurm.api import dev

    task = SimpleNamespace(task_id="task-7", job_id=7)
    line = dev.remote_run_argv(task, "echo 'a b'; exit 3", "img:1", runtime="/usr/bin/podman",  # type: ignore[arg-type]
                               root="/sandbox/root", name="flow-dev-7-x", interactive=False)
    assert "/usr/bin/podman run --rm --name flow-dev-7-x --label flowslurm.dev=task-7" in line
    assert "--label flowslurm.root=/sandbox/root" in line
    assert "-v /sandbox/root/workspace:/workspace -w /workspace" in line
    assert line.endswith("--entrypoint= img:1 sh -c 'echo '\"'\"'a b'\"'\"'; exit 3'") and " -i " not in line
    docker = dev.remote_run_argv(task, "true", "img", runtime="/usr/bin/docker", root="",  # type: ignore[arg-type]
                                 name="n", interactive=True)
    assert "--label flowslurm.root=/" in docker and "-v /workspace:/workspace" in docker and " -i" in docker
    assert '--user "$(id -u):$(id -g)"' in docker and "--gpus all" in docker
    (tmp_path / "a.txt").write_text("one\n")
    first = dev.code_fingerprint(str(tmp_path), [Path("a.txt")])
    assert dev.code_fingerprint(str(tmp_path), [Path("a.txt")]) == first
    (tmp_path / "a.txt").write_text("one more\n")
    assert dev.code_fingerprint(str(tmp_path), [Path("a.txt")]) != first


def _vm_containers(task: str, under: str) -> list[str]:
    """This machine's containers of the cloud dev environment `task` whose VM root is under `under`
    (the emulated VMs share this machine's podman; the root label keeps other homes' apart)."""
    res = subprocess.run(["podman", "ps", "-a", "--format", "json", "--filter", f"label=flowslurm.dev={task}"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout or "[]")
    return [n for c in found if str((c.get("Labels") or {}).get("flowslurm.root", "")).startswith(under)
            for n in (c.get("Names") or [])]


@pytest.fixture
def vm(cloud: object, image_env: dict[str, str]) -> Iterator[object]:
    """The module's emulator, with nothing of a dev environment left behind by the test: the dev
    VM stopped, its bid gone, its containers (which live in this machine's podman) removed."""
    yield cloud
    c = cloud
    listed = c.flow("dev", "--status", "--json")  # type: ignore[attr-defined]
    task = json.loads(listed.stdout).get("task_id") if listed.returncode == 0 else None
    c.flow("dev", "--stop")  # type: ignore[attr-defined]
    wait_for(lambda: not c.live_bids(), timeout=30)  # type: ignore[attr-defined]
    if task:
        left = _vm_containers(task, str(c.mithril.state_dir))  # type: ignore[attr-defined]
        if left:
            subprocess.run(["podman", "rm", "-f", "-t", "0", "--ignore", *left], capture_output=True, timeout=60)


def test_cloud_dev_vm_runs_commands_in_containers_over_ssh(vm: object, image_env: dict[str, str]) -> None:
    """Mithril through the emulator: `flow dev -i TYPE` keeps a bid up with no time limit; `-c`
    uploads the code to the VM's /workspace and runs the command in a fresh container of the image
    there, output and exit code passed through; --reset removes its containers; --stop ends it."""
    c = vm
    first = c.flow("dev", "-i", "a100")  # type: ignore[attr-defined]
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Started dev environment task-") and "Mithril a100" in first.stdout
    task = first.stdout.split()[3]
    again = c.flow("dev", "-i", "a100")  # type: ignore[attr-defined]
    assert again.stdout.startswith(f"Reusing dev environment {task} "), again.stdout
    other = c.flow("dev", "-i", "h100")  # type: ignore[attr-defined]
    assert other.returncode == 3 and "runs on a100" in other.stderr
    wait_for(lambda: c.live_bids(), timeout=30)  # type: ignore[attr-defined]
    if image_env.get("CONTAINERS_CONF"):  # podman here needs settings: give the VM them, where it reads them
        root = c.flow("ssh", task, "--", 'printf %s "$FLOW_ROOT"', timeout=90)  # type: ignore[attr-defined]
        assert root.returncode == 0 and root.stdout.startswith("/"), root.stderr
        conf = Path(root.stdout) / "etc" / "containers" / "containers.conf"
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(Path(image_env["CONTAINERS_CONF"]).read_text())

    work = c.workdir  # type: ignore[attr-defined]
    (work / "dev-code.txt").write_text("the dev code\n")
    (work / ".flowignore").write_text("dev-secret.txt\n")
    (work / "dev-secret.txt").write_text("stays home\n")
    shown = "cat /etc/os-release; ls /workspace; pwd; cat dev-code.txt"
    res = c.flow("dev", "--image", IMAGE, "-c", shown, timeout=180)  # type: ignore[attr-defined]
    assert res.returncode == 0, res.stderr
    assert 'NAME="flowslurm test image"' in res.stdout  # the image's file, not the VM's
    listing = res.stdout.split()
    assert "dev-code.txt" in listing and "dev-secret.txt" not in listing  # uploaded, .flowignore honoured
    assert "/workspace" in listing and res.stdout.endswith("the dev code\n")

    code = c.flow("dev", "--image", IMAGE, "-c", "echo out; echo err >&2; exit 3",  # type: ignore[attr-defined]
                  timeout=120)
    assert code.returncode == 3 and code.stdout == "out\n" and "err\n" in code.stderr, code.stderr
    piped = c.flow("dev", "--image", IMAGE, "--", "cat", "-", input="from stdin\n",  # type: ignore[attr-defined]
                   timeout=120)
    assert piped.returncode == 0 and piped.stdout == "from stdin\n", piped.stderr
    (work / "dev-code.txt").write_text("changed\n")  # a change is uploaded before the next command
    changed = c.flow("dev", "--image", IMAGE, "-c", "cat dev-code.txt", timeout=120)  # type: ignore[attr-defined]
    assert changed.stdout == "changed\n", changed.stderr
    under = str(c.mithril.state_dir)  # type: ignore[attr-defined]
    wait_for(lambda: not _vm_containers(task, under), timeout=10, interval=0.1)  # --rm: nothing left

    proc = subprocess.Popen([str(BIN / "flow"), "dev", "--image", IMAGE, "-c", "echo started; sleep 60"], cwd=work,
                            env=c.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # type: ignore[attr-defined]
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.stdout.readline() == b"started\n"  # streamed while the command still runs
        wait_for(lambda: _vm_containers(task, under), timeout=60, interval=0.2)
        reset = c.flow("dev", "--reset", timeout=120)  # type: ignore[attr-defined]
        assert reset.returncode == 0, reset.stderr
        assert reset.stdout == f"Removed 1 container; {task} stays up.\n", reset.stdout
        assert _vm_containers(task, under) == []
        proc.wait(timeout=60)
        assert proc.returncode != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert c.live_bids()  # type: ignore[attr-defined]
    assert c.flow("dev", "--reset").stdout == f"Removed 0 containers; {task} stays up.\n"  # type: ignore[attr-defined]

    stopped = c.flow("dev", "--stop")  # type: ignore[attr-defined]
    assert stopped.returncode == 0 and f"Stopped dev environment {task}" in stopped.stdout
    wait_for(lambda: not c.live_bids(), timeout=30)  # type: ignore[attr-defined]
