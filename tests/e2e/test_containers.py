"""Containers on the local backend: pyxis's --container-image/--container-mounts/--container-workdir
on sbatch, srun and salloc, run for real with podman and a tiny image built here from busybox
(no registry needed: shared/env/containers.md, docs/containers.md).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowslurm.providers.local.container import Container
from tests.conftest import BIN, Cluster, wait_for

IMAGE = "localhost/flowslurm-test-busybox:1"
MARKER = "/flowslurm-test-image-marker"  # a file only the image has
APPLETS = ("sh", "echo", "cat", "ls", "sleep", "env", "id", "touch", "pwd", "test", "[", "mkdir", "wc", "true", "false",
           "kill", "grep")
# What podman needs where crun and systemd cgroups do not work (shared/env/containers.md).
FALLBACK_CONF = '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n'


def _podman(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="session")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Build the test image once; returns environment variables commands need to run it (maybe none)."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install podman runc busybox-static; see docs/containers.md)")
    env = dict(os.environ)
    if _podman("image", "exists", IMAGE, env=env).returncode != 0:
        busybox = shutil.which("busybox")
        if busybox is None:
            pytest.skip("busybox is not installed (apt-get install busybox-static)")
        root = tmp_path_factory.mktemp("image") / "root"
        (root / "bin").mkdir(parents=True)
        (root / "etc").mkdir()
        shutil.copy(busybox, root / "bin" / "busybox")
        for applet in APPLETS:
            os.symlink("busybox", root / "bin" / applet)
        (root / "etc" / "os-release").write_text('NAME="flowslurm test image"\nID=flowslurm-test\n')
        (root / MARKER.lstrip("/")).write_text("only in the image\n")
        tar = root.parent / "image.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True, timeout=60)
        res = _podman("import", str(tar), IMAGE, env=env)
        if res.returncode != 0:
            pytest.skip(f"podman cannot import an image here: {res.stderr.strip()[-500:]}")
    probe = ("run", "--rm", "--log-driver=none", "--entrypoint=", IMAGE, "cat", MARKER)
    res = _podman(*probe, env=env)
    if res.returncode != 0:  # the default runtime settings do not work on this machine: try the known-good ones
        conf = tmp_path_factory.mktemp("containers") / "containers.conf"
        conf.write_text(FALLBACK_CONF)
        env["CONTAINERS_CONF"] = str(conf)
        res = _podman(*probe, env=env)
        if res.returncode != 0:
            pytest.skip(f"podman cannot run containers here: {res.stderr.strip()[-500:]}")
        return {"CONTAINERS_CONF": str(conf)}
    if "only in the image" not in res.stdout:
        pytest.skip(f"busybox in the test image does not run (not a static build?): {res.stdout} {res.stderr}")
    return {}


def _containers(cluster: Cluster) -> list[str]:
    """Containers (running or not) this test's flowslurm home created."""
    res = _podman("ps", "-a", "--format", "{{.Names}}", "--filter", f"label=flowslurm.home={cluster.home}",
                  env=dict(cluster.env))
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


@pytest.fixture
def ccluster(cluster: Cluster, image_env: dict[str, str]) -> Iterator[Cluster]:
    cluster.env.update(image_env)
    yield cluster
    names = _containers(cluster)
    if names:  # a failed test must not leave containers behind for the next one
        _podman("rm", "-f", "-t", "0", "--ignore", *names, env=dict(cluster.env))


def _sacct(cluster: Cluster, job: int) -> list[str]:
    res = cluster.run("sacct", "-j", str(job), "-P", "-n", "-o", "JobID,State,ExitCode")
    return res.stdout.splitlines()


def _no_containers_left(cluster: Cluster) -> None:
    wait_for(lambda: not _containers(cluster), timeout=10, interval=0.1)


# ---- batch jobs --------------------------------------------------------------------------------


def test_batch_script_runs_in_image_with_workdir_env_and_exit_code(ccluster: Cluster) -> None:
    cluster = ccluster
    script = cluster.workdir / "job.sh"
    script.write_text(
        "#!/bin/sh\n"
        "cat /etc/os-release\n"
        f"cat {MARKER}\n"
        'echo "pwd=$(pwd) job=$SLURM_JOB_ID name=$SLURM_JOB_NAME submit=$SLURM_SUBMIT_DIR"\n'
        'echo "path=$PATH"\n'
        'echo "args=$*"\n'
        "echo written > from-container.txt\n"
        "echo to-stderr >&2\n"
        "exit 3\n"
    )
    job = cluster.submit("--container-image", IMAGE, "-J", "boxed", str(script), "a1", "a 2")
    assert cluster.wait_done(job) == "FAILED"
    assert _sacct(cluster, job) == [f"{job}|FAILED|3:0", f"{job}.batch|FAILED|3:0"]
    out = (cluster.workdir / f"slurm-{job}.out").read_text()
    assert 'NAME="flowslurm test image"' in out
    assert "only in the image" in out
    assert f"pwd={cluster.workdir} job={job} name=boxed submit={cluster.workdir}\n" in out
    assert "args=a1 a 2\n" in out
    assert "to-stderr\n" in out
    path = next(line for line in out.splitlines() if line.startswith("path="))
    assert "/work/" not in path and ".venv" not in path  # the image's PATH, not the host's
    written = cluster.workdir / "from-container.txt"
    assert written.read_text() == "written\n"
    assert (written.stat().st_uid, written.stat().st_gid) == (os.getuid(), os.getgid())
    _no_containers_left(cluster)


