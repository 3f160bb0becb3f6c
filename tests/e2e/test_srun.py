"""srun end to end: steps inside batch jobs, srun as a job of its own, signals, output and exit codes.

Expected behaviour comes from real SLURM 22.05 (shared/slurm-golden/srun-salloc.txt, exit-codes.txt,
env-vars.txt, output-patterns.txt, sacct.txt).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

from tests.conftest import BIN, Cluster, processes_with_env, wait_for

HOST = socket.gethostname()  # what `hostname` prints (the node name is testnode)


def _sacct(cluster: Cluster, job: int, fields: str = "JobID,JobName,State,ExitCode") -> list[str]:
    res = cluster.run("sacct", "-j", str(job), "-P", "-n", "-o", fields)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def _step_processes(cluster: Cluster, job: int, step: int = 0) -> list[int]:
    return cluster.processes("FLOWSLURM_STEP", f"{job}.{step}")


def test_srun_outside_a_job_is_a_job_with_one_step(cluster: Cluster) -> None:
    res = cluster.run("srun", "hostname")
    assert (res.stdout, res.stderr, res.returncode) == (f"{HOST}\n", "", 0)
    job = int(cluster.run("sacct", "-X", "-n", "-P", "-o", "JobID").stdout.split()[-1])
    assert _sacct(cluster, job) == [f"{job}|hostname|COMPLETED|0:0", f"{job}.0|hostname|COMPLETED|0:0"]


def test_labels_and_task_environment(cluster: Cluster) -> None:
    res = cluster.run("srun", "-n2", "-l", "sh", "-c", 'echo "$SLURM_PROCID/$SLURM_LOCALID/$SLURM_NTASKS/$SLURM_STEP_ID"')
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.splitlines()) == ["0: 0/0/2/0", "1: 1/1/2/0"]
    res = cluster.run("srun", "-J", "named", "sh", "-c", "echo $SLURM_JOB_NAME")
    assert res.stdout == "named\n"
    job = int(cluster.run("sacct", "-X", "-n", "-P", "-o", "JobID").stdout.split()[-1])
    assert _sacct(cluster, job, "JobName") == ["named", "named"]


def test_exit_codes_and_messages(cluster: Cluster) -> None:
    res = cluster.run("srun", "-n2", "sh", "-c", "exit $SLURM_PROCID")
    assert (res.stderr, res.returncode) == ("srun: error: testnode: task 1: Exited with exit code 1\n", 1)
    res = cluster.run("srun", "-n2", "sh", "-c", "exit 5")
    assert (res.stderr, res.returncode) == ("srun: error: testnode: tasks 0-1: Exited with exit code 5\n", 5)
    res = cluster.run("srun", "sh", "-c", "kill -9 $$")
    assert res.returncode == 137
    assert res.stderr.splitlines()[-2:] == ["srun: error: testnode: task 0: Killed", "srun: Force Terminated StepId="
                                            + res.stderr.split("StepId=")[1].strip()]
    res = cluster.run("srun", "/nonexistent/binary")
    assert res.returncode == 2
    assert res.stderr == ("slurmstepd-testnode: error: execve(): /nonexistent/binary: No such file or directory\n"
                          "srun: error: testnode: task 0: Exited with exit code 2\n")


def test_bad_input(cluster: Cluster) -> None:
    res = cluster.run("srun", "--bogus", "true")
    assert (res.stderr, res.returncode) == ("srun: unrecognized option '--bogus'\nTry \"srun --help\" for more information\n", 255)
    res = cluster.run("srun", "--time=abc", "true")
    assert (res.stderr, res.returncode) == ("srun: error: Invalid --time specification\n", 255)
    res = cluster.run("srun", "-p", "nosuchpart", "true")
    assert (res.stderr, res.returncode) == ("srun: error: invalid partition specified: nosuchpart\n"
                                            "srun: error: Unable to allocate resources: Invalid partition name specified\n", 1)
    res = cluster.run("srun")
    assert (res.stderr, res.returncode) == ("srun: fatal: No command given to execute.\n", 1)
    res = cluster.run("srun", "--pty", "true")
    assert res.returncode == 0
    assert res.stderr == ("srun: error: ioctl(TIOCGWINSZ): Inappropriate ioctl for device\n"
                          "srun: error: Not using a pseudo-terminal, disregarding --pty option\n")


def test_steps_inside_a_batch_job(cluster: Cluster) -> None:
    job = cluster.submit("-J", "acct-a", "--wrap", "srun hostname; srun -n1 true; srun sh -c 'exit 5'; echo done")
    assert cluster.wait_done(job) == "COMPLETED"
    assert _sacct(cluster, job, "JobID,JobName,State,ExitCode,DerivedExitCode") == [
        f"{job}|acct-a|COMPLETED|0:0|5:0",
        f"{job}.batch|batch|COMPLETED|0:0|",
        f"{job}.0|hostname|COMPLETED|0:0|",
        f"{job}.1|true|COMPLETED|0:0|",
        f"{job}.2|sh|FAILED|5:0|",
    ]
    out = (cluster.workdir / f"slurm-{job}.out").read_text()
    assert out == f"{HOST}\nsrun: error: testnode: task 0: Exited with exit code 5\ndone\n"


def test_step_environment_matches_slurm(cluster: Cluster) -> None:
    job = cluster.submit("-n2", "-o", "env.out", "--wrap", "srun -l bash -c 'env | grep -E \"^SLURM\" | sort'")
    assert cluster.wait_done(job) == "COMPLETED"
    lines = (cluster.workdir / "env.out").read_text().splitlines()
    by_task: dict[str, dict[str, str]] = {}
    for line in lines:
        task, _, pair = line.partition(": ")
        key, _, value = pair.partition("=")
        by_task.setdefault(task, {})[key] = value
    assert set(by_task) == {"0", "1"}
    for task, env in by_task.items():
        assert env["SLURM_PROCID"] == env["SLURM_LOCALID"] == task
        assert (env["SLURM_STEP_ID"], env["SLURM_STEPID"], env["SLURM_JOB_ID"]) == ("0", "0", str(job))
        assert (env["SLURM_NTASKS"], env["SLURM_STEP_NUM_TASKS"], env["SLURM_GTIDS"]) == ("2", "2", "0,1")
        assert (env["SLURM_LABELIO"], env["SLURM_DISTRIBUTION"], env["SLURM_STEP_NODELIST"]) == ("1", "block", "testnode")
        assert int(env["SLURM_TASK_PID"]) > 1
    # every variable real SLURM gives a step, except those of its own daemons and network ports
    golden = {"SLURMD_NODENAME", "SLURM_CLUSTER_NAME", "SLURM_CPUS_ON_NODE", "SLURM_DISTRIBUTION", "SLURM_GTIDS",
              "SLURM_JOBID", "SLURM_JOB_ACCOUNT", "SLURM_JOB_CPUS_PER_NODE", "SLURM_JOB_GID", "SLURM_JOB_ID",
              "SLURM_JOB_NAME", "SLURM_JOB_NODELIST", "SLURM_JOB_NUM_NODES", "SLURM_JOB_PARTITION", "SLURM_JOB_QOS",
              "SLURM_JOB_UID", "SLURM_JOB_USER", "SLURM_LABELIO", "SLURM_LAUNCH_NODE_IPADDR", "SLURM_LOCALID",
              "SLURM_MEM_PER_CPU", "SLURM_NNODES", "SLURM_NODEID", "SLURM_NODELIST", "SLURM_NODE_ALIASES",
              "SLURM_NPROCS", "SLURM_NTASKS", "SLURM_PRIO_PROCESS", "SLURM_PROCID", "SLURM_SRUN_COMM_HOST",
              "SLURM_STEPID", "SLURM_STEP_ID", "SLURM_STEP_NODELIST", "SLURM_STEP_NUM_NODES", "SLURM_STEP_NUM_TASKS",
              "SLURM_STEP_TASKS_PER_NODE", "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST", "SLURM_TASKS_PER_NODE",
              "SLURM_TASK_PID", "SLURM_TOPOLOGY_ADDR", "SLURM_TOPOLOGY_ADDR_PATTERN", "SLURM_UMASK",
              "SLURM_WORKING_CLUSTER"}
    assert golden <= set(by_task["0"])


def test_step_finds_its_job_from_slurm_job_id_alone(cluster: Cluster) -> None:
    # Snakemake's job step: every SLURM_* variable but SLURM_JOB_ID removed, the command on stdin
    script = ("for v in $(env | grep '^SLURM_' | cut -d= -f1); do [ $v = SLURM_JOB_ID ] || unset $v; done\n"
              "echo 'echo step=$SLURM_STEP_ID ntasks=$SLURM_NTASKS node=$SLURMD_NODENAME' | "
              "srun -n1 --cpu-bind=q --cpus-per-task=1 sh -s\n")
    job = cluster.submit("-n2", "--wrap", script)
    assert cluster.wait_done(job) == "COMPLETED"
    out = (cluster.workdir / f"slurm-{job}.out").read_text()
    assert "step=0 ntasks=1 node=testnode\n" in out


def test_output_patterns_per_task(cluster: Cluster) -> None:
    res = cluster.run("srun", "-o", "srun-%j-%t.out", "-n2", "sh", "-c", "echo out-$SLURM_PROCID; echo err >&2")
    assert res.returncode == 0, res.stderr
    files = sorted(p.name for p in cluster.workdir.glob("srun-*.out"))
    job = files[0].split("-")[1]
    assert files == [f"srun-{job}-0.out", f"srun-{job}-1.out"]
    assert (cluster.workdir / files[1]).read_text() == "out-1\nerr\n"  # stderr follows --output


def test_stdin_reaches_task_zero(cluster: Cluster) -> None:
    res = cluster.run("srun", "-n2", "-l", "sh", "-c", "cat", input="hello\n")
    assert res.stdout == "0: hello\n"
    res = cluster.run("srun", "--input=none", "cat", input="hello\n")
    assert res.stdout == ""


def test_kill_on_bad_exit_and_multi_prog(cluster: Cluster) -> None:
    res = cluster.run("srun", "-K", "-n2", "sh", "-c", 'if [ "$SLURM_PROCID" = 1 ]; then exit 3; fi; sleep 30')
    assert res.returncode == 137  # as srun computes it: the killed task's signal outranks exit codes
    assert res.stderr.startswith("srun: error: testnode: task 1: Exited with exit code 3\nsrun: Terminating StepId=")
    (cluster.workdir / "mp.conf").write_text("# rank program args\n0 echo first %t\n1-2 echo rest %t %o\n")
    res = cluster.run("srun", "-n3", "-l", "--multi-prog", "mp.conf")
    assert sorted(res.stdout.splitlines()) == ["0: first 0", "1: rest 1 0", "2: rest 2 1"]


def test_step_larger_than_its_job_is_refused(cluster: Cluster) -> None:
    job = cluster.submit("-n1", "--wrap", "srun -n4 true; echo rc=$?")
    cluster.wait_done(job)
    out = (cluster.workdir / f"slurm-{job}.out").read_text()
    assert out == f"srun: error: Unable to create step for job {job}: More processors requested than permitted\nrc=1\n"


def test_gpus_for_a_step(cluster: Cluster) -> None:
    res = cluster.run("srun", "--gres=gpu:2", "sh", "-c", "echo $CUDA_VISIBLE_DEVICES", env={"FLOWSLURM_GPUS": "4"})
    assert (res.stdout, res.returncode) == ("0,1\n", 0)


def test_scancel_reaches_step_processes(cluster: Cluster) -> None:
    job = cluster.submit("--wrap", "srun sleep 300")
    wait_for(lambda: _sacct(cluster, job, "JobID,State")[-1:] == [f"{job}.0|RUNNING"])
    assert cluster.run("scancel", str(job)).returncode == 0
    assert cluster.wait_done(job) == "CANCELLED"
    wait_for(lambda: not _step_processes(cluster, job), timeout=10)
    assert _sacct(cluster, job, "JobID,State")[2] == f"{job}.0|CANCELLED"
    out = (cluster.workdir / f"slurm-{job}.out").read_text()
    assert f"*** STEP {job}.0 ON testnode CANCELLED AT " in out


def test_a_step_ending_spares_the_same_step_of_another_installation(cluster: Cluster) -> None:
    """Job ids are per FLOWSLURM_HOME, so two installations on one machine both have a step 1.0. The sweep
    for a finished step's leftover processes must reach only its own job's (SLURM's proctrack is per job)."""
    other_home = cluster.home.parent / "other-home"
    other_home.mkdir()
    other = {"FLOWSLURM_HOME": str(other_home)}
    try:
        job = cluster.submit("--wrap", "srun sleep 300")
        wait_for(lambda: _sacct(cluster, job, "JobID,State")[-1:] == [f"{job}.0|RUNNING"])
        other_job = cluster.submit("--wrap", "srun true", env=other)
        assert other_job == job  # the same "<job>.0" step in both

        def other_state() -> str:
            return cluster.run("sacct", "-X", "-P", "-n", "-o", "State", "-j", str(other_job), env=other).stdout.strip()

        assert wait_for(lambda: other_state() == "COMPLETED")
        time.sleep(0.5)
        assert _sacct(cluster, job, "JobID,State") == [f"{job}|RUNNING", f"{job}.batch|RUNNING", f"{job}.0|RUNNING"]
        assert cluster.state(job) == "RUNNING"
    finally:
        for pid in processes_with_env(f"FLOWSLURM_HOME={other_home}\0".encode()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _popen_srun(cluster: Cluster, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "srun"), *args], env=cluster.env, cwd=cluster.workdir, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _running_job(cluster: Cluster) -> int:
    return int(wait_for(lambda: cluster.run("squeue", "-h", "-t", "R", "-o", "%i").stdout.strip()))  # type: ignore[arg-type]


def test_ctrl_c_ends_the_step_and_its_job(cluster: Cluster) -> None:
    proc = _popen_srun(cluster, "sleep", "300")
    job = _running_job(cluster)
    wait_for(lambda: _step_processes(cluster, job))
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # a second Ctrl-C within a second aborts
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.startswith("srun: interrupt (one more within 1 sec to abort)\n"
                          f"srun: StepId={job}.0 task 0: running\n"
                          f"srun: sending Ctrl-C to StepId={job}.0\n"
                          "srun: forcing job termination\n")
    assert _sacct(cluster, job, "JobID,State") == [f"{job}|CANCELLED", f"{job}.0|CANCELLED"]


def test_scancel_of_an_srun_job(cluster: Cluster) -> None:
    proc = _popen_srun(cluster, "sleep", "300")
    job = _running_job(cluster)
    wait_for(lambda: _step_processes(cluster, job))
    assert cluster.run("scancel", str(job)).returncode == 0
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.startswith("srun: Job step aborted: Waiting up to 4 seconds for job step to finish.\n"
                          f"slurmstepd-testnode: error: *** STEP {job}.0 ON testnode CANCELLED AT ")
    assert _sacct(cluster, job, "JobID,State")[0] == f"{job}|CANCELLED by {os.getuid()}"


def test_srun_waits_for_resources_and_can_be_cancelled_while_waiting(cluster: Cluster) -> None:
    proc = _popen_srun(cluster, "-n", "9", "hostname")  # more CPUs than the node has: pending forever
    job = int(wait_for(lambda: cluster.run("squeue", "-h", "-o", "%i").stdout.strip()))  # type: ignore[arg-type]
    assert cluster.run("squeue", "-h", "-j", str(job), "-o", "%T %r").stdout == "PENDING PartitionConfig\n"
    assert cluster.run("scancel", str(job)).returncode == 0
    _, err = proc.communicate(timeout=30)
    assert (err, proc.returncode) == ("srun: Requested partition configuration not available now\n"
                                      f"srun: job {job} queued and waiting for resources\n"
                                      "srun: Job has been cancelled\n"
                                      "srun: error: Unable to allocate resources: Job/step already completing or "
                                      "completed\n", 1)


def test_time_limit_reaches_steps(cluster: Cluster) -> None:
    """Both kinds of step end at the job's time limit: one in a batch job, one in srun's own job."""
    batch = cluster.submit("--time=1", "--wrap", "srun sleep 300")
    proc = _popen_srun(cluster, "--time=1", "sleep", "300")
    assert cluster.wait_done(batch, timeout=100) == "TIMEOUT"
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert "CANCELLED AT" in err and "DUE TO TIME LIMIT ***" in err
    own = int(err.split("*** STEP ")[1].split(".")[0])
    assert _sacct(cluster, own, "JobID,State") == [f"{own}|TIMEOUT", f"{own}.0|CANCELLED"]
    assert _sacct(cluster, batch, "JobID,State")[2] == f"{batch}.0|CANCELLED"


def test_salloc_runs_steps_and_is_revoked_by_scancel(cluster: Cluster) -> None:
    res = cluster.run("salloc", "-n2", "srun", "-l", "sh", "-c", "echo $SLURM_JOB_NAME $SLURM_STEP_ID")
    assert res.returncode == 0, res.stderr
    assert sorted(res.stdout.splitlines()) == ["0: interactive 0", "1: interactive 0"]
    job = int(res.stderr.split()[-1])
    assert res.stderr == f"salloc: Granted job allocation {job}\nsalloc: Relinquishing job allocation {job}\n"
    assert _sacct(cluster, job, "JobID,State,NCPUS") == [f"{job}|COMPLETED|2", f"{job}.0|COMPLETED|2"]
    proc = subprocess.Popen([str(BIN / "salloc"), "sleep", "300"], env=cluster.env, cwd=cluster.workdir, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    job = _running_job(cluster)
    wait_for(lambda: cluster.processes("SLURM_JOB_ID", str(job)))  # salloc's command runs (the grant came)
    assert cluster.run("scancel", str(job)).returncode == 0
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143
    assert err.endswith(f"salloc: Job allocation {job} has been revoked.\nsalloc: Relinquishing job allocation {job}\n")
    assert _sacct(cluster, job, "JobID,State")[0] == f"{job}|CANCELLED by {os.getuid()}"
