"""`flow dev` on the local backend, as a user runs it (bin/flow), with real podman containers in the
busybox image tests/e2e/test_containers.py builds: the dev environment is a long-lived job in the
ledger (squeue shows it), each `-c` command runs in a fresh container with the code at /workspace
and is removed after, --reset and --stop clean up. Every test removes what it started."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

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


def test_cloud_dev_vm_is_a_bid_that_stays_up(cloud: object) -> None:
    """Mithril through the emulator: `flow dev -i TYPE` keeps a bid up with no time limit; --stop
    ends it. (Running -c commands on it is not available yet: it says so, and what to use instead.)"""
    c = cloud
    first = c.flow("dev", "-i", "a100")  # type: ignore[attr-defined]
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Started dev environment task-") and "Mithril a100" in first.stdout
    task = first.stdout.split()[3]
    again = c.flow("dev", "-i", "a100")  # type: ignore[attr-defined]
    assert again.stdout.startswith(f"Reusing dev environment {task} "), again.stdout
    other = c.flow("dev", "-i", "h100")  # type: ignore[attr-defined]
    assert other.returncode == 3 and "runs on a100" in other.stderr
    wait_for(lambda: c.live_bids(), timeout=30)  # type: ignore[attr-defined]
    todo = c.flow("dev", "-c", "true", "--image", IMAGE)  # type: ignore[attr-defined]
    assert todo.returncode != 0 and "not available for a cloud dev VM yet" in todo.stderr and "flow ssh" in todo.stderr
    stopped = c.flow("dev", "--stop")  # type: ignore[attr-defined]
    assert stopped.returncode == 0 and f"Stopped dev environment {task}" in stopped.stdout
    wait_for(lambda: not c.live_bids(), timeout=30)  # type: ignore[attr-defined]
