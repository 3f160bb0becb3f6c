"""Parsl, unchanged, against flowslurm's commands on the local backend (shared/research/clients.md §4).

Parsl's SlurmProvider probes `sacct -X`, submits its block with `sbatch <script>` (parsing
`Submitted batch job <id>`), polls `sacct -X --noheader --format=jobid,state%20 --job '<ids>'`,
and cancels with `scancel <ids>`. With the SrunLauncher, the batch script starts the worker pool
as `srun --ntasks 1 -l bash cmd_$SLURM_JOB_NAME.sh`; the pool connects back to the interchange
over loopback TCP and runs the app.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

parsl = pytest.importorskip("parsl")  # a test extra: pip install -e '.[test]'

from parsl.config import Config  # noqa: E402
from parsl.executors import HighThroughputExecutor  # noqa: E402
from parsl.jobs.states import JobState  # noqa: E402
from parsl.launchers import SrunLauncher  # noqa: E402
from parsl.providers import SlurmProvider  # noqa: E402

from flowslurm.engine.model import FINISHED_STATES  # noqa: E402
from tests.conftest import BIN, Cluster, wait_for  # noqa: E402


@parsl.python_app
def where_am_i(x: int) -> tuple[int, str, str]:
    import os

    return x * x, os.environ.get("SLURM_JOB_ID", ""), os.environ.get("SLURM_PROCID", "")


def _job_ids(cluster: Cluster) -> list[int]:
    import sqlite3

    conn = sqlite3.connect(cluster.home / "ledger.db", timeout=30)
    try:
        return [int(r[0]) for r in conn.execute("SELECT job_id FROM jobs ORDER BY job_id")]
    finally:
        conn.close()


def _job_processes(cluster: Cluster, job_id: int) -> list[int]:
    """Live processes of this test's flowslurm job `job_id` (the worker pool, srun, the batch shell)."""
    return cluster.processes("SLURM_JOB_ID", str(job_id))


@pytest.fixture
def parsl_cluster(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    # as with an activated virtualenv: parsl starts `interchange.py` and `process_worker_pool.py` from PATH
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{cluster.env['PATH']}")
    monkeypatch.chdir(cluster.workdir)
    yield cluster
    try:  # a failed test must not leave the DataFlowKernel (and its interchange) behind
        parsl.dfk().cleanup()
    except Exception:  # noqa: BLE001 - nothing loaded or already cleaned up
        pass
    parsl.clear()


def test_htex_slurm_provider_srun_launcher(parsl_cluster: Cluster) -> None:
    cluster = parsl_cluster
    run_dir = cluster.workdir / "runinfo"
    config = Config(
        executors=[
            HighThroughputExecutor(
                label="htex_slurm",
                address="127.0.0.1",
                loopback_address="127.0.0.1",
                max_workers_per_node=1,
                cores_per_worker=1,
                worker_logdir_root=str(cluster.workdir / "worker_logs"),
                provider=SlurmProvider(
                    partition="local",
                    nodes_per_block=1,
                    init_blocks=1,
                    min_blocks=0,
                    max_blocks=1,
                    walltime="00:05:00",
                    launcher=SrunLauncher(),
                    cmd_timeout=30,  # sbatch/sacct/scancel time limit: 10 s by default, generous on a busy 2-core box
                ),
            )
        ],
        run_dir=str(run_dir),
        strategy_period=1,  # the first scaling tick (which submits the init block) comes sooner
        usage_tracking=0,
        initialize_logging=True,
    )
    parsl.load(config)
    try:
        value, job_id, procid = where_am_i(7).result(timeout=120)
        assert value == 49
        assert procid == "0"  # launched by srun as task 0 of the block's job
        [block_job] = _job_ids(cluster)
        assert job_id == str(block_job)
        assert cluster.state(block_job) == "RUNNING"
        assert _job_processes(cluster, block_job)
        # the provider chose sacct (its `sacct -X` probe exited 0) and reads the block as running;
        # its own poll comes only every 60 s, so ask it directly
        provider = parsl.dfk().executors["htex_slurm"].provider
        assert provider._cmd.startswith("sacct -X --noheader --format=jobid,state%20 --job ")
        [status] = provider.status([job_id])
        assert status.state == JobState.RUNNING
        show = cluster.run("scontrol", "show", "job", job_id).stdout
        assert "JobName=parsl.htex_slurm.block-0." in show and "Partition=local" in show
    finally:
        parsl.dfk().cleanup()  # scales the block in: `scancel <id>`
        parsl.clear()
    assert cluster.wait_done(block_job, timeout=60) == "CANCELLED"
    for job in _job_ids(cluster):
        assert cluster.state(job) in FINISHED_STATES
    assert cluster.run("squeue", "--noheader").stdout == ""  # nothing left running or completing
    wait_for(lambda: not _job_processes(cluster, block_job), timeout=10)  # the worker pool is gone too
    stdout = next((run_dir / "000" / "submit_scripts").glob("parsl.htex_slurm.block-0.*.stdout")).read_text()
    assert "Found cores : " in stdout  # the SrunLauncher's wrapper ran inside the allocation
    assert os.path.expanduser("~") == str(cluster.workdir.parent)  # HOME is the test's tmp dir
