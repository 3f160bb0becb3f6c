"""dask-jobqueue, unchanged, against flowslurm's commands on the local backend (shared/research/clients.md §2).

SLURMCluster writes a `#!/usr/bin/env bash` script with short-option directives (`-J`, `-n`,
`-t`, `-e`/`-o` with `%J`), submits it with `sbatch <tmpfile>` (deleting the file as soon as
sbatch returns), takes the job id from the first digits on sbatch's stdout, and cancels with
`scancel <id>` on scale-down and close. Liveness comes only from the worker in the job
connecting back to the scheduler over TCP (loopback here).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import Cluster


def _square(x: int) -> int:
    return x * x


@pytest.fixture
def dask_jobqueue(cluster: Cluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """The client, imported only once HOME and DASK_CONFIG point into the test's tmp dir.

    Importing dask_jobqueue copies its default config to dask's config dir (~/.config/dask unless
    DASK_CONFIG says otherwise); the worker jobs inherit the same environment through sbatch.
    """
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DASK_CONFIG", str(tmp_path / "dask-config"))
    monkeypatch.chdir(cluster.workdir)
    fresh = "dask" not in sys.modules
    module = importlib.import_module("dask_jobqueue")  # a test extra: pip install -e '.[test]'
    if fresh:
        import dask.config

        assert Path(dask.config.PATH) == tmp_path / "dask-config"
    yield module


def test_scale_compute_close(dask_jobqueue: ModuleType, cluster: Cluster, tmp_path: Path) -> None:
    from dask import delayed
    from distributed import Client

    logs = cluster.workdir / "dask-logs"
    with dask_jobqueue.SLURMCluster(
        cores=1, memory="1GB", processes=1, walltime="00:10:00",
        interface="lo",  # scheduler and worker both on loopback: no real network needed
        scheduler_options={"dashboard_address": "127.0.0.1:0"},
        worker_extra_args=["--dashboard-address", "127.0.0.1:0"],
        local_directory=str(tmp_path / "dask-worker-space"),
        log_directory=str(logs),
        death_timeout=30,  # a worker whose scheduler vanished gives up instead of lingering
    ) as slurm_cluster:
        script = slurm_cluster.job_script()
        assert "#SBATCH -t 00:10:00" in script and "#SBATCH -J dask-worker" in script

        slurm_cluster.scale(1)
        with Client(slurm_cluster, timeout=30) as client:
            client.wait_for_workers(1, timeout=60)
            [job_id] = [int(job.job_id) for job in slurm_cluster.workers.values()]
            assert cluster.state(job_id) == "RUNNING"

            # the directives dask wrote as `-J x`, `-n 1`, `--mem=954M`, `-t 00:10:00` reached the job
            show = cluster.run("scontrol", "show", "job", str(job_id)).stdout.split()
            for field in ("JobName=dask-worker", "NumTasks=1", "NumCPUs=1", "TimeLimit=00:10:00",
                          "MinMemoryNode=954M", f"StdOut={logs}/dask-worker-%J.out"):  # scontrol expands only %A %a %j %u %x
                assert field in show, (field, show)

            assert client.submit(sum, range(101)).result(timeout=30) == 5050
            assert client.gather(client.map(_square, range(10))) == [x * x for x in range(10)]
            total = delayed(sum)([delayed(_square)(x) for x in range(5)])
            assert client.compute(total).result(timeout=30) == 30
            [worker] = client.scheduler_info()["workers"].values()
            assert worker["host"] == "127.0.0.1"
            assert worker["local_directory"].startswith(str(tmp_path / "dask-worker-space"))
    # close() ran `scancel <id>`: the worker job ended as SLURM shows it after scancel
    assert cluster.wait_done(job_id) == "CANCELLED"
    squeue = cluster.run("squeue", "--me", "-h")
    assert squeue.returncode == 0 and squeue.stdout == "", squeue
    acct = cluster.run("sacct", "-X", "-P", "-n", "-j", str(job_id), "-o", "JobID,JobName,State")
    assert acct.stdout.startswith(f"{job_id}|dask-worker|CANCELLED"), acct
    assert "Registered to:" in (logs / f"dask-worker-{job_id}.err").read_text()
