"""A Flow task's cloud settings act on Mithril, end to end through the emulator program (real HTTP,
sandbox instances with real sshds): `upload-code=no` keeps the working directory home, `image=`
runs the job in that container image on the instance, and a task's volumes are attached to its bid.

The `cloud` fixture is test_sbatch_cloud's (an emulator and a flowslurm home aimed at it, which
waits on teardown until no bid is left live); `image_env` is test_containers' (a busybox image
built locally and imported into podman, no registry needed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import wait_for
from tests.e2e import test_containers
from tests.e2e.test_containers import IMAGE, MARKER, _podman
from tests.mithril import test_sbatch_cloud
from tests.mithril.test_sbatch_cloud import JOB_TIMEOUT, Cloud

cloud = test_sbatch_cloud.cloud  # the fixtures, used by name here
image_env = test_containers.image_env


def test_upload_code_no_keeps_the_directory_home_but_the_job_runs(cloud: Cloud) -> None:
    c = cloud.cluster
    (c.workdir / "data.txt").write_text("would be uploaded\n")
    (c.workdir / "in.txt").write_text("from stdin\n")
    script = c.workdir / "noup.slurm"
    script.write_text(
        "#!/bin/bash\n#SBATCH --job-name=noup\n#SBATCH --input=in.txt\n#FLOW upload-code=no\n"
        'test -e data.txt && echo "data uploaded" || echo "data stayed home"\n'
        'test -e noup.slurm && echo "script dir uploaded" || echo "script dir stayed home"\n'
        "cat\n"
        "pwd\n"
    )
    job_id = c.submit(str(script))
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
    out = (c.workdir / f"slurm-{job_id}.out").read_text()
    assert "data stayed home" in out and "script dir stayed home" in out, out
    assert "from stdin" in out, out  # the job's own input still travels
    assert out.rstrip().endswith("/workspace"), out


def test_upload_code_default_still_uploads(cloud: Cloud) -> None:
    c = cloud.cluster
    (c.workdir / "data.txt").write_text("uploaded\n")
    job_id = c.submit("--wrap", "cat data.txt")
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"
    assert (c.workdir / f"slurm-{job_id}.out").read_text() == "uploaded\n"


@pytest.fixture
def boxed(cloud: Cloud, image_env: dict[str, str]) -> Iterator[Cloud]:
    """The cloud, with what podman needs here in the job's environment (the instance's local
    backend runs the container with it); on exit no container of the emulator's sandboxes is left."""
    cloud.cluster.env.update(image_env)
    yield cloud
    res = _podman("ps", "-a", "--format", "{{.Names}} {{.Labels}}", env=dict(cloud.cluster.env))
    sandboxes = str(cloud.mithril.state_dir)
    names = [line.split()[0] for line in res.stdout.splitlines() if sandboxes in line]
    if names:
        _podman("rm", "-f", "-t", "0", "--ignore", *names, env=dict(cloud.cluster.env))


def test_flow_image_runs_the_job_in_that_image_on_the_instance(boxed: Cloud) -> None:
    c = boxed.cluster
    script = c.workdir / "boxed.slurm"
    script.write_text(
        f"#!/bin/sh\n#SBATCH --job-name=boxed\n#FLOW image={IMAGE}\n"
        "cat /etc/os-release\n"
        f"cat {MARKER}\n"
        'echo "job=$SLURM_JOB_ID"\n'
        "exit 4\n"
    )
    job_id = c.submit(str(script))
    assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "FAILED"
    out = (c.workdir / f"slurm-{job_id}.out").read_text()
    assert 'NAME="flowslurm test image"' in out and "only in the image" in out, out
    assert f"job={job_id}" in out
    assert boxed.sacct(job_id) == "FAILED|4:0"


def test_a_task_volume_is_in_its_bid_launch_specification(cloud: Cloud) -> None:
    c = cloud.cluster
    (c.workdir / "task.yaml").write_text(
        "name: with-volume\ninstance_type: a100\ncommand: echo with volume\n"
        "volumes:\n  - name: vdata\n    size_gb: 1\n    mount_path: /data\n")
    res = c.run("flow", "run", "task.yaml", timeout=JOB_TIMEOUT)
    assert res.returncode == 0, res.stderr
    listed_volumes = cloud.mithril.api("GET", "/v2/volumes", params={"project": cloud.mithril.project_fid()})
    volumes = [v for v in listed_volumes if v["name"] == "vdata"]
    assert len(volumes) == 1, volumes
    fid = volumes[0]["fid"]
    wait_for(cloud.bids, timeout=JOB_TIMEOUT)  # the engine places the bid once the task is submitted
    bids = cloud.bids()
    assert len(bids) == 1
    assert bids[0]["launch_specification"]["volumes"] == [fid]
    assert bids[0]["region"] == volumes[0]["region"]
    listed = c.run("squeue", "-h", "-o", "%i")
    for job_id in [int(j) for j in listed.stdout.split()]:  # the task runs to its end with the volume
        assert c.wait_done(job_id, timeout=JOB_TIMEOUT) == "COMPLETED"


def test_flow_run_image_and_no_upload_code_together(boxed: Cloud) -> None:
    c = boxed.cluster
    (c.workdir / "data.txt").write_text("would be uploaded\n")
    # A .slurm file keeps its own #!/bin/sh (a command's task script is bash, which busybox lacks).
    (c.workdir / "boxed.slurm").write_text(
        f"#!/bin/sh\ncat {MARKER}\ntest -e data.txt && echo uploaded || echo stayed home\n")
    res = c.run("flow", "run", "boxed.slurm", "-i", "a100", "--image", IMAGE, "--no-upload-code",
                timeout=JOB_TIMEOUT)
    assert res.returncode == 0, res.stderr
    job_id = int(c.run("squeue", "-h", "-o", "%i").stdout.split()[0])
    state = c.wait_done(job_id, timeout=JOB_TIMEOUT)
    logs = c.run("flow", "logs", str(job_id))
    out = logs.stdout + logs.stderr
    assert state == "COMPLETED", out
    assert "only in the image" in out and "stayed home" in out, out