def test_batch_job_gets_its_gpus_without_breaking_on_a_machine_without_any(ccluster: Cluster) -> None:
    cluster = ccluster
    cluster.env["FLOWSLURM_GPUS"] = "2"  # GPUs this node claims; no real device or CDI spec is needed
    job = cluster.submit("--container-image", IMAGE, "--gpus=1", "--wrap",
                         'echo "cuda=$CUDA_VISIBLE_DEVICES gpus=$SLURM_JOB_GPUS"')
    assert cluster.wait_done(job) == "COMPLETED"
    assert (cluster.workdir / f"slurm-{job}.out").read_text() == "cuda=0 gpus=0\n"


def test_scancel_kills_the_container_and_leaves_nothing(ccluster: Cluster) -> None:
    cluster = ccluster
    plain = cluster.submit("--container-image", IMAGE, "--wrap", "touch ready-1; sleep 60; echo not-reached")
    stubborn = cluster.submit("--container-image", IMAGE, "--wrap",  # ignores SIGTERM: killed after KillWait
                              "trap '' TERM; touch ready-2; sleep 60; echo not-reached")
    wait_for(lambda: (cluster.workdir / "ready-1").exists() and (cluster.workdir / "ready-2").exists(), timeout=20)
    assert len(_containers(cluster)) == 2
    assert cluster.run("scancel", str(plain), str(stubborn)).returncode == 0
    assert cluster.wait_done(plain, timeout=15) == "CANCELLED"
    assert cluster.wait_done(stubborn, timeout=15) == "CANCELLED"
    for job in (plain, stubborn):
        out = (cluster.workdir / f"slurm-{job}.out").read_text()
        assert "not-reached" not in out
        assert f"*** JOB {job} ON testnode CANCELLED AT " in out
        wait_for(lambda j=job: not cluster.processes("SLURM_JOB_ID", str(j)), timeout=10)
    _no_containers_left(cluster)


def test_missing_image_fails_the_job_with_the_runtime_message(ccluster: Cluster) -> None:
    cluster = ccluster
    job = cluster.submit("--container-image", "localhost/flowslurm-no-such-image:0", "--container-mounts",
                         f"{cluster.workdir}:/w", "--wrap", "true")
    assert cluster.wait_done(job, timeout=30) == "FAILED"
    state = _sacct(cluster, job)[0]
    assert state.startswith(f"{job}|FAILED|12")  # podman's own 125 (docker's too)
    assert "flowslurm-no-such-image" in (cluster.workdir / f"slurm-{job}.out").read_text()
    _no_containers_left(cluster)


# ---- steps -------------------------------------------------------------------------------------


def test_srun_container_image_inside_a_batch_job(ccluster: Cluster) -> None:
    cluster = ccluster
    script = cluster.workdir / "steps.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"test -e {MARKER} && echo batch-in-image || echo batch-on-host\n"
        f"srun -n 2 -l --container-image={IMAGE} sh -c 'cat {MARKER}; echo rank $SLURM_PROCID step $SLURM_STEP_ID'\n"
        f"srun -n 1 sh -c 'test -e {MARKER} && echo step-in-image || echo step-on-host'\n"
    )
    job = cluster.submit("-n", "2", str(script))
    assert cluster.wait_done(job, timeout=30) == "COMPLETED"
    lines = (cluster.workdir / f"slurm-{job}.out").read_text().splitlines()
    assert lines[0] == "batch-on-host"
    assert sorted(lines[1:5]) == ["0: only in the image", "0: rank 0 step 0", "1: only in the image",
                                  "1: rank 1 step 0"]
    assert lines[5:] == ["step-on-host"]
    assert _sacct(cluster, job) == [f"{job}|COMPLETED|0:0", f"{job}.batch|COMPLETED|0:0", f"{job}.0|COMPLETED|0:0",
                                    f"{job}.1|COMPLETED|0:0"]
    _no_containers_left(cluster)


def test_srun_mounts_workdir_and_exit_code(ccluster: Cluster, tmp_path: Path) -> None:
    cluster = ccluster
    data, rw = tmp_path / "data", tmp_path / "rw"
    data.mkdir()
    rw.mkdir()
    (data / "in.txt").write_text("payload\n")
    res = cluster.run(
        "srun", f"--container-image={IMAGE}", f"--container-mounts={data}:/data:ro,{rw}:/rw",
        "--container-workdir=/data", "sh", "-c",
        "pwd; cat in.txt; (echo x > /data/new) 2>/dev/null || echo read-only; echo w > /rw/out; exit 3",
    )
    assert res.returncode == 3, res.stderr
    assert res.stdout == "/data\npayload\nread-only\n"
    assert res.stderr.endswith("srun: error: testnode: task 0: Exited with exit code 3\n")
    assert (rw / "out").read_text() == "w\n"
    assert not (data / "new").exists()
    job = int(cluster.run("sacct", "-n", "-X", "-P", "-o", "JobID").stdout.split()[-1])
    assert _sacct(cluster, job) == [f"{job}|FAILED|3:0", f"{job}.0|FAILED|3:0"]
    _no_containers_left(cluster)


