"""sbatch end to end on the local backend: real processes, real files, the real ledger."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import Cluster, processes_with_env, wait_for


def _row(cluster: Cluster, job_id: int, *cols: str) -> tuple:
    conn = sqlite3.connect(cluster.home / "ledger.db", timeout=30)
    try:
        return conn.execute(f"SELECT {', '.join(cols)} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    finally:
        conn.close()


def test_submit_runs_script_with_slurm_environment(cluster: Cluster) -> None:
    script = cluster.workdir / "hello.sh"
    script.write_text('#!/bin/bash\necho "hello from $SLURM_JOB_ID"\nenv | grep -E "^SLURM" | sort\n')
    res = cluster.run("sbatch", "hello.sh")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Submitted batch job ")
    job_id = int(res.stdout.split()[-1])
    assert cluster.wait_done(job_id) == "COMPLETED"
    out = (cluster.workdir / f"slurm-{job_id}.out").read_text()
    assert out.startswith(f"hello from {job_id}\n")
    env = dict(line.split("=", 1) for line in out.splitlines()[1:])
    assert env["SLURM_JOB_ID"] == env["SLURM_JOBID"] == str(job_id)
    assert env["SLURM_JOB_NAME"] == "hello.sh"
    assert env["SLURM_SUBMIT_DIR"] == str(cluster.workdir)
    assert env["SLURM_JOB_NODELIST"] == env["SLURMD_NODENAME"] == "testnode"
    assert env["SLURM_CPUS_ON_NODE"] == "1" and env["SLURM_NNODES"] == "1"
    assert int(env["SLURM_TASK_PID"]) > 1


def test_parsable_wrap_and_stdin_scripts(cluster: Cluster) -> None:
    job = cluster.submit("--wrap", 'echo "quoted $HOME"; echo second')
    assert cluster.wait_done(job) == "COMPLETED"
    assert (cluster.workdir / f"slurm-{job}.out").read_text() == f"quoted {cluster.env['HOME']}\nsecond\n"
    res = cluster.run("sbatch", input="#!/bin/sh\necho from-stdin\n")
    job2 = int(res.stdout.split()[-1])
    res3 = cluster.run("sbatch", "--parsable", "/dev/stdin", input="#!/bin/sh\necho dev-stdin\n")
    job3 = int(res3.stdout)
    assert job < job2 < job3
    for j, text in ((job2, "from-stdin\n"), (job3, "dev-stdin\n")):
        cluster.wait_done(j)
        assert (cluster.workdir / f"slurm-{j}.out").read_text() == text


def test_wait_returns_exit_code_and_states(cluster: Cluster) -> None:
    res = cluster.run("sbatch", "-W", "--wrap", "exit 3")
    assert res.returncode == 3
    job = int(res.stdout.split()[-1])
    assert _row(cluster, job, "state", "reason", "exit_code", "exit_signal") == ("FAILED", "NonZeroExitCode", 3, 0)
    res = cluster.run("sbatch", "--parsable", "--wait", "--wrap", "kill -9 $$")
    assert res.returncode == 128 + 9
    assert _row(cluster, int(res.stdout), "state", "exit_signal") == ("FAILED", 9)
    res = cluster.run("sbatch", "--wait", "--wrap", "true")
    assert res.returncode == 0


def test_output_patterns_chdir_and_open_mode(cluster: Cluster) -> None:
    sub = cluster.workdir / "sub"
    sub.mkdir()
    job = cluster.submit("-J", "pat", "-D", "sub", "-o", "%x-%j.o", "-e", "err-%5j.e", "--wrap", "pwd; echo oops >&2")
    cluster.wait_done(job)
    assert (sub / f"pat-{job}.o").read_text() == f"{sub}\n"
    assert (sub / f"err-{job:05d}.e").read_text() == "oops\n"
    log = cluster.workdir / "log.txt"
    log.write_text("before\n")
    job = cluster.submit("-o", str(log), "--open-mode=append", "--wrap", "echo after")
    cluster.wait_done(job)
    assert log.read_text() == "before\nafter\n"


def test_export_none_and_list(cluster: Cluster) -> None:
    job = cluster.submit("--export=NONE", "--wrap", "env | sort", env={"FOO": "bar"})
    cluster.wait_done(job)
    env = dict(l.split("=", 1) for l in (cluster.workdir / f"slurm-{job}.out").read_text().splitlines() if "=" in l)
    assert "FOO" not in env and env["SLURM_EXPORT_ENV"] == "NONE" and env["ENVIRONMENT"] == "BATCH"
    job = cluster.submit("--export=FOO,BAZ=2", "--wrap", 'echo "$FOO $BAZ ${PYTEST_CURRENT_TEST:-unset}"', env={"FOO": "bar"})
    cluster.wait_done(job)
    assert (cluster.workdir / f"slurm-{job}.out").read_text() == "bar 2 unset\n"


def test_precedence_command_line_over_env_over_directives(cluster: Cluster) -> None:
    (cluster.workdir / "p.sh").write_text("#!/bin/sh\n#SBATCH -J fromdirective\n#SBATCH --time=5\necho $SLURM_JOB_NAME\n")
    a = cluster.submit("p.sh")
    b = cluster.submit("p.sh", env={"SBATCH_JOB_NAME": "fromenv"})
    c = cluster.submit("-J", "fromcli", "p.sh", env={"SBATCH_JOB_NAME": "fromenv"})
    for job, name in ((a, "fromdirective"), (b, "fromenv"), (c, "fromcli")):
        cluster.wait_done(job)
        assert (cluster.workdir / f"slurm-{job}.out").read_text() == f"{name}\n"
        assert _row(cluster, job, "time_limit") == (5,)


def test_output_directory_created_after_submit_is_not_lost(cluster: Cluster) -> None:
    job = cluster.submit("-o", "later/%j/out.txt", "--wrap", "echo kept")
    (cluster.workdir / "later" / str(job)).mkdir(parents=True)
    assert cluster.wait_done(job) == "COMPLETED"
    assert (cluster.workdir / "later" / str(job) / "out.txt").read_text() == "kept\n"


def test_missing_output_directory_fails_like_slurm(cluster: Cluster) -> None:
    job = cluster.submit("-o", "/nonexistent-dir/x.out", "--wrap", "true")
    assert cluster.wait_done(job) == "FAILED"
    assert _row(cluster, job, "reason", "exit_code", "exit_signal") == ("JobLaunchFailure", 0, 53)


def test_resources_wait_and_gpus_are_allocated(cluster: Cluster) -> None:
    env = {"FLOWSLURM_CPUS": "2", "FLOWSLURM_GPUS": "4"}
    flag = cluster.workdir / "go"
    a = cluster.submit("--gres=gpu:2", "--wrap", f"echo $CUDA_VISIBLE_DEVICES $SLURM_JOB_GPUS; while [ ! -e {flag} ]; do sleep 0.05; done", env=env)
    b = cluster.submit("--gpus=2", "--wrap", f"echo $CUDA_VISIBLE_DEVICES; while [ ! -e {flag} ]; do sleep 0.05; done", env=env)
    c = cluster.submit("-c", "1", "--wrap", "true", env=env)
    cluster.wait_state(a, "RUNNING")
    cluster.wait_state(b, "RUNNING")
    assert cluster.state(c) == "PENDING"
    assert _row(cluster, c, "reason") == ("Resources",)
    flag.touch()
    assert cluster.wait_done(c) == "COMPLETED"
    assert (cluster.workdir / f"slurm-{a}.out").read_text() == "0,1 0,1\n"
    assert (cluster.workdir / f"slurm-{b}.out").read_text() == "2,3\n"


def test_impossible_requests_are_refused(cluster: Cluster) -> None:
    res = cluster.run("sbatch", "--mem=1T", "--wrap", "true")
    assert res.returncode == 1
    assert res.stderr == ("sbatch: error: Memory specification can not be satisfied\n"
                          "sbatch: error: Batch job submission failed: Requested node configuration is not available\n")
    res = cluster.run("sbatch", "--gres=gpu:9", "--wrap", "true")
    assert (res.returncode, res.stderr) == (
        1, "sbatch: error: Batch job submission failed: Requested node configuration is not available\n")


def test_scancel_kills_the_whole_tree_even_escaped_processes(cluster: Cluster) -> None:
    marker = cluster.workdir / "started"
    job = cluster.submit("--wrap", f"setsid sleep 300 & sleep 300 & touch {marker}; wait")
    wait_for(marker.exists)
    token = _row(cluster, job, "launch_token")[0]
    assert len(processes_with_env(f"FLOWSLURM_JOB_TOKEN={token}\0".encode())) >= 3
    res = cluster.run("scancel", str(job))
    assert res.returncode == 0, res.stderr
    assert cluster.wait_done(job) == "CANCELLED"
    wait_for(lambda: not processes_with_env(f"FLOWSLURM_JOB_TOKEN={token}\0".encode()), timeout=10)
    assert _row(cluster, job, "cancelled_by", "exit_signal") == (os.getuid(), 15)
    assert "CANCELLED AT" in (cluster.workdir / f"slurm-{job}.out").read_text()


def test_hold_and_pending_cancel(cluster: Cluster) -> None:
    job = cluster.submit("--hold", "--wrap", "true")
    assert _row(cluster, job, "state", "reason", "priority") == ("PENDING", "JobHeldUser", 0)
    assert cluster.run("scancel", str(job)).returncode == 0
    assert _row(cluster, job, "state", "cancelled_by") == ("CANCELLED", os.getuid())


def test_time_limit_ends_job_with_timeout(cluster: Cluster) -> None:
    job = cluster.submit("--time=10", "--wrap", "echo start; trap 'echo got-term' TERM; sleep 300 & wait; sleep 300")
    cluster.wait_state(job, "RUNNING")
    # the limit of a running job can be lowered, and the new one is enforced
    res = cluster.run("scontrol", "update", f"JobId={job}", "TimeLimit=0:01")
    assert res.returncode == 0, res.stderr
    assert cluster.wait_done(job, timeout=90) == "TIMEOUT"
    out = (cluster.workdir / f"slurm-{job}.out").read_text()
    assert out.startswith("start\n")
    assert f"*** JOB {job} ON testnode CANCELLED AT " in out and "DUE TO TIME LIMIT ***" in out
    assert _row(cluster, job, "reason", "exit_signal", "time_limit") == ("TimeLimit", 15, 1)


def test_job_survives_submitting_session(cluster: Cluster) -> None:
    flag = cluster.workdir / "done"
    script = f"sbatch --wrap 'sleep 1; touch {flag}'; kill -HUP $$"
    subprocess.run(["setsid", "sh", "-c", script], env=cluster.env, cwd=cluster.workdir, timeout=30)
    wait_for(flag.exists, timeout=30)


def test_engine_killed_mid_run_loses_nothing_and_runs_nothing_twice(cluster: Cluster) -> None:
    env = {"FLOWSLURM_CPUS": "1"}
    tally = cluster.workdir / "tally"
    jobs = [cluster.submit("--wrap", f"echo $SLURM_JOB_ID >> {tally}; sleep 0.3", env=env) for _ in range(8)]
    pid_file = cluster.home / "engine.pid"

    def engine_pid() -> int:
        try:
            return int(pid_file.read_text())
        except (OSError, ValueError):
            return 0

    killed: set[int] = set()
    for _ in range(3):
        pid = int(wait_for(lambda: engine_pid() not in killed and engine_pid(), timeout=20))  # type: ignore[arg-type]
        os.kill(pid, 9)
        killed.add(pid)
        # a submission starts the engine again (it queues behind the others, so some stay pending)
        cluster.run("sbatch", "--wrap", "true", env=env)
    for job in jobs:
        assert cluster.wait_done(job, timeout=60) == "COMPLETED"
    ran = tally.read_text().split()
    assert sorted(map(int, ran)) == jobs


def test_concurrent_submitters_get_distinct_ids(cluster: Cluster, tmp_path: Path) -> None:
    code = (
        "import io, sys\n"
        "from flowslurm.cli.common import Env\n"
        "from flowslurm.cli.sbatch import run\n"
        "for _ in range(25):\n"
        "    out = io.StringIO()\n"
        "    assert run(['--parsable', '--hold', '--wrap', 'true'], Env(stdout=out)) == 0\n"
        "    print(out.getvalue().strip())\n"
    )
    env = dict(cluster.env, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, cwd=cluster.workdir, stdout=subprocess.PIPE,
                              text=True) for _ in range(32)]
    ids = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        ids += [int(x) for x in out.split()]
    assert len(ids) == 800 and len(set(ids)) == 800
    conn = sqlite3.connect(cluster.home / "ledger.db")
    assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 800
    conn.close()


def test_begin_time_waits_then_runs(cluster: Cluster) -> None:
    job = cluster.submit("--begin=now+2", "--wrap", "true")
    assert _row(cluster, job, "state", "reason") == ("PENDING", "BeginTime")
    assert cluster.wait_done(job, timeout=30) == "COMPLETED"
    start, begin = _row(cluster, job, "start_time", "begin_time")
    assert start >= begin


def test_dependencies_hold_and_never_satisfied(cluster: Cluster) -> None:
    flag = cluster.workdir / "go"
    first = cluster.submit("--wrap", f"while [ ! -e {flag} ]; do sleep 0.05; done; exit 1")
    ok = cluster.submit(f"--dependency=afterok:{first}", "--wrap", "true")
    notok = cluster.submit(f"--dependency=afternotok:{first}", "--wrap", "true")
    cluster.wait_state(first, "RUNNING")
    assert _row(cluster, ok, "reason") == ("Dependency",)
    flag.touch()
    assert cluster.wait_done(notok) == "COMPLETED"
    wait_for(lambda: _row(cluster, ok, "reason") == ("DependencyNeverSatisfied",))
    assert cluster.state(ok) == "PENDING"


def test_scancel_signal_reaches_batch_shell_without_ending_job(cluster: Cluster) -> None:
    ready = cluster.workdir / "ready"
    job = cluster.submit("--wrap", f"trap 'echo got USR1; exit 0' USR1; touch {ready}; while true; do sleep 0.1; done")
    wait_for(ready.exists)
    assert cluster.run("scancel", "--signal=USR1", "--batch", str(job)).returncode == 0
    assert cluster.wait_done(job) == "COMPLETED"
    assert (cluster.workdir / f"slurm-{job}.out").read_text() == "got USR1\n"


def test_unsupported_and_warned_options(cluster: Cluster) -> None:
    res = cluster.run("sbatch", "--container=/bundle", "--wrap", "true")  # (--container-image: test_containers.py)
    assert res.returncode == 1
    assert res.stderr.startswith("sbatch: error: --container is not supported on the local backend")
    res = cluster.run("sbatch", "--mail-type=END", "--wrap", "true")
    assert res.returncode == 0
    assert res.stderr == "sbatch: warning: --mail-type has no effect on the local backend (accepted; no mail is sent)\n"
    res = cluster.run("sbatch", "--wrap", "true", env={"FLOWSLURM_BACKEND": "nosuch"})
    assert (res.returncode, res.stderr) == (
        1, "sbatch: error: FLOWSLURM_BACKEND: 'nosuch' is not accepted; use local or mithril\n")
    res = cluster.run("sbatch", "-Q", "--mail-type=END", "--wrap", "true")
    assert (res.returncode, res.stdout, res.stderr) == (0, "", "")


def test_squeue_and_sacct_see_a_job_as_soon_as_sbatch_returns(cluster: Cluster) -> None:
    job = cluster.submit("--hold", "-J", "visible", "--wrap", "true")
    res = cluster.run("squeue", "-h", "-o", "%i %j %T %r")
    assert res.stdout == f"{job} visible PENDING JobHeldUser\n"
    res = cluster.run("sacct", "-X", "-n", "-P", "-o", "JobID,JobName,State", "-j", str(job))
    assert res.stdout == f"{job}|visible|PENDING\n"


def test_kill_on_invalid_dep_cancels_the_job(cluster: Cluster) -> None:
    first = int(cluster.run("sbatch", "--parsable", "--wait", "--wrap", "exit 1").stdout)
    job = cluster.submit(f"--dependency=afterok:{first}", "--kill-on-invalid-dep=yes", "--wrap", "true")
    assert cluster.wait_done(job) == "CANCELLED"
    assert _row(cluster, job, "reason") == ("DependencyNeverSatisfied",)


def test_deadline_priority_exclusive_and_export_file(cluster: Cluster) -> None:
    job = cluster.submit("--time=1", "--deadline=now+20", "--wrap", "true")
    assert cluster.wait_done(job) == "DEADLINE"
    assert _row(cluster, job, "reason", "exit_code", "exit_signal") == ("DeadLine", 0, 1)
    low = cluster.submit("--begin=now+1hour", "--nice=100", "--wrap", "true")
    high = cluster.submit("--begin=now+1hour", "--priority=4000000000", "--wrap", "true")
    assert _row(cluster, low, "priority") == (4294901760 - low - 100,)
    assert _row(cluster, high, "priority") == (4000000000,)
    assert cluster.run("scancel", str(low), str(high)).returncode == 0
    excl = cluster.submit("--exclusive", "--hold", "--wrap", "true")
    assert _row(cluster, excl, "num_cpus") == (8,)
    (cluster.workdir / "vars").write_bytes(b"ALPHA=1\0BETA=two words\0")
    job = cluster.submit("--export-file=vars", "--wrap", 'echo "$ALPHA $BETA"')
    cluster.wait_done(job)
    assert (cluster.workdir / f"slurm-{job}.out").read_text() == "1 two words\n"
    res = cluster.run("sbatch", "--signal=USR1@30", "--wrap", "true")
    assert res.returncode == 0 and res.stderr == ""  # honoured (tests/e2e/test_signals_requeue.py)
    res = cluster.run("sbatch", "--gpus-per-socket=1", "--wrap", "true")
    assert res.stderr == "sbatch: warning: --gpus-per-socket has no effect on the local backend (not implemented yet)\n"
