"""sbatch --signal and scontrol requeue/requeuehold end to end: real jobs, real signals, the real ledger.

Expected outputs follow SLURM 22.05.8 (shared/slurm-golden/job-states.txt for requeue; sbatch.1 and
slurmctld's send_job_warn_signal for --signal). Waits are short: warning signals are asked for a few
seconds after the start (`--time=1 --signal=...@57`), and requeued jobs wait 1 s, not SLURM's 121 s.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from tests.conftest import Cluster, processes_with_env, wait_for

# The batch shell and one "job step" (a process srun would have started: it carries SLURM_STEP_ID)
# each note the time they get USR1. Both wait in `wait`, which a trapped signal interrupts.
SIGNAL_SCRIPT = """#!/bin/bash
trap 'date +%s.%N > shell.usr1' USR1
SLURM_STEP_ID=0 bash -c 'trap "date +%s.%N > step.usr1; exit 0" USR1; sleep 60 & wait' &
sleep 60 & wait
sleep 60 & wait
"""

SELF_REQUEUE = """#!/bin/bash
echo "run ${SLURM_RESTART_COUNT:-first}"
if [ -z "$SLURM_RESTART_COUNT" ]; then
    scontrol requeue $SLURM_JOB_ID
    sleep 60
    echo never
fi
echo done
"""


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return b"\0" + fh.read()
    except OSError:
        return b""


def _start_time(cluster: Cluster, job_id: int) -> float:
    conn = sqlite3.connect(cluster.home / "ledger.db", timeout=30)
    try:
        return float(conn.execute("SELECT start_time FROM jobs WHERE job_id = ?", (job_id,)).fetchone()[0])
    finally:
        conn.close()


def _signal_job(cluster: Cluster, *options: str) -> tuple[int, Path]:
    work = cluster.workdir / "job"
    work.mkdir()
    (work / "job.sh").write_text(SIGNAL_SCRIPT)
    job = cluster.submit(*options, "job.sh", cwd=work)
    cluster.wait_state(job, "RUNNING")
    return job, work


def test_signal_reaches_the_steps_before_the_time_limit(cluster: Cluster) -> None:
    job, work = _signal_job(cluster, "--time=1", "--signal=USR1@57")
    wait_for(lambda: (work / "step.usr1").exists() and (work / "step.usr1").read_text().strip(), timeout=15)
    delay = float((work / "step.usr1").read_text()) - _start_time(cluster, job)
    assert 1.5 <= delay <= 8, delay  # 60 s limit - 57 s = 3 s after the start
    time.sleep(0.5)
    assert not (work / "shell.usr1").exists()  # by default SLURM leaves the batch shell alone
    assert cluster.state(job) == "RUNNING"
    assert cluster.run("scancel", str(job)).returncode == 0


def test_signal_b_reaches_only_the_batch_shell(cluster: Cluster) -> None:
    job, work = _signal_job(cluster, "--time=1", "--signal=B:USR1@57")
    wait_for(lambda: (work / "shell.usr1").exists() and (work / "shell.usr1").read_text().strip(), timeout=15)
    delay = float((work / "shell.usr1").read_text()) - _start_time(cluster, job)
    assert 1.5 <= delay <= 8, delay
    time.sleep(0.5)
    assert not (work / "step.usr1").exists()
    assert cluster.run("scancel", str(job)).returncode == 0


def test_signal_follows_a_time_limit_update(cluster: Cluster) -> None:
    job, work = _signal_job(cluster, "--time=2", "--signal=B:USR1@110")  # due 10 s after the start
    res = cluster.run("scontrol", "update", f"JobId={job}", "TimeLimit=3")  # now due at 70 s
    assert res.returncode == 0, res.stderr
    start = _start_time(cluster, job)
    assert time.time() < start + 8, "too slow to test the move"
    time.sleep(max(0.0, start + 12 - time.time()))
    assert not (work / "shell.usr1").exists()
    assert cluster.run("scontrol", "update", f"JobId={job}", "TimeLimit=2").returncode == 0  # due again: sent
    wait_for(lambda: (work / "shell.usr1").exists(), timeout=12)
    assert cluster.run("scancel", str(job)).returncode == 0


def test_bad_signal_specification(cluster: Cluster) -> None:
    for value in ("USR1@-5", "bogus", "B:", "USR1@65536"):
        res = cluster.run("sbatch", f"--signal={value}", "--wrap", "true")
        assert (res.returncode, res.stdout, res.stderr) == (255, "", "sbatch: error: Invalid --signal specification\n")
    res = cluster.run("sbatch", "--test-only", "--signal=R:USR1@10", "--wrap", "true")
    assert "not implemented yet" not in res.stderr


def test_job_requeues_itself(cluster: Cluster) -> None:
    cluster.env["FLOWSLURM_REQUEUE_DELAY"] = "1"
    (cluster.workdir / "job.sh").write_text(SELF_REQUEUE)
    job = cluster.submit("--open-mode=append", "-o", "append.out", "job.sh")
    truncated = cluster.submit("-o", "truncate.out", "job.sh")  # SLURM's default: a new run truncates
    assert cluster.wait_done(job) == "COMPLETED"
    assert cluster.wait_done(truncated) == "COMPLETED"
    out = (cluster.workdir / "append.out").read_text().splitlines()
    assert out[0] == "run first"
    assert out[1].startswith(f"slurmstepd-testnode: error: *** JOB {job} ON testnode CANCELLED AT ")
    assert out[1].endswith(" DUE TO JOB REQUEUE ***")
    assert out[2:] == ["run 1", "done"]
    assert (cluster.workdir / "truncate.out").read_text() == "run 1\ndone\n"
    show = cluster.run("scontrol", "show", "job", str(job)).stdout
    assert "   JobState=COMPLETED Reason=None Dependency=(null)\n" in show
    assert "   Requeue=1 Restarts=1 BatchFlag=1 Reboot=0 ExitCode=0:0\n" in show
    res = cluster.run("sacct", "-j", str(job), "-P", "-o", "JobID,State,ExitCode")
    assert res.stdout == f"JobID|State|ExitCode\n{job}|COMPLETED|0:0\n{job}.batch|COMPLETED|0:0\n"
    res = cluster.run("sacct", "-D", "-j", str(job), "-P", "-o", "JobID,State,ExitCode")
    assert res.stdout == (f"JobID|State|ExitCode\n{job}|REQUEUED|0:0\n{job}.batch|CANCELLED|0:15\n"
                          f"{job}|COMPLETED|0:0\n{job}.batch|COMPLETED|0:0\n")


def test_requeue_running_job_then_cancel(cluster: Cluster) -> None:
    # job-states.txt: requeue 1513, squeue, sacct, sacct --duplicates, scancel 1513
    cluster.env["FLOWSLURM_REQUEUE_DELAY"] = "60"
    job = cluster.submit("-J", "requeue", "--wrap", "sleep 300")
    cluster.wait_state(job, "RUNNING")
    res = cluster.run("scontrol", "requeue", str(job))
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")
    cluster.wait_state(job, "PENDING")
    assert cluster.run("squeue", "-j", str(job), "-o", "%i %j %T %r").stdout == (
        f"JOBID NAME STATE REASON\n{job} requeue PENDING BeginTime\n")
    for extra in ((), ("--duplicates",)):
        res = cluster.run("sacct", "-j", str(job), *extra, "--parsable2", "-o", "JobID,State,ExitCode")
        assert res.stdout == f"JobID|State|ExitCode\n{job}|REQUEUED|0:0\n{job}.batch|CANCELLED|0:15\n"
    home = f"FLOWSLURM_HOME={cluster.home}\0".encode()
    token = f"\0FLOWSLURM_JOB_TOKEN={job}-".encode()
    assert wait_for(lambda: not [p for p in processes_with_env(home) if token in _environ(p)], timeout=10)
    show = cluster.run("scontrol", "show", "job", str(job)).stdout
    assert "   JobState=PENDING Reason=BeginTime Dependency=(null)\n" in show and " Restarts=1 " in show
    res = cluster.run("scontrol", "requeue", str(job))
    assert (res.returncode, res.stderr) == (1, f"Job is pending execution for job {job}\n")
    assert cluster.run("scancel", str(job)).returncode == 0
    assert cluster.run("squeue", "-h", "-t", "all", "-j", str(job), "-o", "%i %j %T %t %r").stdout == (
        f"{job} requeue CANCELLED CA BeginTime\n")
    res = cluster.run("sacct", "-X", "-j", str(job), "--parsable2", "-o", "JobID,JobName,State,ExitCode,Reason")
    assert res.stdout == f"JobID|JobName|State|ExitCode|Reason\n{job}|requeue|CANCELLED by {os.getuid()}|0:0|BeginTime\n"


def test_requeue_refusals(cluster: Cluster) -> None:
    job = cluster.submit("--no-requeue", "--wrap", "sleep 300")
    cluster.wait_state(job, "RUNNING")
    res = cluster.run("scontrol", "requeue", str(job))
    assert (res.returncode, res.stdout, res.stderr) == (1, "", f"Requested operation is presently disabled for job {job}\n")
    assert "   Requeue=0 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0\n" in cluster.run("scontrol", "show", "job", str(job)).stdout
    assert cluster.state(job) == "RUNNING"
    held = cluster.submit("--hold", "--wrap", "true")
    for args, err in (
        (("999999",), "Invalid job id specified for job 999999\n"),
        (("abc",), "Invalid job id specified for job abc\n"),
        ((f"jobid={held}",), f"Job is pending execution for job {held}\n"),
        ((f"{held},999999",), f"Job is pending execution for job {held}\nInvalid job id specified for job 999999\n"),
        ((), "too few arguments for keyword:requeue\n"),
    ):
        res = cluster.run("scontrol", "requeue", *args)
        assert (res.returncode, res.stdout, res.stderr) == (1, "", err), args
    res = cluster.run("scontrol", "-Q", "requeue", "999999")
    assert (res.returncode, res.stderr) == (1, "")
    # Incomplete leaves jobs that are not running alone, without an error
    assert cluster.run("scontrol", "requeue", "Incomplete", str(held)).returncode == 0


def test_requeuehold_finished_job_and_array_task(cluster: Cluster) -> None:
    cluster.env["FLOWSLURM_REQUEUE_DELAY"] = "1"
    job = cluster.submit("--wrap", 'echo "restart=${SLURM_RESTART_COUNT:-0}"')
    arr = cluster.submit("--array=0-1", "--wrap", 'echo "task $SLURM_ARRAY_TASK_ID restart=${SLURM_RESTART_COUNT:-0}"')
    assert cluster.wait_done(job) == "COMPLETED"
    wait_for(lambda: cluster.run("squeue", "-h", "-j", str(arr)).stdout == "", timeout=20)
    res = cluster.run("scontrol", "requeuehold", str(job))
    assert (res.returncode, res.stderr) == (0, "")
    assert cluster.run("squeue", "-h", "-j", str(job), "-o", "%T %r").stdout == "PENDING JobHeldUser\n"
    res = cluster.run("scontrol", "requeue", f"{arr}_1")
    assert (res.returncode, res.stderr) == (0, "")
    res = cluster.run("scontrol", "requeue", f"{arr}_7")
    assert (res.returncode, res.stderr) == (1, f"{arr}_7: Invalid job id specified\n")
    assert cluster.run("scontrol", "release", str(job)).returncode == 0
    assert cluster.wait_done(job) == "COMPLETED"
    assert (cluster.workdir / f"slurm-{job}.out").read_text() == "restart=1\n"
    wait_for(lambda: cluster.run("squeue", "-h", "-j", str(arr)).stdout == "", timeout=20)
    assert (cluster.workdir / f"slurm-{arr}_1.out").read_text() == "task 1 restart=1\n"
    assert (cluster.workdir / f"slurm-{arr}_0.out").read_text() == "task 0 restart=0\n"
    res = cluster.run("sacct", "-D", "-X", "-j", f"{arr}_1", "-P", "-o", "JobID,State")
    assert res.stdout == f"JobID|State\n{arr}_1|REQUEUED\n{arr}_1|COMPLETED\n"


def test_requeue_survives_a_killed_shepherd(cluster: Cluster) -> None:
    cluster.env["FLOWSLURM_REQUEUE_DELAY"] = "1"
    job = cluster.submit("--wrap", 'echo "run ${SLURM_RESTART_COUNT:-0}"; [ -n "$SLURM_RESTART_COUNT" ] || sleep 300')
    cluster.wait_state(job, "RUNNING")
    conn = sqlite3.connect(cluster.home / "ledger.db", timeout=30)
    try:
        shepherd = wait_for(lambda: conn.execute("SELECT shepherd_pid FROM jobs WHERE job_id = ?", (job,)).fetchone()[0])
    finally:
        conn.close()
    os.kill(int(shepherd), 9)  # type: ignore[arg-type]
    res = cluster.run("scontrol", "requeue", str(job))
    assert (res.returncode, res.stderr) == (0, "")
    # the engine daemon's recovery kills what is left of the run and finishes the requeue
    assert cluster.wait_done(job, timeout=30) == "COMPLETED"
    assert (cluster.workdir / f"slurm-{job}.out").read_text() == "run 1\n"
    res = cluster.run("sacct", "-D", "-X", "-j", str(job), "-P", "-o", "JobID,State")
    assert res.stdout == f"JobID|State\n{job}|REQUEUED\n{job}|COMPLETED\n"


def test_the_last_of_requeue_and_no_requeue_wins(cluster: Cluster) -> None:
    """As every sbatch option: the later of --requeue and --no-requeue decides (SBATCH_* and #SBATCH too)."""
    def requeue_flag(*args: str, env: dict[str, str] | None = None) -> str:
        job = cluster.submit("--hold", *args, "--wrap", "true", env=env)
        show = cluster.run("scontrol", "show", "job", str(job)).stdout
        return show.split("   Requeue=")[1].split()[0]

    assert requeue_flag("--no-requeue", "--requeue") == "1"
    assert requeue_flag("--requeue", "--no-requeue") == "0"
    assert requeue_flag("--requeue", env={"SBATCH_NO_REQUEUE": "1"}) == "1"  # the command line outranks the environment
    assert requeue_flag(env={"SBATCH_NO_REQUEUE": "1"}) == "0"
    assert requeue_flag() == "1"
