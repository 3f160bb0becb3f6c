"""Array dependencies task by task: aftercorr (sbatch(1): a task waits for the task with the same index)."""

from __future__ import annotations

import sqlite3

from tests.conftest import Cluster, wait_for


def _tasks(cluster: Cluster, array_id: int) -> dict[int, tuple[str, str]]:
    conn = sqlite3.connect(cluster.home / "ledger.db", timeout=30)
    try:
        rows = conn.execute("SELECT array_task_id, state, reason FROM jobs WHERE array_job_id = ?", (array_id,))
        return {task: (state, reason) for task, state, reason in rows}
    finally:
        conn.close()


def test_aftercorr_waits_for_the_same_task_index(cluster: Cluster) -> None:
    first = cluster.submit("--hold", "--array=0-2", "--wrap", "exit $((SLURM_ARRAY_TASK_ID == 1))")
    second = cluster.submit(f"--dependency=aftercorr:{first}", "--array=0-2", "--wrap", "true")
    assert {s for s, _ in _tasks(cluster, second).values()} == {"PENDING"}
    assert cluster.run("scontrol", "release", str(first)).returncode == 0
    wait_for(lambda: _tasks(cluster, second)[0][0] == "COMPLETED" and _tasks(cluster, second)[2][0] == "COMPLETED")
    # task 1 of the first array failed, so only task 1 of the second can never run
    wait_for(lambda: _tasks(cluster, second)[1] == ("PENDING", "DependencyNeverSatisfied"))
    assert _tasks(cluster, first)[1][0] == "FAILED"
