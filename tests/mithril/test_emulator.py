"""The emulator program (`python -m flowslurm.emulator`) over real HTTP and real SSH: its ready
line, sandbox instances with their own sshd and startup script, cancel, preemption, faults and
capacity. Every test runs the program as a subprocess; its fixture checks nothing is left behind."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paramiko
import pytest

from flowslurm.emulator import procs
from flowslurm.emulator.state import DEFAULT_API_KEY
from flowslurm.emulator.testing import Emulator
from tests.conftest import ROOT, wait_for

A100 = "a100-80gb.sxm.1x"
REGION = "us-central1-a"
STATUS_SCRIPT = """#!/bin/bash
mkdir -p "$FLOW_ROOT/var/lib/flowslurm"
env > "$FLOW_ROOT/var/lib/flowslurm/script.env"
pwd > "$FLOW_ROOT/var/lib/flowslurm/script.cwd"
echo running > "$FLOW_ROOT/var/lib/flowslurm/status"
sleep 300
"""


@pytest.fixture
def keypair(tmp_path: Path) -> Path:
    """A client key made the way a user would (ssh-keygen), private half at the returned path."""
    path = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30)
    return path


def place_bid(mithril: Emulator, name: str, script: str | None, keys: list[str] | None = None,
              **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project": mithril.project_fid(), "region": REGION, "instance_type": mithril.instance_type_fid(A100),
        "limit_price": "$2.00", "instance_quantity": 1, "name": name,
        "launch_specification": {"ssh_keys": keys or [], "volumes": [], "startup_script": script},
    }
    body.update(overrides)
    return mithril.api("POST", "/v2/spot/bids", json=body)  # type: ignore[no-any-return]


def register_key(mithril: Emulator, keypair: Path) -> str:
    public = keypair.with_suffix(".pub").read_text().strip()
    created = mithril.api("POST", "/v2/ssh-keys", json={"project": mithril.project_fid(), "name": "laptop",
                                                        "public_key": public})
    return str(created["fid"])


def instances_of(mithril: Emulator, bid: str) -> list[dict[str, Any]]:
    page = mithril.api("GET", "/v2/instances", params={"project": mithril.project_fid(), "bid_fid_in": bid})
    return page["data"]  # type: ignore[no-any-return]


def running_instance(mithril: Emulator, bid: str, timeout: float = 15.0) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        found = [i for i in instances_of(mithril, bid) if i["status"] == "STATUS_RUNNING"]
        return found[0] if found else None

    return wait_for(running, timeout)  # type: ignore[return-value]


def connect(mithril: Emulator, inst: dict[str, Any], keypair: Path) -> paramiko.SSHClient:
    """Log in as a client must: the user the emulator names, the host key pinned (here: read from
    the sandbox, so a wrong key would fail rather than be trusted)."""
    host, port = inst["ssh_destination"].rsplit(":", 1)
    sandbox = Path(mithril.instance(inst["fid"])["_sandbox"])
    kind, blob = (sandbox / "hostkey.pub").read_text().split()[:2]
    client = paramiko.SSHClient()
    pinned = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    client.get_host_keys().add(f"[{host}]:{port}", kind, pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(host, port=int(port), username=mithril.state()["ssh_user"], key_filename=str(keypair),
                   look_for_keys=False, allow_agent=False, timeout=10)
    return client


def run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, _ = client.exec_command(command, timeout=10)
    return str(stdout.read().decode())


# -- the program ---------------------------------------------------------------------------------------

def test_help_documents_every_option() -> None:
    out = subprocess.run([sys.executable, "-m", "flowslurm.emulator", "--help"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    for option in ("--port", "--host", "--state-dir", "--api-key", "MITHRIL_EMULATOR_API_KEY", "--allocate-after",
                   "--boot-after", "--ssh-user", "/_emulator/faults", "/_emulator/preempt", "/_emulator/capacity",
                   "/_emulator/allocation", "/_emulator/requests", "/_emulator/state", "FLOW_ROOT"):
        assert option in out.stdout, option


def test_ready_line_then_sigint_exits_0_and_removes_its_temporary_state() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MITHRIL_EMULATOR_API_KEY"}
    proc = subprocess.Popen([sys.executable, "-m", "flowslurm.emulator", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    watchdog = threading.Timer(30, proc.kill)  # bounds the readline below if the program hangs
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.fullmatch(r"Mithril emulator listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert url and int(url.group(2)) > 0, line
        answer = httpx.get(f"{url.group(1)}/v2/projects", headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"})
        assert answer.status_code == 200 and [p["name"] for p in answer.json()] == ["default", "research"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out == ""  # the ready line was the only thing on stdout
    state_dir = re.search(r"state in (\S+)", err)
    assert state_dir and not Path(state_dir.group(1)).exists()


# -- sandbox instances ---------------------------------------------------------------------------------

def test_a_running_instance_has_its_own_sshd_and_runs_the_startup_script(mithril_program: Emulator,
                                                                          keypair: Path, tmp_path: Path) -> None:
    mithril = mithril_program
    placed = place_bid(mithril, "job-1", STATUS_SCRIPT, [register_key(mithril, keypair)])
    inst = running_instance(mithril, placed["fid"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", inst["ssh_destination"])
    internal = mithril.instance(inst["fid"])
    root = Path(internal["_root"])
    assert root == mithril.state_dir / "instances" / inst["fid"] / "root"
    with connect(mithril, inst, keypair) as client:
        assert run(client, 'printf %s "$FLOW_ROOT"') == str(root)
        status = f"{root}/var/lib/flowslurm/status"
        wait_for(lambda: run(client, f"cat {status} 2>/dev/null") == "running\n", 10)
        with client.open_sftp() as sftp:
            with sftp.open(f"{root}/var/lib/flowslurm/script.env") as fh:
                env = dict(line.split("=", 1) for line in fh.read().decode().splitlines() if "=" in line)
    user = mithril.state()["ssh_user"]
    assert env["FLOW_ROOT"] == str(root) and env["HOME"] == f"{root}/home/{user}" and env["LANG"] == "C.UTF-8"
    assert env["PATH"] == os.environ["PATH"]
    assert (root / "var/lib/flowslurm/script.cwd").read_text().strip() == str(root)
    assert (root / "home" / user).is_dir() and (root / "var/log/startup-console.log").exists()
    assert os.getpgid(internal["_script_pid"]) == internal["_script_pid"]  # its own process group
    assert (Path(internal["_sandbox"]) / "sshd.pid").read_text().strip() == str(internal["_sshd_pid"])
    stranger = tmp_path / "stranger"  # a key never registered through /v2/ssh-keys
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True, timeout=30)
    with pytest.raises(paramiko.AuthenticationException):
        connect(mithril, inst, stranger)


def test_cancel_terminates_and_kills_everything_even_what_ignores_sigterm(mithril_program: Emulator,
                                                                          keypair: Path) -> None:
    mithril = mithril_program
    script = STATUS_SCRIPT.replace("sleep 300", "trap '' TERM\nsleep 300")
    placed = place_bid(mithril, "job-1", script, [register_key(mithril, keypair)])
    inst = running_instance(mithril, placed["fid"])
    internal = mithril.instance(inst["fid"])
    root = Path(internal["_root"])
    wait_for(lambda: (root / "var/lib/flowslurm/status").exists(), 10)
    with connect(mithril, inst, keypair) as client:  # a daemon started over SSH escapes the session...
        daemon = int(run(client, "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!"))
    assert procs.alive(daemon) and procs.group(internal["_script_pid"])
    started = time.monotonic()
    assert mithril.http.delete(f"/v2/spot/bids/{placed['fid']}",
                               headers={"Authorization": f"Bearer {mithril.api_key}"}).status_code == 204
    assert time.monotonic() - started < 1.0  # the answer does not wait for the kill grace
    bid = mithril.api("GET", f"/v2/spot/bids/{placed['fid']}")
    assert bid["status"] == "Terminated" and bid["deactivated_at"]
    assert [i["status"] for i in instances_of(mithril, placed["fid"])] == ["STATUS_TERMINATED"]
    wait_for(lambda: not procs.alive(internal["_sshd_pid"]), 5)
    wait_for(lambda: not procs.group(internal["_script_pid"]) and not procs.alive(daemon), 10)
    assert time.monotonic() - started >= 1.9  # ...and TERM was ignored, so it took the SIGKILL after 2 s
    assert not mithril.leftovers(wait=0)


def test_preemption_signals_then_reopens_the_bid_with_a_fresh_instance(mithril_program: Emulator,
                                                                       keypair: Path) -> None:
    mithril = mithril_program
    placed = place_bid(mithril, "job-1", STATUS_SCRIPT, [register_key(mithril, keypair)])
    first = running_instance(mithril, placed["fid"])
    first_root = Path(mithril.instance(first["fid"])["_root"])
    wait_for(lambda: (first_root / "var/lib/flowslurm/status").exists(), 10)
    first_pids = mithril.instance(first["fid"])
    mithril.pause_allocation(True)  # so the Open bid can be seen before it is allocated again
    notice = mithril.preempt(instance=first["fid"], grace_s=1.0)
    assert notice["bid"] == placed["fid"] and notice["instances"] == [first["fid"]]
    assert mithril.api("GET", f"/v2/spot/bids/{placed['fid']}")["status"] == "Preempting"
    assert [i["status"] for i in instances_of(mithril, placed["fid"])] == ["STATUS_PREEMPTING"]
    signal_file = (first_root / "opt/mithril/MITHRIL_SIGNAL.yml").read_text()
    assert "instance_status: STATUS_PREEMPTING\n" in signal_file
    assert re.search(r"^end_time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", signal_file, re.M)
    wait_for(lambda: mithril.api("GET", f"/v2/spot/bids/{placed['fid']}")["status"] == "Open", 10)
    assert [i["status"] for i in instances_of(mithril, placed["fid"])] == ["STATUS_PREEMPTED"]
    wait_for(lambda: not procs.alive(first_pids["_sshd_pid"]) and not procs.group(first_pids["_script_pid"]), 5)
    mithril.pause_allocation(False)
    second = running_instance(mithril, placed["fid"])
    assert second["fid"] != first["fid"] and second["ssh_destination"] != first["ssh_destination"]
    second_root = Path(mithril.instance(second["fid"])["_root"])
    wait_for(lambda: (second_root / "var/lib/flowslurm/status").exists(), 10)  # the script ran from scratch
    assert not (second_root / "opt/mithril/MITHRIL_SIGNAL.yml").exists()
    with connect(mithril, second, keypair) as client:
        assert run(client, 'printf %s "$FLOW_ROOT"') == str(second_root)


# -- faults and the market -----------------------------------------------------------------------------

def test_faults_are_seen_by_a_plain_http_client(mithril_program: Emulator) -> None:
    mithril = mithril_program
    auth = {"Authorization": f"Bearer {mithril.api_key}"}
    mithril.fault("status", times=1, status=503, retry_after="3", path="/v2/projects")
    with httpx.Client(base_url=mithril.url, timeout=5.0) as client:
        failed = client.get("/v2/projects", headers=auth)
        assert failed.status_code == 503 and failed.json() == {"detail": "Service Unavailable"}
        assert failed.headers["Retry-After"] == "3"
        assert client.get("/v2/projects", headers=auth).status_code == 200  # one time only
        mithril.fault("drop", method="GET", path="/v2/instance-types")
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v2/instance-types", headers=auth)
        assert client.get("/v2/instance-types", headers=auth).status_code == 200
    log = mithril.requests()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/v2/projects", 503), ("GET", "/v2/projects", 200),
        ("GET", "/v2/instance-types", None), ("GET", "/v2/instance-types", 200)]
    assert mithril.api_key not in str(log)  # the Authorization header is never logged


def test_capacity_0_keeps_a_bid_open_until_capacity_returns(mithril_program: Emulator) -> None:
    mithril = mithril_program
    market = mithril.capacity(A100, REGION, 0)
    assert market["capacity"] == 0 and market["free"] == 0
    placed = place_bid(mithril, "job-1", None)
    assert placed["status"] == "Open"
    availability = {(a["instance_type"], a["region"]): a for a in mithril.api("GET", "/v2/spot/availability")}
    assert availability[(placed["instance_type"], REGION)]["capacity"] == 0
    deadline = time.monotonic() + 0.6  # three times --allocate-after: it would have been allocated by now
    while time.monotonic() < deadline:
        assert mithril.api("GET", f"/v2/spot/bids/{placed['fid']}")["status"] == "Open"
        time.sleep(0.05)
    mithril.capacity(placed["instance_type"], REGION, 1)
    wait_for(lambda: mithril.api("GET", f"/v2/spot/bids/{placed['fid']}")["status"] == "Allocated", 10)
    logged = [r for r in mithril.requests() if r["method"] == "POST"]
    assert logged[0]["body"]["name"] == "job-1"  # bodies are in the request log


def test_manual_clock_moves_only_when_advanced(tmp_path: Path) -> None:
    with Emulator(tmp_path / "mithril", manual_clock=True) as mithril:
        placed = place_bid(mithril, "job-1", STATUS_SCRIPT)
        assert mithril.api("GET", f"/v2/spot/bids/{placed['fid']}")["status"] == "Open"
        mithril.advance()
        assert [i["status"] for i in instances_of(mithril, placed["fid"])] == ["STATUS_NEW"]
        mithril.advance(4)  # the step that reaches RUNNING boots the sandbox before it answers
        inst = instances_of(mithril, placed["fid"])[0]
        assert inst["status"] == "STATUS_RUNNING"
        host, port = inst["ssh_destination"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            assert sock.recv(64).startswith(b"SSH-2.0-")  # sshd is already listening
