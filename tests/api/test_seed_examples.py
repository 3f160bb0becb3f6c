"""Every example of shared/seed/flow-sdk-README.md, as written, in the order the document gives
them: on the local backend where the example has no instance type, through the Mithril emulator
program (real HTTP, sandbox instances with real sshds) where it has one.

What differs from the page, and why:
- ids such as "task-abc123" or "vol_abc123" are replaced by the real ids of tasks and volumes the
  test made (ours are task-12 and vol_...);
- a snippet that uses a variable defined elsewhere on the page (`config`, `task`) gets it from the
  example it refers to;
- cloud tasks a snippet only submits are cancelled after each test (the autouse fixture), so the
  emulator's instances do not pile up; the snippets that wait for a result run to the end.
- `flow dev` and `flow colab` are not part of this issue and are not tested here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import flow
from flow import Flow, TaskConfig
from tests.api.conftest import ROOT, Cloud
from tests.conftest import wait_for

TRAIN_PY = 'import sys\nprint("epoch 1 loss: 0.9")\nprint("epoch 2 loss: 0.5")\nprint("args", sys.argv[1:])\n'


def live_ids(cloud: Cloud) -> list[str]:
    from flowslurm.engine.ledger import Ledger

    ledger = Ledger.open(cloud.home)
    try:
        return [str(r[0]) for r in ledger.conn.execute(
            "SELECT job_id FROM jobs WHERE state IN ('PENDING','CONFIGURING','RUNNING','SUSPENDED')")]
    finally:
        ledger.close()


@pytest.fixture(autouse=True)
def seed_env(cloud_env: Cloud) -> Iterator[Cloud]:
    (cloud_env.workdir / "train.py").write_text(TRAIN_PY)
    yield cloud_env
    ids = live_ids(cloud_env)
    if ids:
        cloud_env.run("scancel", *ids)


def script_of(task: flow.Task) -> str:
    from flowslurm.engine.ledger import Ledger

    ledger = Ledger.open()
    try:
        return ledger.script(ledger.internal(task.job_id, "script_id")[0])[0]
    finally:
        ledger.close()


def cli(cloud: Cloud, line: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """A `flow ...` line as the page writes it, run by a shell."""
    res = subprocess.run(["bash", "-c", line], input=input, capture_output=True, text=True, env=cloud.env,
                         cwd=cloud.workdir, timeout=120)
    assert "Traceback" not in res.stderr, res.stderr
    return res


def task_of(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout.split()[1]


# -- "Launch GPU jobs instantly" and the workflow examples ----------------------------------------

def test_headline_and_workflow_examples(seed_env: Cloud) -> None:
    local = cli(seed_env, 'flow run -c "python train.py"')  # no instance type: this machine
    task = flow.get_task(task_of(local))
    assert task.backend == "local" and task.wait(timeout=30) == "completed" and "loss: 0.5" in task.logs()
    batch = cli(seed_env, 'flow run "python train.py" -i 8xh100')
    assert flow.get_task(task_of(batch)).instance_type == "8xh100"
    (seed_env.workdir / "job.yaml").write_text("name: from-yaml\ninstance_type: a100\ncommand: python train.py\n")
    assert flow.get_task(task_of(cli(seed_env, "flow run job.yaml"))).name == "from-yaml"
    (seed_env.workdir / "script.slurm").write_text("#!/bin/bash\n#SBATCH --job-name=slurm-train\n"
                                                   "#SBATCH --time=10\npython3 train.py\n")
    slurm = flow.get_task(task_of(cli(seed_env, "flow run script.slurm")))
    assert slurm.name == "slurm-train" and slurm.backend == "local"
    api = flow.run("train.py", instance_type="8xh100")
    assert api.backend == "mithril" and api.status in ("pending", "provisioning")
    assert "python train.py" in script_of(api)  # a .py file given alone is run with python


# -- Basic usage: Python API ----------------------------------------------------------------------

def test_python_api_basic_usage(seed_env: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    # Simple GPU job - automatically uploads your local code
    task = flow.run("python train.py", instance_type="a100")

    # Wait for completion
    task.wait()
    print(task.logs())

    # Full configuration
    config = TaskConfig(
        name="distributed-training",
        instance_type="8xa100",  # 8x A100 GPUs
        command=["python", "-m", "torch.distributed.launch",
                 "--nproc_per_node=8", "train.py"],
        volumes=[{"size_gb": 100, "mount_path": "/data"}],
        max_price_per_hour=25.0,  # Cost protection
        max_run_time_hours=24.0   # Time limit
    )
    task2 = flow.run(config)

    # Monitor execution
    print(f"Status: {task2.status}")
    print(f"Shell: {task2.shell_command}")
    print(f"Cost: {task2.cost_per_hour}")

    out = capsys.readouterr().out
    assert "epoch 2 loss: 0.5" in out and task.status == "completed"
    assert "Status: pending" in out or "Status: provisioning" in out
    assert task2.spec["time_limit"] == 24 * 60 and task2.instance_type == "8xa100"
    assert task2.spec["volumes"][0]["mount_path"] == "/data"  # a new 100 GB volume, made at submit


def test_code_upload_and_dependencies(seed_env: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    task = flow.run("python train.py", instance_type="a100")
    task = flow.run(
        "python /app/train.py",
        instance_type="a100",
        image="mycompany/training:latest",
        upload_code=False
    )
    assert task.spec["flow"]["upload_code"] is False and task.spec["flow"]["image"] == "mycompany/training:latest"
    task = flow.run(
        "pip install . && python train.py",
        instance_type="a100"
    )
    task = flow.run(
        "uv pip install . && python train.py",
        instance_type="a100"
    )
    task = flow.run(
        "python train.py",
        instance_type="a100",
        image="pytorch/pytorch:2.0.0-cuda11.8-cudnn8"  # PyTorch pre-installed
    )
    task = flow.run(
        "python train.py",
        instance_type="a100",
        image="123456789.dkr.ecr.us-east-1.amazonaws.com/my-ml-image:latest",
        env={
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
        }
    )
    assert set(task.spec["flow_task"]["env_keys"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


# -- Command line ---------------------------------------------------------------------------------

def test_command_line_block(seed_env: Cloud) -> None:
    dev = task_of(cli(seed_env, "flow run -i h100 --name dev-box"))  # first: it boots while the rest run
    launched = []
    for line, kind in (("flow run --instance-type 8xh100", "8xh100"), ("flow run -i 8xa100", "8xa100"),
                       ("flow run -i 4xa100", "4xa100")):
        launched.append(task_of(cli(seed_env, line)))
        assert flow.get_task(launched[-1]).instance_type == kind
    cli(seed_env, f"flow cancel {' '.join(launched)} --yes")  # only the submissions are the examples' point
    (seed_env.workdir / "config.yaml").write_text(
        "name: model-training\ninstance_type: 4xa100\ncommand: python train.py --epochs 100\n"
        "env:\n  BATCH_SIZE: \"256\"\n  LEARNING_RATE: \"0.001\"\nvolumes:\n  - size_gb: 500\n"
        "    mount_path: /data\n    name: training-data\nmax_price_per_hour: 20.0\nmax_run_time_hours: 72.0\n"
        "ssh_keys:\n  - my-ssh-key\n")
    from_config = task_of(cli(seed_env, "flow run config.yaml"))
    assert flow.get_task(from_config).spec["volumes"][0]["name"] == "training-data"
    cli(seed_env, f"flow cancel {from_config}")
    (seed_env.workdir / "job.yaml").write_text("name: watched\ncommand: python train.py\n")  # this machine
    watched = cli(seed_env, "flow run job.yaml --watch")
    assert watched.returncode == 0 and "epoch 2 loss: 0.5" in watched.stdout, watched.stderr
    watched_id = watched.stdout.split()[1]
    status = cli(seed_env, "flow status")
    assert "dev-box" in status.stdout and "watched" in status.stdout
    logs = cli(seed_env, f"flow logs {watched_id} -f")
    assert logs.stdout.startswith("epoch 1 loss: 0.9\n")
    wait_for(lambda: flow.get_task(dev).refresh().ssh_destination and flow.get_task(dev).status == "running",
             timeout=60, interval=0.2)
    shell = cli(seed_env, f"flow ssh {dev}", input="echo from-the-instance\nexit\n")
    assert "from-the-instance" in shell.stdout, shell.stderr
    # the dev box's code, sent again (the page's `flow upload-code <dev-vm-id>`), .flowignore honoured
    w = seed_env.workdir
    (w / "new.txt").write_text("uploaded later\n")
    (w / ".flowignore").write_text("secret.txt\n")
    (w / "secret.txt").write_text("stays here\n")
    up = cli(seed_env, f"flow upload-code {dev}")
    assert up.returncode == 0 and "Uploaded" in up.stdout, up.stderr
    check = cli(seed_env, "flow ssh dev-box -- 'cat new.txt; test -e secret.txt && echo leaked || echo ignored; "
                          "exit 7'")
    assert check.returncode == 7 and check.stdout == "uploaded later\nignored\n", check.stderr
    (w / ".flowignore").unlink()
    assert task_of(cli(seed_env, "flow run -i a100 --name dev-two 'sleep 60'"))
    cancel_one = cli(seed_env, f"flow cancel {dev}")
    assert cancel_one.returncode == 0 and "Cancelled" in cancel_one.stdout
    pattern = cli(seed_env, 'flow cancel --name-pattern "dev-*"')  # dev-two is the one left: no question
    assert pattern.returncode == 0 and "dev-two" in pattern.stdout
    none = cli(seed_env, 'flow cancel -n "flow-dev-*" --yes')
    assert none.returncode == 0 and "No live task matches" in none.stdout


# -- SLURM users and instance types ---------------------------------------------------------------

def test_slurm_users(seed_env: Cloud) -> None:
    (seed_env.workdir / "job.slurm").write_text("#!/bin/bash\n#SBATCH -J sbatch-style\n#SBATCH -t 1:00:00\n"
                                                "#SBATCH --gres=gpu:1\necho on $SLURM_JOB_ID\n")
    task = task_of(cli(seed_env, "flow run job.slurm -i a100"))
    t = flow.get_task(task)
    assert (t.name, t.backend, t.spec["time_limit"]) == ("sbatch-style", "mithril", 60)
    assert task in cli(seed_env, "flow status").stdout
    assert cli(seed_env, f"flow cancel {task}").returncode == 0


def test_instance_type_examples(seed_env: Cloud) -> None:
    tasks = [
        flow.run("python train.py", instance_type="a100"),     # Single GPU
        flow.run("python train.py", instance_type="4xa100"),   # Multi-GPU
        flow.run("python train.py", instance_type="8xh100"),   # Maximum performance
    ]
    assert [t.instance_type for t in tasks] == ["a100", "4xa100", "8xh100"]
    names = [t.spec["placement"]["instance_type_name"] for t in tasks]
    assert names == ["a100-80gb.sxm.1x", "a100-80gb.sxm.8x", "h100-80gb.sxm.8x"]


# -- Task management (on this machine: the Task API is the same for every backend) ----------------

def test_task_object_logging_ssh_and_extended_information(seed_env: Cloud, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    config = TaskConfig(name="managed", command="python3 train.py; sleep 30")
    # Get task handle
    task = flow.run(config)
    # Or retrieve existing
    task = flow.get_task(task.task_id)

    # Properties
    task.task_id          # Unique identifier
    task.status           # Current state
    task.shell_command    # Shell connection string
    task.cost_per_hour    # Current pricing
    task.created_at       # Submission time

    # Get recent logs
    wait_for(lambda: "loss: 0.5" in task.logs(), timeout=30)
    logs = task.logs(tail=100)

    # Run command
    monkeypatch.setenv("SHELL", "/bin/true")  # the interactive shell: ends at once in a test
    task.shell()
    task.shell("nvidia-smi")
    task.shell("tail -f /workspace/train.log")
    with pytest.raises(flow.errors.ValidationError):
        task.shell(node=1)  # Connect to specific node: this task has one

    # Get task creator
    user = task.get_user()
    print(f"Created by: {user.username} ({user.email})")

    # Get instance details
    instances = task.get_instances()
    for inst in instances:
        print(f"Node {inst.instance_id}:")
        print(f"  Public IP: {inst.public_ip}")
        print(f"  Private IP: {inst.private_ip}")
        print(f"  Status: {inst.status}")

    # Methods
    task.refresh()                # Update status
    task.cancel()                 # Terminate execution
    task.wait(timeout=3600)       # Block until complete

    # Stream in real-time
    for line in task.logs(follow=True):
        if "loss:" in line:
            print(line)

    out = capsys.readouterr().out
    assert "epoch 2 loss: 0.5" in logs and task.status == "cancelled"
    assert "Created by: " in out and "Node testnode:" in out and "  Public IP: 127.0.0.1" in out
    assert "epoch 1 loss: 0.9\nepoch 2 loss: 0.5\n" in out


# -- Persistent storage ---------------------------------------------------------------------------

def test_volume_management_and_dynamic_mounting(seed_env: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    # Create volume (currently creates block storage)
    with Flow() as client:
        vol = client.create_volume(size_gb=1000, name="datasets")

    # Use in task
    config = TaskConfig(
        name="training",
        instance_type="a100",
        command="python train.py",
        volumes=[{
            "volume_id": vol.volume_id,
            "mount_path": "/data"
        }]
    )

    # Or reference by name
    config.volumes = [{
        "name": "datasets",
        "mount_path": "/data"
    }]
    task = flow.run(config)
    assert task.spec["volumes"] == [{"volume_id": vol.volume_id, "name": "datasets", "mount_path": "/data",
                                     "interface": "block"}]
    assert task.region == vol.region  # placed where its volume is

    volumes = json.loads(cli(seed_env, "flow volumes list --json").stdout)
    region = next((v["region"] for v in volumes if v["name"] == "training-data"), vol.region)
    if not any(v["name"] == "training-data" for v in volumes):  # the CLI example's config.yaml may have made it
        assert cli(seed_env, f"flow volumes create --size 10 --name training-data --region {region}").returncode == 0
    job = task_of(cli(seed_env, f"flow run -i a100 --region {region} --name gpu-job-1 'sleep 60'"))
    wait_for(lambda: flow.get_task(job).refresh()._cloud.get("bid"), timeout=30, interval=0.1)
    volumes = json.loads(cli(seed_env, "flow volumes list --json").stdout)
    vol_id = next(v["volume_id"] for v in volumes if v["name"] == "training-data")
    for line in (f"flow mount {vol_id} {job}",        # By IDs
                 "flow mount training-data gpu-job-1",  # By names
                 "flow mount :1 :1"):                   # By indices
        mounted = cli(seed_env, line)
        assert mounted.returncode == 0, (line, mounted.stderr)

    # Python API
    print(flow.mount_volume("training-data", job))
    assert capsys.readouterr().out == "/mnt/training-data\n"


def test_docker_cache_optimization(seed_env: Cloud) -> None:
    # Create a persistent cache volume
    cache = flow.create_volume(size_gb=100, name="docker-cache")

    # Use it in your tasks
    task = flow.run(
        "python train.py",
        instance_type="a100",
        image="pytorch/pytorch:2.0.0-cuda11.8-cudnn8",
        volumes=[{
            "volume_id": cache.volume_id,
            "mount_path": "/var/lib/docker"
        }]
    )
    assert task.spec["volumes"][0]["volume_id"] == cache.volume_id


# -- Remote execution: invoke and the decorator ---------------------------------------------------

DECORATED = '''
from flow import function

@function(gpu="a100")
def train_model(data_path: str, epochs: int = 100):
    # Your ML code here
    return {"accuracy": 0.95}
'''

DRIVER = '''
from models import train_model

# Remote execution on GPU
result = train_model.remote("s3://data.csv", epochs=50)

# Local execution for testing
local_result = train_model("./local_data.csv")
print(result, local_result)
'''


def test_zero_import_remote_execution_and_decorator(seed_env: Cloud) -> None:
    w = seed_env.workdir
    (w / "models.py").write_text(DECORATED)
    (w / "driver.py").write_text(DRIVER)
    (w / "train_fn.py").write_text("def train_model(path):\n    return {'trained_on': path}\n")
    env = seed_env.env | {"PYTHONPATH": str(ROOT)}
    decorated = subprocess.Popen([sys.executable, "driver.py"], cwd=w, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # runs beside the invoke below
    try:
        from flow import invoke

        # Execute any function from any file on GPU
        result = invoke(
            "train_fn.py",        # Your existing Python file
            "train_model",        # Function name
            args=["s3://data"],   # Arguments
            gpu="a100"            # GPU type
        )
        out, err = decorated.communicate(timeout=120)
    finally:
        if decorated.poll() is None:
            decorated.kill()
    assert result == {"trained_on": "s3://data"}
    assert decorated.returncode == 0, err
    assert out == "{'accuracy': 0.95} {'accuracy': 0.95}\n"
    ran = [t for t in flow.list_tasks(name="fn-*")]
    assert {t.backend for t in ran} == {"mithril"} and {t.status for t in ran} == {"completed"}


# -- Data mounting --------------------------------------------------------------------------------

def get_secret(name: str) -> str:
    return {"aws_key": "AKIAEXAMPLE", "aws_secret": "secret-example"}[name]


def test_data_mounting(seed_env: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # restored (unset) after the test
        monkeypatch.setenv(name, "not-yet")
    # Mount S3 dataset
    with Flow() as client:
        task = client.submit(
            "python train.py --data /data",
            gpu="a100",
            mounts="s3://my-bucket/datasets/imagenet"
        )
    assert task.spec["flow_task"]["mounts"] == [
        {"target": "/data", "source": "s3://my-bucket/datasets/imagenet", "kind": "s3", "mode": "ro"}]

    # Mount multiple sources
    with Flow() as client:
        task = client.submit(
            "python train.py",
            gpu="a100:4",
            mounts={
                "/datasets": "s3://ml-bucket/imagenet",
                "/models": "volume://pretrained-models",  # Auto-creates if missing
                "/outputs": "volume://training-outputs"
            }
        )
    assert task.instance_type == "4xa100"
    made = {v.name: v.size_gb for v in flow.list_volumes()}
    assert made["pretrained-models"] == 100 and made["training-outputs"] == 100

    # Set AWS credentials (from secure source)
    os.environ["AWS_ACCESS_KEY_ID"] = get_secret("aws_key")
    os.environ["AWS_SECRET_ACCESS_KEY"] = get_secret("aws_secret")

    # Submit training with data mounting
    with Flow() as client:
        task = client.submit(
            """
            python train.py \\
                --data /datasets/train \\
                --validation /datasets/val \\
                --output /outputs
            """,
            gpu="a100:8",
            mounts={
                "/datasets": "s3://ml-datasets/imagenet",
                "/outputs": "volume://experiment-results"
            }
        )
    assert task.instance_type == "8xa100" and "--validation /datasets/val" in script_of(task)

    # Or use mounts parameter (simplified API)
    with Flow() as client:
        task = client.submit(
            "python analyze.py",
            gpu="a100",
            mounts={
                "/input": "s3://my-bucket/data/",
                "/output": "volume://results"
            }
        )
    assert [m["target"] for m in task.spec["flow_task"]["mounts"]] == ["/input"]


# -- Distributed training, advanced features: the configurations ----------------------------------

def test_distributed_and_advanced_configurations() -> None:
    config = TaskConfig(
        name="distributed-training",
        instance_type="8xa100",  # 8x A100 GPUs on single node
        command="torchrun --nproc_per_node=8 --standalone train.py"
    )
    config = TaskConfig(
        name="multi-node-training",
        instance_type="8xa100",
        num_instances=4,  # 32 GPUs total
        env={
            "FLOW_NODE_RANK": "0",  # Set per node: 0, 1, 2, 3
            "FLOW_NUM_NODES": "4",
            "FLOW_MAIN_IP": "10.0.0.1"  # IP of rank 0 node
        },
        command=[
            "torchrun",
            "--nproc_per_node=8",
            "--nnodes=4",
            "--node_rank=$FLOW_NODE_RANK",
            "--master_addr=$FLOW_MAIN_IP",
            "--master_port=29500",
            "train.py"
        ]
    )
    assert config.num_instances == 4
    config = TaskConfig(
        name="experiment",
        instance_type="a100",
        max_price_per_hour=5.0,  # Use spot if available
        max_run_time_hours=12.0  # Prevent runaway costs
    )
    # Custom container
    config.image = "pytorch/pytorch:2.0.0-cuda11.8-cudnn8"

    # Environment variables
    config.env = {
        "WANDB_API_KEY": "...",
        "HF_TOKEN": "...",
        "CUDA_VISIBLE_DEVICES": "0,1,2,3"
    }

    # Working directory
    config.working_dir = "/workspace"
    config = TaskConfig(
        name="s3-processing",
        instance_type="a100",
        command="python process.py",
        env={
            "AWS_ACCESS_KEY_ID": "...",
            "AWS_SECRET_ACCESS_KEY": "..."
        }
    )
    config = TaskConfig(
        name="resume-training",
        instance_type="a100",
        command="python train.py --resume",
        volumes=[{
            "name": "checkpoints",
            "mount_path": "/checkpoints"
        }]
    )
    assert config.volumes[0].name == "checkpoints"


def test_multi_node_config_is_refused_clearly_at_submit(seed_env: Cloud) -> None:
    config = TaskConfig(name="multi-node-training", instance_type="8xa100", num_instances=4, command="true")
    with pytest.raises(flow.errors.FlowError, match="one-node"):
        flow.run(config)


# -- Error handling -------------------------------------------------------------------------------

def test_error_handling(seed_env: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    from flow.errors import (
        FlowError,
        AuthenticationError,
        ResourceNotFoundError,
        ValidationError,
        QuotaExceededError
    )

    for config in (TaskConfig(name="ok", command="true"),  # runs
                   TaskConfig(name="bad", command="true", volumes=[{"size_gb": 5, "mount_path": "/d"}])):
        try:
            task = flow.run(config)
        except ValidationError as e:
            print(f"Configuration error: {e.message}")
            for suggestion in e.suggestions:
                print(f"  - {suggestion}")
        except QuotaExceededError as e:
            print(f"Quota exceeded: {e.message}")
            print("Suggestions:", e.suggestions)
        except FlowError as e:
            print(f"Error: {e}")
    out = capsys.readouterr().out
    assert "Configuration error: volumes need a cloud instance type" in out and "  - Give an instance_type" in out
    assert task.name == "ok"
    assert issubclass(AuthenticationError, FlowError) and issubclass(ResourceNotFoundError, FlowError)


# -- Common patterns: Jupyter, sweep ------------------------------------------------------------------

def test_jupyter_endpoint(seed_env: Cloud, capsys: pytest.CaptureFixture[str]) -> None:
    # Launch Jupyter server
    config = TaskConfig(
        name="notebook",
        instance_type="a100",
        command="jupyter lab --ip=0.0.0.0 --no-browser",
        ports=[8888],
        max_run_time_hours=8.0
    )
    task = flow.run(config)
    print(f"Access at: {task.endpoints['jupyter']}")
    out = capsys.readouterr().out
    assert out.startswith("Access at: http://127.0.0.1:8888"), out


def test_experiment_sweep(seed_env: Cloud) -> None:
    # Run multiple experiments
    for lr in [0.001, 0.01, 0.1]:
        config = TaskConfig(
            name=f"exp-lr-{lr}",
            instance_type="a100",
            command=f"python train.py --lr {lr}",
            env={"WANDB_RUN_NAME": f"lr_{lr}"}
        )
        flow.run(config)
    names = [t.name for t in flow.list_tasks(name="exp-lr-*")]
    assert sorted(names) == ["exp-lr-0.001", "exp-lr-0.01", "exp-lr-0.1"]
    squeue = subprocess.run([str(Path(ROOT) / "bin" / "squeue"), "-h", "-o", "%j %P"], capture_output=True,
                            text=True, env=seed_env.env, timeout=30)
    for name in names:
        assert f"{name} mithril" in squeue.stdout


def test_authentication_examples(seed_env: Cloud) -> None:
    init = cli(seed_env, f"flow init --api-key {seed_env.env['MITHRIL_API_KEY']} --yes")
    assert init.returncode == 0, init.stderr
    assert cli(seed_env, "flow status").returncode == 0
    (seed_env.home / "config.yaml").unlink()
