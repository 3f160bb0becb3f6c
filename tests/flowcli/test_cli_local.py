"""The `flow` CLI as a user runs it (bin/flow, real processes) on the local backend: output, exit
codes scripts rely on, errors without tracebacks, start-up cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.api.conftest import flow_cli
from tests.conftest import Cluster, wait_for

ROOT = Path(__file__).resolve().parents[2]


def flow(c: Cluster, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return flow_cli(c.env, c.workdir, *args, input=input)


def submitted_id(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Submitted task-"), res.stdout
    return res.stdout.split()[1]


def test_help_lists_every_command(cluster: Cluster) -> None:
    res = flow(cluster, "--help")
    assert res.returncode == 0
    for name in ("init", "run", "status", "logs", "ssh", "cancel", "instances", "volumes", "mount", "upload-code",
                 "completion", "dev"):
        assert f"\n  {name} " in res.stdout
    sub = flow(cluster, "run", "--help")
    assert "--max-price-per-hour" in sub.stdout and "--no-upload-code" in sub.stdout and sub.returncode == 0
    assert flow(cluster, "--version").stdout.startswith("flow (flowslurm) ")


def test_run_status_logs_and_squeue_agree(cluster: Cluster) -> None:
    task = submitted_id(flow(cluster, "run", "echo hi; echo there", "--name", "greeting"))
    job = task.removeprefix("task-")
    wait_for(lambda: cluster.state(int(job)) == "COMPLETED", timeout=30)
    listing = flow(cluster, "status").stdout
    assert task in listing and "greeting" in listing and "completed" in listing
    detail = json.loads(flow(cluster, "status", job, "--json").stdout)
    assert detail["task_id"] == task and detail["status"] == "completed" and detail["job_id"] == job
    assert flow(cluster, "logs", "greeting").stdout == "hi\nthere\n"
    assert flow(cluster, "logs", task, "--tail", "1").stdout == "there\n"
    assert flow(cluster, "logs", ":1", "-f").stdout == "hi\nthere\n"
    assert cluster.run("sacct", "-X", "-n", "-P", "-j", job, "-o", "JobName,State").stdout.strip() == \
        "greeting|COMPLETED"


def test_watch_streams_output_and_exit_codes(cluster: Cluster) -> None:
    ok = flow(cluster, "run", "--watch", "echo step one")
    assert ok.returncode == 0 and "step one\n" in ok.stdout and "completed" in ok.stderr
    bad = flow(cluster, "run", "-w", "--", "bash", "-c", 'echo "args: $*"; exit 5', "x", "a b")
    assert bad.returncode == 8, bad.stderr
    assert "args: a b\n" in bad.stdout and "failed: exit code 5" in bad.stderr


def test_errors_are_readable_with_scriptable_exit_codes(cluster: Cluster) -> None:
    cases = [
        (["bogus"], 2, "unknown command 'bogus'"),
        (["stauts"], 2, "Did you mean `flow status`?"),
        (["status", "--stat", "running"], 2, "Did you mean --state?"),
        (["logs", "424242"], 4, "no task '424242'"),
        (["run", "-i", "z100", "true"], 3, "unknown instance type 'z100'"),
        (["run", "-i", "a100", "true"], 5, "no Mithril API key"),
        (["run", "--max-run-time", "soon", "true"], 2, "--max-run-time"),
        (["volumes", "list"], 5, "flow init"),
        (["init", "--yes"], 2, "no API key given"),
        (["run"], 3, "needs a command"),
    ]
    for args, code, text in cases:
        res = flow(cluster, *args)
        assert res.returncode == code, (args, res.stderr)
        assert text in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr
    debug = flow(cluster, "--debug", "logs", "424242")
    assert debug.returncode == 4 and "Traceback" in debug.stderr


def test_yaml_and_slurm_files(cluster: Cluster) -> None:
    (cluster.workdir / "job.yaml").write_text("name: yaml-task\ncommand: echo lr=$LR\nenv:\n  LR: '0.1'\n")
    res = flow(cluster, "run", "job.yaml", "--watch", "--env", "LR=0.5")
    assert res.returncode == 0 and "lr=0.5" in res.stdout, res.stderr
    (cluster.workdir / "bad.yaml").write_text("name: x\ninstance: a100\nmax_run_time_hours: -1\n")
    bad = flow(cluster, "run", "bad.yaml")
    assert bad.returncode == 3
    assert "bad.yaml:2: instance: unknown field" in bad.stderr and "bad.yaml:3: max_run_time_hours" in bad.stderr
    (cluster.workdir / "job.slurm").write_text("#!/bin/bash\n#SBATCH -J slurm-task\n#SBATCH -t 5\necho got $FOO\n")
    res = flow(cluster, "run", "job.slurm", "--env", "FOO=bar", "--watch")
    assert res.returncode == 0 and "got bar" in res.stdout, res.stderr
    dry = flow(cluster, "run", "job.slurm", "--dry-run")
    assert dry.returncode == 0 and "to start at" in dry.stderr and "--parsable" not in dry.stderr
    plan = flow(cluster, "run", "--dry-run", "--json", "-c", "echo planned")
    assert json.loads(plan.stdout)["backend"] == "local"


def test_cancel_one_by_pattern_and_confirmation(cluster: Cluster) -> None:
    ids = [submitted_id(flow(cluster, "run", "sleep 30", "-n", name)) for name in ("dev-a", "dev-b", "other")]
    one = flow(cluster, "cancel", ids[2])
    assert one.returncode == 0 and f"Cancelled {ids[2]} (other)" in one.stdout
    refused = flow(cluster, "cancel", "--name-pattern", "dev-*")
    assert refused.returncode == 2 and "pass --yes" in refused.stderr and "dev-a" in refused.stderr
    assert "CANCELLED" not in {cluster.state(int(i.removeprefix("task-"))) for i in ids[:2]}
    done = flow(cluster, "cancel", "-n", "dev-*", "--yes")
    assert done.returncode == 0 and done.stdout.count("Cancelled") == 2
    for task in ids:
        cluster.wait_state(int(task.removeprefix("task-")), "CANCELLED")
    assert flow(cluster, "cancel", "-n", "dev-*", "--yes").stdout == "No live task matches.\n"


def test_ssh_runs_commands_and_shells_where_the_task_runs(cluster: Cluster) -> None:
    task = submitted_id(flow(cluster, "run", "sleep 30", "-n", "box"))
    wait_for(lambda: cluster.state(int(task.removeprefix("task-"))) == "RUNNING", timeout=20)
    res = flow(cluster, "ssh", "box", "--", "echo $SLURM_JOB_ID; pwd; exit 3")
    assert res.returncode == 3 and res.stdout.split() == [task.removeprefix("task-"), str(cluster.workdir)]
    shell = flow(cluster, "ssh", task, input="echo from-shell $FLOW_TASK_ID\nexit\n")
    assert shell.returncode == 0 and f"from-shell {task}" in shell.stdout
    assert flow(cluster, "upload-code", task).stdout.endswith("nothing to upload\n")
    flow(cluster, "cancel", task)


def test_instances_and_completion(cluster: Cluster) -> None:
    res = flow(cluster, "instances")
    assert res.returncode == 0 and "4xa100" in res.stdout and "8xh100" in res.stdout and "flow init" in res.stderr
    data = json.loads(flow(cluster, "instances", "--json").stdout)
    assert {r["name"] for r in data["instance_types"]} == {"a100", "4xa100", "8xa100", "h100", "8xh100"}
    bash = flow(cluster, "completion", "bash").stdout
    checked = subprocess.run(["bash", "-n"], input=bash, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "complete -o default -F _flow_complete flow" in bash and "--name-pattern" in bash
    assert "bashcompinit" in flow(cluster, "completion", "zsh").stdout


def _imports(args: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    code = f"import sys; sys.argv = ['flow', *{args!r}]; from flowslurm.cli.flow import main; main()"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env | {"PYTHONPATH": str(ROOT)},
                          cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def test_help_and_status_start_fast_and_lean(cluster: Cluster) -> None:
    flow(cluster, "run", "true")  # a ledger with a task in it
    heavy = {"pydantic", "httpx", "yaml", "paramiko", "json", "re", "enum", "datetime", "subprocess"}
    assert heavy & _imports(["--help"], cluster.env, cluster.workdir) == set()
    assert heavy & _imports(["status"], cluster.env, cluster.workdir) == set()
    env = cluster.env | {"PYTHONPATH": str(ROOT)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = "import sys; sys.argv = ['flow', *sys.argv[1:]]; from flowslurm.cli.flow import main; main()"
    for args in (["--help"], ["status"]):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=cluster.workdir, capture_output=True,
                           timeout=30, check=True)
            times.append(time.perf_counter() - start)
        # the peer's `flow --help` takes 0.185 s here; the target is well under half of it
        assert min(times) < 0.0925, (args, times)
    assert os.path.exists(ROOT / "benchmarks" / "bench_flow.py")


def test_man_page_is_generated_from_the_option_tables() -> None:
    from flowslurm.cli.flow.manpage import render

    page = (ROOT / "man" / "man1" / "flow.1").read_text()
    assert page == render(), "regenerate: python -m flowslurm.cli.flow.manpage > man/man1/flow.1"
    assert "\\-\\-name\\-pattern" in page and ".SH EXIT STATUS" in page
