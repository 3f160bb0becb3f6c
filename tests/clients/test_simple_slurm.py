"""simple-slurm, unchanged, against flowslurm's commands on the local backend (shared/research/clients.md §3).

simple-slurm writes a `#!/bin/sh` script whose directives are `--long-name` padded with spaces
(bare `--flag` plus trailing spaces for booleans) and feeds it to `sbatch << EOF` through
/bin/sh, with `$` escaped so the heredoc passes it literally. It parses `Submitted batch job
<id>` by word position (or the bare id with `--parsable`), reads `squeue --me -o '"%i","%j",...'`
as CSV keyed by the JOBID column, cancels with `scancel <id>`, and runs `srun --key=value ...
<cmd>` with shell=True, blocking, outside any allocation.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest
from simple_slurm import Slurm  # a test extra: pip install -e '.[test]'

from tests.conftest import Cluster, wait_for


@pytest.fixture
def workdir(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in cluster.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SQUEUE_FORMAT", raising=False)  # simple-slurm and squeue both read it
    monkeypatch.chdir(cluster.workdir)
    return cluster.workdir


def _show(cluster: Cluster, job_id: int) -> str:
    res = cluster.run("scontrol", "show", "job", str(job_id))
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_sbatch_heredoc(cluster: Cluster, workdir: Path) -> None:
    slurm = Slurm(
        "-J", "ss-echo",
        output=str(workdir / f"ss-{Slurm.JOB_ID}.out"),  # Slurm.JOB_ID is the filename pattern %j
        cpus_per_task=2,
        mem="100M",
        time=datetime.timedelta(minutes=2),
        ntasks=1,
        comment="from-simple-slurm",  # #SBATCH values are split on blanks, as in SLURM
    )
    slurm.add_cmd('echo "id=$SLURM_JOB_ID name=$SLURM_JOB_NAME"')
    script = slurm.script()
    assert "#SBATCH --cpus-per-task       2\n" in script and "\\$SLURM_JOB_ID" in script

    job_id = slurm.sbatch('echo "cpus=${SLURM_CPUS_PER_TASK}"', verbose=False)

    assert cluster.state(job_id)  # the id parsed from word 4 of sbatch's stdout is ours
    assert cluster.wait_done(job_id) == "COMPLETED"
    out = (workdir / f"ss-{job_id}.out").read_text()
    # `$` reached the job unexpanded by the heredoc, so the job's shell expanded it
    assert out.splitlines() == [f"id={job_id} name=ss-echo", "cpus=2"]
    show = _show(cluster, job_id).split()
    for field in ("JobName=ss-echo", "TimeLimit=00:02:00", "NumCPUs=2", "Comment=from-simple-slurm"):
        assert field in show, (field, show)


def test_sbatch_parsable_flag(cluster: Cluster, workdir: Path) -> None:
    slurm = Slurm(job_name="ss-parsable", parsable=True, output=str(workdir / "p-%j.out"))
    assert "#SBATCH --parsable" in slurm.script()  # bare flag padded with trailing spaces
    job_id = slurm.sbatch("echo parsable", verbose=False)
    assert cluster.wait_done(job_id) == "COMPLETED"
    assert (workdir / f"p-{job_id}.out").read_text() == "parsable\n"


def test_squeue_parse_and_scancel(cluster: Cluster, workdir: Path) -> None:
    runner = Slurm(job_name="ss-sleeper", output="/dev/null", time=datetime.timedelta(minutes=5), mem="200M")
    running = runner.sbatch("sleep 300", verbose=False)
    cluster.wait_state(running, "RUNNING")
    waiter = Slurm(job_name="ss-waiter", output="/dev/null", dependency=dict(afterok=running))
    pending = waiter.sbatch("true", verbose=False)

    slurm = Slurm()
    slurm.squeue.update_squeue()
    jobs = slurm.squeue.jobs
    assert set(jobs) == {running, pending}
    row = jobs[running]
    assert row["NAME"] == "ss-sleeper" and row["ST"] == "R"
    assert row["TIME_LEFT"].startswith("4:") or row["TIME_LEFT"] == "5:00"
    assert (row["NODES"], row["CPUS"], row["MIN_MEMORY"]) == ("1", "1", "200M")
    assert row["TRES_PER_NODE"] == "N/A" and row["NODELIST(REASON)"] == "testnode"
    row = jobs[pending]
    assert (row["NAME"], row["ST"], row["TIME"], row["NODELIST(REASON)"]) == ("ss-waiter", "PD", "0:00", "(Dependency)")
    assert set(slurm.squeue.get_filtered_jobs("sleep")) == {running}

    slurm.scancel.cancel_job(running)
    assert cluster.wait_done(running) == "CANCELLED"
    # afterok can never be met now: SLURM 22.05 keeps the job pending with DependencyNeverSatisfied
    wait_for(lambda: "Reason=DependencyNeverSatisfied" in _show(cluster, pending))
    slurm.scancel.cancel_job(pending)
    assert cluster.wait_done(pending) == "CANCELLED"
    slurm.squeue.update_squeue()
    assert slurm.squeue.jobs == {}


def test_srun_outside_allocation(cluster: Cluster, workdir: Path) -> None:
    out = workdir / "srun.txt"
    slurm = Slurm(ntasks=2, cpus_per_task=1, job_name="ss-run", time="00:01:00")
    rc = slurm.srun(f"sh -c 'echo task $SLURM_PROCID of $SLURM_NTASKS in $SLURM_JOB_NAME' >> {out}")
    assert rc == 0
    assert sorted(out.read_text().splitlines()) == ["task 0 of 2 in ss-run", "task 1 of 2 in ss-run"]

    acct = cluster.run("sacct", "-X", "-P", "-n", "--name=ss-run", "-o", "JobID,State,AllocCPUS")
    assert acct.returncode == 0, acct.stderr
    [line] = acct.stdout.splitlines()
    assert line.split("|")[1:] == ["COMPLETED", "2"]

    with pytest.raises(subprocess.CalledProcessError) as failed:  # srun's rc is the task's: check=True raises
        Slurm(job_name="ss-fail").srun("sh -c 'exit 3'")
    assert failed.value.returncode == 3
