"""SLURM jobs on the Mithril backend, end to end: flowslurm's own sbatch/squeue/sacct/scancel against
the emulator program over real HTTP, with its instances reached over real SSH.

Each job here really goes the whole way: a spot bid with a generated startup script, an instance
sandbox that runs it, the upload of the job's directory and of flowslurm over SSH, the job run by
the instance's agent, its output streamed home, its exit code read back, and its bid cancelled.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowslurm.emulator.testing import Emulator
from tests.conftest import Cluster, wait_for

JOB_TIMEOUT = 120


class Cloud:
    def __init__(self, cluster: Cluster, mithril: Emulator) -> None:
        self.cluster = cluster
        self.mithril = mithril

    def bids(self) -> list[dict[str, object]]:
        return list(self.mithril.state()["bids"])  # type: ignore[arg-type]

    def live_bids(self) -> list[dict[str, object]]:
        return [b for b in self.bids() if b["status"] != "Terminated"]

    def posts(self) -> int:
        return sum(1 for r in self.mithril.requests() if r["method"] == "POST" and r["path"] == "/v2/spot/bids")

    def sacct(self, job_id: int) -> str:
        res = self.cluster.run("sacct", "-X", "-n", "-P", "-j", str(job_id), "-o", "State,ExitCode")
        assert res.returncode == 0, res.stderr
        return res.stdout.strip()


@pytest.fixture
def cloud(cluster: Cluster, tmp_path: Path) -> Iterator[Cloud]:
    user = getpass.getuser()
    with Emulator(tmp_path / "mithril", allocate_after=0.2, boot_after=0.2, ssh_user=user) as mithril:
        cluster.env.update(
            FLOWSLURM_BACKEND="mithril", MITHRIL_API_URL=mithril.url, MITHRIL_API_KEY=mithril.api_key,
            MITHRIL_PROJECT="default", MITHRIL_SSH_USER=user, FLOWSLURM_REMOTE_POLL="0.3",
        )
        yield Cloud(cluster, mithril)
        wait_for(lambda: not Cloud(cluster, mithril).live_bids(), timeout=30)  # nothing left billing


def test_a_batch_job_runs_on_an_instance_and_its_output_comes_home(cloud: Cloud) -> None:
    c = cloud.cluster
    (c.workdir / "data.txt").write_text("uploaded\n")
    (c.workdir / ".flowignore").write_text("secret.bin\n")
    (c.workdir / "secret.bin").write_text("not uploaded\n")
    script = c.workdir / "train.slurm"
    script.write_text(
        "#!/bin/bash\n#SBATCH --job-name=train\n#SBATCH --gres=gpu:1\n#SBATCH --ntasks=2\n"
        'echo "job $SLURM_JOB_ID restart ${SLURM_RESTART_COUNT:-0} name $SLURM_JOB_NAME"\n'
        "cat data.txt\n"
        'test -e secret.bin && echo "ignored file uploaded" || echo "ignored file stayed home"\n'
        "srun -n 2 bash -c 'echo step task $SLURM_PROCID'\n"
        "echo to-stderr >&2\n"
    )
    job_id = c.submit(str(script))
    listed = c.run("squeue", "-h", "-o", "%i %j %P %T")
    assert listed.stdout.split()[:3] == [str(job_id), "train", "mithril"], listed.stdout
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
    out = (c.workdir / f"slurm-{job_id}.out").read_text()
    assert f"job {job_id} restart 0 name train" in out
    assert "uploaded" in out and "ignored file stayed home" in out
    assert sorted(line for line in out.splitlines() if line.startswith("step task")) == [
        "step task 0", "step task 1"]
    assert "to-stderr" in out
    assert cloud.sacct(job_id) == "COMPLETED|0:0"
    assert cloud.posts() == 1
    billed = c.run("sacct", "-X", "-n", "-P", "-j", str(job_id), "-o", "InstanceType,PricePerHour,Cost,CloudId")
    kind, price, cost, bid = billed.stdout.strip().split("|")
    assert kind and float(price) > 0 and float(cost) >= 0 and bid.startswith("bid_"), billed.stdout
    wait_for(lambda: not cloud.live_bids(), timeout=30)
    assert cloud.mithril.api_key not in json.dumps(cloud.bids())  # the startup script holds no key


def test_exit_code_comes_back_and_the_bid_is_cancelled(cloud: Cloud) -> None:
    c = cloud.cluster
    job_id = c.submit("-o", "out-%j.txt", "--wrap", "echo failing; exit 3")
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "FAILED"
    assert cloud.sacct(job_id) == "FAILED|3:0"
    assert (c.workdir / f"out-{job_id}.txt").read_text() == "failing\n"
    wait_for(lambda: not cloud.live_bids(), timeout=30)


def test_scancel_of_a_running_cloud_job(cloud: Cloud) -> None:
    c = cloud.cluster
    job_id = c.submit("--wrap", "echo started; sleep 300")
    wait_for(lambda: "started" in (c.workdir / f"slurm-{job_id}.out").read_text()
             if (c.workdir / f"slurm-{job_id}.out").exists() else False, timeout=JOB_TIMEOUT)
    assert c.run("scancel", str(job_id)).returncode == 0
    assert c.wait_done(job_id, timeout=60) == "CANCELLED"
    wait_for(lambda: not cloud.live_bids(), timeout=30)


def test_test_only_shows_the_placement_and_creates_nothing(cloud: Cloud) -> None:
    c = cloud.cluster
    res = c.run("sbatch", "--test-only", "--gres=gpu:h100:8", "--wrap", "true")
    assert res.returncode == 0, res.stderr
    assert "h100" in res.stderr.lower() and "$" in res.stderr
    assert cloud.posts() == 0
    refused = c.run("sbatch", "--gres=gpu:64", "--wrap", "true")
    assert refused.returncode == 1
    assert "Requested node configuration is not available" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_preemption_requeues_the_job_under_the_same_id(cloud: Cloud) -> None:
    c = cloud.cluster
    marker = c.workdir / "first-run-seen"
    job_id = c.submit("--wrap", f"echo run ${{SLURM_RESTART_COUNT:-0}}; test -e {marker.name} || sleep 300")
    out = c.workdir / f"slurm-{job_id}.out"
    wait_for(lambda: out.exists() and "run 0" in out.read_text(), timeout=JOB_TIMEOUT)
    marker.write_text("")  # uploaded with the second run's workspace: that run ends at once
    first = cloud.live_bids()[0]
    cloud.mithril.preempt(bid=str(first["fid"]), grace_s=0.2)
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
    assert "run 1" in out.read_text()
    res = c.run("sacct", "-X", "-n", "-P", "-D", "-j", str(job_id), "-o", "State")
    assert res.stdout.split() == ["REQUEUED", "COMPLETED"], res.stdout
    assert cloud.posts() == 2


def test_array_throttle_and_dependency_hold_bids_back(cloud: Cloud) -> None:
    c = cloud.cluster
    array_id = c.submit("--array=1-3%1", "--wrap", "echo task $SLURM_ARRAY_TASK_ID; sleep 1")
    after = c.submit(f"--dependency=afterok:{array_id}", "--wrap", "echo after")
    peak = 0

    def done() -> bool:
        nonlocal peak
        peak = max(peak, len(cloud.live_bids()))
        return c.state(after) in ("COMPLETED", "FAILED", "CANCELLED")

    wait_for(done, timeout=3 * JOB_TIMEOUT, interval=0.1)
    assert c.state(after) == "COMPLETED"
    assert peak == 1  # the throttle, then the dependency: one bid at a time
    assert cloud.posts() == 4
    for task in (1, 2, 3):
        assert f"task {task}" in (c.workdir / f"slurm-{array_id}_{task}.out").read_text()


def test_faults_never_make_a_second_bid(cloud: Cloud) -> None:
    c = cloud.cluster
    cloud.mithril.fault("status", times=2, method="POST", path="/v2/spot/bids", status=503)
    cloud.mithril.fault("drop", times=1, method="POST", path="/v2/spot/bids", after_handling=True)
    cloud.mithril.fault("status", times=2, method="GET", path="/v2/instances", status=429, retry_after="0")
    job_id = c.submit("--wrap", "echo survived")
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
    assert len(cloud.bids()) == 1
    assert "survived" in (c.workdir / f"slurm-{job_id}.out").read_text()


def test_polling_is_batched_across_jobs(cloud: Cloud) -> None:
    c = cloud.cluster
    started = [c.workdir / f"started-{i}" for i in range(3)]
    jobs = [c.submit("--wrap", f"echo up > {s.name}.remote; sleep 4") for s in started]
    for job_id in jobs:
        c.wait_state(job_id, "RUNNING", timeout=JOB_TIMEOUT)
    fids = {str(b["fid"]) for b in cloud.live_bids()}
    assert len(fids) == 3
    for job_id in jobs:
        assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
    lists = [r for r in cloud.mithril.requests() if r["method"] == "GET" and r["path"] == "/v2/instances"]
    asked = [set(",".join(r["query"].get("bid_fid_in", [])).split(",")) for r in lists]
    # Once all three bids were live, each poll asked for all of them in one listing request.
    assert any(fids <= bids for bids in asked)
    assert all(len(bids) <= 100 for bids in asked)


def test_backend_chosen_by_partition_or_flow_line_and_the_key_stays_secret(cloud: Cloud) -> None:
    c = cloud.cluster
    del c.env["FLOWSLURM_BACKEND"]
    local = c.submit("--wrap", "echo here")
    assert c.wait_done(local) == "COMPLETED"
    by_partition = c.submit("-p", "mithril", "--wrap", "echo by partition")
    script = c.workdir / "flow.sh"
    script.write_text("#!/bin/sh\n#SBATCH -J flowline\n#FLOW backend=mithril\necho by flow line\n")
    by_line = c.submit(str(script))
    listed = c.run("squeue", "-h", "-o", "%i %P")
    assert f"{by_partition} mithril" in listed.stdout and f"{by_line} mithril" in listed.stdout
    for job_id, text in ((by_partition, "by partition"), (by_line, "by flow line")):
        assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
        assert (c.workdir / f"slurm-{job_id}.out").read_text() == text + "\n"
    assert cloud.posts() == 2
    key = cloud.mithril.api_key
    shown = c.run("scontrol", "show", "job", str(by_line)).stdout + c.run("sacct", "-l", "-P").stdout
    assert key not in shown
    for path in c.home.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def test_time_limit_is_enforced_on_the_instance(cloud: Cloud) -> None:
    c = cloud.cluster
    job_id = c.submit("--time=1", "--wrap", "echo started; sleep 600")
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT + 60) == "TIMEOUT"
    assert "started" in (c.workdir / f"slurm-{job_id}.out").read_text()
    wait_for(lambda: not cloud.live_bids(), timeout=30)


def test_srun_and_salloc_do_not_make_cloud_allocations(cloud: Cloud) -> None:
    c = cloud.cluster
    for cmd in (["srun", "hostname"], ["salloc", "hostname"]):
        res = c.run(*cmd)
        assert res.returncode == 1 and "interactive allocations are not available on the mithril backend" in res.stderr
        assert "Traceback" not in res.stderr
    assert cloud.posts() == 0


def test_a_daemon_started_without_the_key_is_replaced_for_a_cloud_job(cloud: Cloud) -> None:
    c = cloud.cluster
    full = dict(c.env)
    plain = {k: v for k, v in full.items() if not k.startswith("MITHRIL_")}
    c.env.clear()
    c.env.update(plain, FLOWSLURM_BACKEND="local")
    try:  # a daemon kept up by a job that begins later, started with no Mithril settings at all
        waiting = c.run("sbatch", "--parsable", "--begin=now+600", "--wrap", "true")
        assert waiting.returncode == 0, waiting.stderr
    finally:
        c.env.clear()
        c.env.update(full)
    job_id = c.submit("--wrap", "echo with the key")
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
    assert (c.workdir / f"slurm-{job_id}.out").read_text() == "with the key\n"
