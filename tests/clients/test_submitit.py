"""submitit, unchanged, against flowslurm's commands on the local backend (shared/research/clients.md §1).

submitit finds SLURM by `srun` on PATH, submits with `sbatch`, polls `sacct`, cancels with
`scancel`, and runs the payload through `srun` inside the batch job; results come back through
files in the shared folder.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import submitit  # a test extra: pip install -e '.[test]'

from tests.conftest import Cluster, wait_for


def _add(a: int, b: int) -> int:
    return a + b


def _fail(message: str) -> None:
    raise ValueError(message)


def _task_info() -> tuple[int, int, str]:
    env = submitit.JobEnvironment()
    return env.global_rank, env.num_tasks, env.job_id


@pytest.fixture
def executor(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> submitit.AutoExecutor:
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(cluster.workdir)
    ex = submitit.AutoExecutor(folder=cluster.workdir / "logs" / "%j")
    assert ex.cluster == "slurm"  # chosen because our srun is on PATH
    ex.update_parameters(timeout_min=5, cpus_per_task=1)
    return ex


def test_function_result(executor: submitit.AutoExecutor) -> None:
    job = executor.submit(_add, 2, 3)
    assert job.result() == 5
    assert job.state == "COMPLETED" or wait_for(lambda: job.watcher.get_state(job.job_id, mode="force") == "COMPLETED")


def test_map_array(executor: submitit.AutoExecutor) -> None:
    executor.update_parameters(slurm_array_parallelism=2)
    jobs = executor.map_array(_add, [1, 2, 3], [10, 20, 30])
    assert [j.result() for j in jobs] == [11, 22, 33]
    assert len({j.job_id.split("_")[0] for j in jobs}) == 1  # one array


def test_exception_propagates(executor: submitit.AutoExecutor) -> None:
    job = executor.submit(_fail, "boom from the job")
    with pytest.raises(submitit.core.utils.FailedJobError, match="boom from the job"):
        job.result()


def test_several_tasks(executor: submitit.AutoExecutor) -> None:
    executor.update_parameters(tasks_per_node=2)
    job = executor.submit(_task_info)
    results = job.results()
    assert sorted(r[0] for r in results) == [0, 1]
    assert {r[1] for r in results} == {2}


def test_cancel(executor: submitit.AutoExecutor, cluster: Cluster) -> None:
    job = executor.submit(time.sleep, 300)
    wait_for(lambda: cluster.state(int(job.job_id)) == "RUNNING", timeout=30)
    job.cancel()
    assert cluster.wait_done(int(job.job_id)) == "CANCELLED"
    state = wait_for(lambda: job.watcher.get_state(job.job_id, mode="force").startswith("CANCELLED"), timeout=30)
    assert state
    assert not Path(job.paths.result_pickle).exists()


class _Resumable(submitit.helpers.Checkpointable):
    """Waits to be preempted on its first run; a requeued run returns its restart count."""

    def __call__(self, marker: str) -> int:
        import os

        restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
        if restarts == 0:
            Path(marker).write_text("running\n")
            time.sleep(300)
        return restarts


def test_checkpointable_job_is_preempted_and_requeued(executor: submitit.AutoExecutor, cluster: Cluster,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLURM_REQUEUE_DELAY", "1")
    marker = cluster.workdir / "running"
    job = executor.submit(_Resumable(), str(marker))
    wait_for(marker.exists, timeout=60)
    job._interrupt()  # scancel --signal SIGTERM, then USR2: submitit checkpoints and calls `scontrol requeue`
    assert job.result() == 1
    show = cluster.run("scontrol", "show", "job", job.job_id).stdout
    assert "Restarts=1 " in show and "JobState=COMPLETED" in show
