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


def test_array_tasks_take_their_ids_as_they_start(cluster: Cluster) -> None:
    """SLURM's rule (arrays-dependencies.txt): a task gets a new id when it starts, the last to start keeps
    the array's id, and jobs submitted in between take the ids in between."""
    array = cluster.submit("--hold", "--array=0-3%2", "-o", "task-%a.out", "--wrap", "echo $SLURM_JOB_ID; sleep 0.5")
    other = cluster.submit("--hold", "--wrap", "true")
    assert other == array + 1
    res = cluster.run("squeue", "-h", "-r", "-j", str(array), "-o", "%i %A")
    assert res.stdout.split("\n")[:-1] == [f"{array}_{i} {array}" for i in range(4)]
    assert cluster.run("scontrol", "release", str(array)).returncode == 0
    wait_for(lambda: all(s == "COMPLETED" for s, _ in _tasks(cluster, array).values()), timeout=60)
    res = cluster.run("sacct", "-X", "-n", "-P", "-j", str(array), "-o", "JobID,JobIDRaw")
    raw = dict(line.split("|") for line in res.stdout.split())
    assert raw[f"{array}_3"] == str(array)  # the last task
    assert sorted(int(raw[f"{array}_{i}"]) for i in range(3)) == [array + 2, array + 3, array + 4]
    for i in range(4):  # each task ran under its own id
        assert (cluster.workdir / f"task-{i}.out").read_text() == raw[f"{array}_{i}"] + "\n"
