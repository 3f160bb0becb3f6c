"""The instance-side agent, run for real by the startup script in a FLOW_ROOT sandbox: the job goes
through the local backend under its own id (SLURM_* as a local job's, srun steps on the instance,
cancel, exit codes) and the bid cancels itself against a loopback HTTP server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowslurm.providers.mithril import agent, startup
from flowslurm.providers.mithril.secrets import split_secrets
from tests.conftest import wait_for
from tests.mithril.test_startup import (
    API_KEY, FAST, BidServer, Instance, make_job, running_bid_server, sandboxed_instance,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    yield from sandboxed_instance(tmp_path)


@pytest.fixture
def api() -> Iterator[BidServer]:
    yield from running_bid_server()

ENV_SCRIPT = """#!/bin/bash
#SBATCH --ntasks=2
echo "id=$SLURM_JOB_ID restart=$SLURM_RESTART_COUNT name=$SLURM_JOB_NAME"
echo "submit=$SLURM_SUBMIT_DIR pwd=$(pwd)"
echo "node=$SLURMD_NODENAME ntasks=$SLURM_NTASKS"
echo "public=$PUBLIC_VAR secret=$WANDB_API_KEY"
echo "srun=$(command -v srun) root=$FLOW_ROOT"
cat data/input.txt
srun -n 2 hostname
srun -n 2 bash -c 'echo "task $SLURM_PROCID of $SLURM_NTASKS in step $SLURM_STEP_ID"' | sort
"""


def test_job_runs_as_a_local_job_with_its_own_id(instance: Instance, api: BidServer) -> None:
    environ = {"PATH": "/usr/bin:/bin", "HOME": "/Users/alice", "PUBLIC_VAR": "visible", "TMPDIR": "/var/folders/x",
               "WANDB_API_KEY": "wandb-secret-value", "FLOWSLURM_BACKEND": "mithril", "FLOWSLURM_CPUS": "99"}
    public, secret = split_secrets(environ)
    job = make_job(ENV_SCRIPT, job_id=4242, restart_count=2, environ=public, api_url=api.url, bid="bid_env",
                   name="envjob", ntasks=2, ntasks_given=True)
    text = startup.build_startup_script(job, **FAST)
    assert "wandb-secret-value" not in text and secret == {"WANDB_API_KEY": "wandb-secret-value"}
    instance.boot(text)
    instance.upload(files={"data/input.txt": "uploaded data\n"}, secret=secret, api_key=API_KEY)
    record = instance.wait_exit()
    assert record["state"] == "COMPLETED" and record["exit_code"] == 0 and record["signal"] == 0
    assert record["start_time"] <= record["end_time"]
    ws = instance.workspace
    host = socket.gethostname().split(".")[0]
    assert instance.output(4242).splitlines() == [
        "id=4242 restart=2 name=envjob",
        f"submit={ws} pwd={ws}",
        f"node={host} ntasks=2",
        "public=visible secret=wandb-secret-value",
        f"srun={instance.root}/opt/flowslurm/bin/srun root={instance.root}",
        "uploaded data",
        host, host,
        "task 0 of 2 in step 1", "task 1 of 2 in step 1",
    ]
    assert api.calls == [("DELETE", "/v2/spot/bids/bid_env", f"Bearer {API_KEY}")]
    log = instance.log()
    assert "wandb-secret-value" not in log and API_KEY not in log and "bid bid_env cancelled" in log
    assert oct((instance.state / "exit.json").stat().st_mode & 0o777) == "0o644"
    # the instance's own flowslurm answers about the job under the same id
    home = instance.state / "home"
    sacct = subprocess.run([str(instance.root / "opt/flowslurm/bin/sacct"), "-j", "4242", "-n", "-P", "-o",
                            "JobID,State,ExitCode"], capture_output=True, text=True, timeout=30,
                           env=dict(instance.env, FLOWSLURM_HOME=str(home)))
    assert sacct.stdout.splitlines()[:2] == ["4242|COMPLETED|0:0", "4242.batch|COMPLETED|0:0"], sacct.stderr


def test_exit_code_is_failed_and_status_reports_it(instance: Instance) -> None:
    job = make_job("#!/bin/bash\necho before\nexit 3\n", ssh_user="no-such-user")  # then it runs as itself
    instance.boot(startup.build_startup_script(job, **FAST))
    instance.upload()
    record = instance.wait_exit()
    assert (record["state"], record["exit_code"], record["signal"]) == ("FAILED", 3, 0)
    assert instance.output() == "before\n"
    assert "no api.key: the bid cannot cancel itself" in instance.log()
    proc = subprocess.run([sys.executable, "-m", "flowslurm.providers.mithril.agent", "status"], capture_output=True,
                          text=True, timeout=30, env=dict(instance.env, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"status": "done", "exit": record, "state": "FAILED", "job_id": 12}


def test_cancel_marker_cancels_the_running_job(instance: Instance, api: BidServer) -> None:
    job = make_job("#!/bin/bash\necho started\nsleep 60\necho never\n", api_url=api.url)
    job["bid"] = None  # as the client writes it: the bid's fid comes with the upload
    instance.boot(startup.build_startup_script(job, **FAST))
    instance.upload(api_key=API_KEY, bid="bid_uploaded\n")
    wait_for(lambda: (instance.workspace / "slurm-12.out").exists() and "started" in instance.output(), timeout=15)
    assert agent.status(str(instance.state))["state"] == "RUNNING"
    (instance.state / "cancel").touch()
    record = instance.wait_exit()
    assert (record["state"], record["exit_code"]) == ("CANCELLED", 0)
    assert "never" not in instance.output() and "CANCELLED AT" in instance.output()
    assert api.calls == [("DELETE", "/v2/spot/bids/bid_uploaded", f"Bearer {API_KEY}")]
    assert instance.leftovers() == []


def test_self_cancel_retries_and_never_shows_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = BidServer(answers=[503, 429, 204, 401])
    try:
        (tmp_path / "api.key").write_text(API_KEY + "\n")
        job = {"bid": "bid_a/b", "api_url": server.url + "/"}
        waits: list[float] = []
        assert agent.self_cancel(job, str(tmp_path), sleep=waits.append)
        assert [c[1] for c in server.calls] == ["/v2/spot/bids/bid_a%2Fb"] * 3 and waits == [1.0, 2.0]
        assert not agent.self_cancel(job, str(tmp_path), sleep=waits.append)  # 401: no point retrying
        assert len(server.calls) == 4 and all(c[2] == f"Bearer {API_KEY}" for c in server.calls)
        assert not agent.self_cancel({"bid": "b"}, str(tmp_path))
    finally:
        server.close()
    assert API_KEY not in capsys.readouterr().err


def test_paths_and_missing_script(tmp_path: Path) -> None:
    assert agent.local_path("/workspace/out.txt", "/sb") == "/sb/workspace/out.txt"
    assert agent.local_path("/dev/null", "/sb") == "/dev/null"
    assert agent.local_path("logs/x.out", "/sb", "/sb/workspace") == "/sb/workspace/logs/x.out"
    with pytest.raises(ValueError):
        agent.load_script({"job_id": 1}, str(tmp_path))
    (tmp_path / "var/lib/flowslurm").mkdir(parents=True)
    (tmp_path / "var/lib/flowslurm/script").write_text("#!/bin/sh\n")
    assert agent.load_script({"script_file": "/var/lib/flowslurm/script"}, str(tmp_path)) == "#!/bin/sh\n"


def test_a_job_the_agent_cannot_start_is_node_fail(tmp_path: Path) -> None:
    """The client never uploaded the script it had to (script_file): NODE_FAIL, not a bid left running."""
    state = tmp_path / "var/lib/flowslurm"
    state.mkdir(parents=True)
    rendered = startup.render(make_job("#!/bin/bash\n: " + os.urandom(20_000).hex() + "\n"))
    assert rendered.script_upload
    job = rendered.job
    (state / "job.json").write_text(json.dumps(job))
    proc = subprocess.run([sys.executable, "-m", "flowslurm.providers.mithril.agent", "run", str(state / "job.json")],
                          capture_output=True, text=True, timeout=30, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "FLOW_ROOT": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1
    assert "cannot run the job: FileNotFoundError" in proc.stderr and "no api.key" in proc.stderr
    assert json.loads((state / "exit.json").read_text())["state"] == "NODE_FAIL"
    assert agent.main(["bogus"]) == 2


def test_a_finished_instance_waits_for_its_output_to_be_collected(tmp_path: Path) -> None:
    import threading

    marker = tmp_path / "collected"
    timer = threading.Timer(0.3, marker.write_text, args=("",))
    timer.start()
    try:
        started = time.monotonic()
        assert agent.wait_collected(str(tmp_path), 30.0)  # the client came: no need to wait out the linger
        assert time.monotonic() - started < 10
    finally:
        timer.cancel()
    marker.unlink()
    started = time.monotonic()
    assert not agent.wait_collected(str(tmp_path), 0.3)  # nobody came: the instance cancels itself anyway
    assert 0.3 <= time.monotonic() - started < 10