def test_scancel_of_an_srun_container_step(ccluster: Cluster) -> None:
    cluster = ccluster
    proc = subprocess.Popen([str(BIN / "srun"), f"--container-image={IMAGE}", "sh", "-c",
                             "trap '' TERM; touch ready; sleep 60"], env=cluster.env, cwd=cluster.workdir, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for((cluster.workdir / "ready").exists, timeout=20)
        job = int(cluster.run("squeue", "-h", "-o", "%i").stdout.split()[0])
        assert cluster.run("scancel", str(job)).returncode == 0
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 128 + 9
    assert "srun: Job step aborted: Waiting up to 4 seconds for job step to finish.\n" in err
    assert _sacct(cluster, job) == [f"{job}|CANCELLED by {os.getuid()}|0:0", f"{job}.0|CANCELLED|0:9"]
    _no_containers_left(cluster)


def test_salloc_container_image_applies_to_its_steps(ccluster: Cluster) -> None:
    cluster = ccluster
    res = cluster.run("salloc", f"--container-image={IMAGE}", "sh", "-c",
                      f"test -e {MARKER} && echo cmd-in-image || echo cmd-on-host; srun cat {MARKER}")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "cmd-on-host\nonly in the image\n"
    _no_containers_left(cluster)


# ---- no runtime --------------------------------------------------------------------------------


def test_no_runtime_is_an_error_at_submit_time(cluster: Cluster) -> None:
    cluster.env["FLOWSLURM_CONTAINER_RUNTIME"] = "none"  # as on a machine with neither podman nor docker
    res = cluster.run("sbatch", "--container-image=localhost/x", "--wrap", "true")
    assert res.returncode == 1
    assert res.stderr.startswith("sbatch: error: --container-image needs podman or docker on this machine")
    assert cluster.run("squeue", "-h").stdout == ""  # nothing was submitted
    res = cluster.run("srun", "--container-image=localhost/x", "true")
    assert res.returncode == 1
    assert "srun: error: --container-image needs podman or docker on this machine" in res.stderr
    res = cluster.run("sbatch", "--wrap", "true")  # jobs without an image are not affected
    assert res.returncode == 0, res.stderr


# ---- the runtime's command line ----------------------------------------------------------------


def test_command_line_gpus_env_and_markers() -> None:
    env = {"SLURM_JOB_ID": "7", "SECRET": "s3cr3t", "PATH": "/host/bin", "CUDA_VISIBLE_DEVICES": "1,3",
           "FLOWSLURM_JOB_TOKEN": "7-1-2", "FLOWSLURM_HOME": "/h", "BASH_FUNC_f%%": "() { :; }"}
    box = Container("/usr/bin/podman", "img", home="/h", job_id=7, prefix="p", dirs=["/work", "/work/sub", "/"],
                    mounts=[("/tmp", "/scratch", "ro")], workdir="/work", gpu_ids=["1", "3"], umask=0o027, cdi=True)
    argv, client_env = box.command("p", ["run.sh", "x"], env)
    assert argv[:3] == ["/usr/bin/podman", "run", "--rm"]
    assert argv[-5:] == ["/work", "--entrypoint=", "img", "run.sh", "x"]
    pairs = {(a, b) for a, b in zip(argv, argv[1:])}
    assert {("-v", "/work:/work"), ("-v", "/tmp:/scratch:ro"), ("--umask", "0027"), ("-e", "SLURM_JOB_ID"),
            ("-e", "SECRET"), ("-e", "FLOWSLURM_JOB_TOKEN=7-1-2"), ("--device", "nvidia.com/gpu=1"),
            ("--device", "nvidia.com/gpu=3"), ("-e", "CUDA_VISIBLE_DEVICES=0,1"), ("--network=host", "--pid=host")} <= pairs
    assert ("-v", "/:/") not in pairs and ("-v", "/work/sub:/work/sub") not in pairs
    assert "s3cr3t" not in " ".join(argv)  # values travel in the client's environment, not on its command line
    assert ("-e", "PATH") not in pairs and not any("BASH_FUNC" in a for a in argv)
    assert client_env["SECRET"] == "s3cr3t" and "FLOWSLURM_JOB_TOKEN" not in client_env
    # no CDI spec (or docker): no devices, the job's own GPU numbers; docker has no --umask
    box = Container("/usr/bin/docker", "img", home="/h", job_id=7, prefix="p", dirs=["/work"], mounts=[],
                    workdir="/work", gpu_ids=["1", "3"], umask=0o022, cdi=False)
    argv, _ = box.command("p", ["true"], env)
    assert "--device" not in argv and "--umask" not in argv
    assert "CUDA_VISIBLE_DEVICES=1,3" in argv
