"""The Python API on the local backend: real jobs, one ledger shared with the SLURM commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import flow
from flow import Flow, TaskConfig
from flow.errors import FlowError, TaskNotFoundError, TimeoutError, ValidationError
from tests.conftest import Cluster, wait_for


def test_run_a_command_returns_a_task_that_squeue_and_sacct_see(flow_env: Cluster) -> None:
    task = flow.run("echo hello; echo oops >&2")
    assert task.task_id == f"task-{task.job_id}"
    assert task.backend == "local" and task.instance_type == "local"
    assert task.wait(timeout=30) == "completed"
    assert task.logs() == "hello\noops\n"
    assert task.exit_code == 0 and task.is_terminal
    assert task.created_at.tzinfo is not None and task.completed_at is not None
    listed = flow_env.run("sacct", "-X", "-n", "-P", "-j", str(task.job_id), "-o", "JobID,JobName,State")
    assert listed.stdout.strip() == f"{task.job_id}|flow-task|COMPLETED"
    assert not list(flow_env.workdir.iterdir())  # the log lives in the flowslurm home, not here


def test_failure_is_reported_with_its_exit_code(flow_env: Cluster) -> None:
    task = flow.run(TaskConfig(name="fails", command="exit 3"))
    assert task.wait(timeout=30) == "failed"
    assert task.exit_code == 3 and "exit code 3" in task.message
    with pytest.raises(flow.errors.TaskFailedError) as err:
        task.wait(check=True)
    assert err.value.suggestions


def test_task_config_becomes_the_job_sbatch_would_make(flow_env: Cluster) -> None:
    config = TaskConfig(name="exp-lr-0.1", command=["python3", "-c", "import os; print(os.environ['LR'])"],
                        env={"LR": 0.1}, max_run_time_hours=0.5)
    task = flow.run(config)
    task.wait(timeout=30)
    assert task.logs() == "0.1\n"
    row = flow_env.run("sacct", "-X", "-n", "-P", "-j", str(task.job_id), "-o", "JobName,Timelimit,State")
    assert row.stdout.strip() == "exp-lr-0.1|00:30:00|COMPLETED"


def test_list_commands_expand_variables_as_the_seed_expects(flow_env: Cluster) -> None:
    task = flow.run(TaskConfig(command=["echo", "--node_rank=$FLOW_NODE_RANK", "it's"], env={"FLOW_NODE_RANK": "2"}))
    task.wait(timeout=30)
    assert task.logs() == "--node_rank=2 it's\n"


def test_sbatch_jobs_are_tasks_and_ids_take_every_form(flow_env: Cluster) -> None:
    job_id = flow_env.submit("-J", "from-sbatch", "--wrap", "echo via sbatch")
    flow_env.wait_done(job_id)
    for ref in (job_id, str(job_id), f"task-{job_id}", "from-sbatch", ":1"):
        task = flow.get_task(ref)
        assert task.job_id == job_id and task.name == "from-sbatch", ref
    assert flow.get_task(job_id).logs() == "via sbatch\n"
    assert [t.task_id for t in flow.list_tasks()] == [f"task-{job_id}"]
    with pytest.raises(TaskNotFoundError) as err:
        flow.get_task("from-sbtach")
    assert "from-sbatch" in err.value.suggestions[0]


def test_cancel_logs_tail_and_follow(flow_env: Cluster) -> None:
    task = flow.run("for i in 1 2 3 4 5; do echo line $i; done; echo loss: 0.5; sleep 30", name="sleeper")
    lines = []
    for line in task.logs(follow=True):
        lines.append(line)
        if line.startswith("loss:"):
            break
    assert lines[-1] == "loss: 0.5"
    assert task.logs(tail=2) == "line 5\nloss: 0.5\n"
    assert task.refresh().status == "running"
    assert task.cancel() is True
    assert task.wait(timeout=30) == "cancelled"
    assert task.cancel() is False  # idempotent
    assert flow_env.state(task.job_id) == "CANCELLED"


def test_wait_timeout_leaves_the_task_running(flow_env: Cluster) -> None:
    task = flow.run("sleep 30")
    with pytest.raises(TimeoutError) as err:
        task.wait(timeout=0.2)
    assert isinstance(err.value, FlowError) and "still" in err.value.message
    assert task.refresh().status in ("pending", "running")
    flow.cancel(task.task_id)


def test_flow_client_context_manager(flow_env: Cluster) -> None:
    with Flow() as client:
        task = client.submit("echo from client", name="client-task")
        assert client.get_task(task.task_id) == task
        task.wait(timeout=30)
        assert client.list_tasks(status="completed")[0].name == "client-task"
        assert client.logs(task.task_id) == "from client\n"
        assert client.list_tasks(name="client-*") and not client.list_tasks(name="other-*")


def test_local_shell_instances_and_user(flow_env: Cluster) -> None:
    task = flow.run("sleep 30", name="box")
    wait_for(lambda: task.refresh().status == "running", timeout=20)
    status, out, _ = task.shell("pwd; echo $SLURM_JOB_ID", capture=True)
    assert status == 0 and out.split() == [str(flow_env.workdir), str(task.job_id)]
    assert task.shell("exit 4") == 4
    [inst] = task.get_instances()
    assert inst.instance_id == "testnode" and inst.public_ip == "127.0.0.1"
    assert task.get_user().username == task.spec["user"]
    assert str(flow_env.workdir) in (task.shell_command or "")
    with pytest.raises(ValidationError):
        task.shell("true", node=1)
    task.cancel()


def test_ports_give_local_endpoints(flow_env: Cluster) -> None:
    task = flow.run(TaskConfig(name="notebook", command="true", ports=[8888]))
    assert task.endpoints == {"8888": "http://localhost:8888", "jupyter": "http://localhost:8888"}


def test_working_dir_and_yaml_and_slurm_files(flow_env: Cluster) -> None:
    sub = flow_env.workdir / "sub"
    sub.mkdir()
    task = flow.run("pwd", working_dir="/workspace/sub")
    task.wait(timeout=30)
    assert task.logs().strip() == str(sub)
    (flow_env.workdir / "job.yaml").write_text("name: from-yaml\ncommand: echo yaml $A\nenv:\n  A: 1\n")
    from_yaml = flow.run("job.yaml", wait=True)
    assert (from_yaml.name, from_yaml.logs()) == ("from-yaml", "yaml 1\n")
    (flow_env.workdir / "job.slurm").write_text("#!/bin/bash\n#SBATCH -J from-slurm\necho slurm $SLURM_JOB_ID\n")
    from_slurm = flow.run("job.slurm", wait=True)
    assert (from_slurm.name, from_slurm.logs()) == ("from-slurm", f"slurm {from_slurm.job_id}\n")


def test_dry_run_creates_nothing(flow_env: Cluster) -> None:
    plan = flow.run("echo hi", dry_run=True)
    assert plan.backend == "local" and "echo hi" in plan.spec.script
    assert flow.list_tasks() == []


def test_local_tasks_refuse_cloud_only_settings(flow_env: Cluster) -> None:
    with pytest.raises(ValidationError, match="volumes need a cloud"):
        flow.run("true", volumes=[{"size_gb": 10, "mount_path": "/data"}])
    with pytest.raises(ValidationError, match="mounts need a cloud"):
        Flow().submit("true", mounts="s3://bucket/data")
    with pytest.raises(ValidationError, match="num_instances"):
        TaskConfig(command="true", num_instances=2)


def test_import_flow_is_lazy_and_typed() -> None:
    code = ("import sys, flow; assert 'pydantic' not in sys.modules, 'pydantic at import';"
            "flow.TaskConfig; assert 'pydantic' in sys.modules; print(sorted(flow.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert out.returncode == 0, out.stderr
    for name in ("Flow", "Task", "TaskConfig", "run", "get_task", "function", "invoke", "mount_volume", "errors"):
        assert name in out.stdout
    assert (Path(flow.__file__).parent / "py.typed").exists()
    import flowslurm.api

    assert flow.__all__ == flowslurm.api.__all__
    documented = (Path(__file__).resolve().parents[2] / "docs" / "python-api.md").read_text()
    assert all(f"`{name}`" in documented for name in flow.__all__)
    for name in flow.__all__:
        assert getattr(flow, name) is not None
