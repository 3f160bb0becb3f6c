"""The startup script a bid's instance runs at boot, run for real: bash under FLOW_ROOT=<sandbox>,
the client's upload played by copying files into the sandbox, the API played by a stdlib HTTP
server on loopback. No sshd and no cloud: what is tested is what the instance does by itself
(the ready gate, the size forms, quoting, the backstop, self-cancel)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flowslurm.engine.spec import JobSpec
from flowslurm.providers.mithril import startup, upload
from flowslurm.providers.mithril.secrets import is_secret_name, split_secrets
from tests.conftest import processes_with_env, wait_for

API_KEY = "fkey_TestKey0123456789abcdef"


def make_job(script: str, *, job_id: int = 12, restart_count: int = 0, environ: dict[str, str] | None = None,
             argv: list[str] | None = None, api_url: str = "http://127.0.0.1:9", bid: str = "bid_test",
             time_limit_s: int | None = None, ssh_user: str | None = None, **spec_kw: Any) -> dict[str, Any]:
    """job.json as the client writes it: the engine's spec JSON (as the local backend stores it),
    instance paths without FLOW_ROOT, secrets already split out of `environ`."""
    spec = JobSpec(script=script, name=spec_kw.pop("name", "job"), user="alice", submit_dir="/home/alice/proj",
                   work_dir="/home/alice/proj", **spec_kw)
    spec.extra.update(umask="0022", submit_host="laptop")
    data = spec.to_json()
    data.pop("array", None)
    data.update(spec.extra)
    out = f"/workspace/slurm-{job_id}.out"
    if ssh_user is None:
        import pwd

        ssh_user = pwd.getpwuid(os.getuid()).pw_name  # as root, the script really goes through runuser
    return {
        "job_id": job_id, "restart_count": restart_count, "name": spec.name, "user": "alice", "script": script,
        "argv": argv or [], "environ": environ or {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/alice"},
        "spec": data, "work_dir": "/workspace", "stdout": out, "stderr": out, "stdin": "/dev/null",
        "time_limit_s": time_limit_s, "bid": bid, "api_url": api_url, "ssh_user": ssh_user, "num_nodes": 1,
        "linger_s": 0,  # no client here to collect the output: self-cancel at once
    }


def install_package(dest: Path) -> None:
    """What the client's upload puts in $FLOW_ROOT/opt/flowslurm, copied here without SSH."""
    for path, arcname in upload.package_files():
        (dest / arcname).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / arcname)
    (dest / "bin").mkdir(parents=True, exist_ok=True)
    for name, data in upload.shim_scripts().items():
        (dest / "bin" / name).write_bytes(data)
        (dest / "bin" / name).chmod(0o755)


class Instance:
    """A sandbox standing in for one Mithril instance: FLOW_ROOT=root, the startup script run by bash."""

    def __init__(self, root: Path, bindir: Path, home: Path) -> None:
        self.root = root
        self.state = root / "var/lib/flowslurm"
        self.workspace = root / "workspace"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "FLOWSLURM_"))}
        self.env.update(
            FLOW_ROOT=str(root), PATH=f"{bindir}:{self.env.get('PATH', '/usr/bin:/bin')}", HOME=str(home),
            FLOWSLURM_CPUS="4", FLOWSLURM_MEMORY_MB="8192", FLOWSLURM_GPUS="0", FLOWSLURM_KILL_WAIT="1",
            FLOWSLURM_OUTPUT_DIR_WAIT="1",
        )

    def boot(self, text: str) -> None:
        path = self.root.parent / "startup.sh"
        path.write_text(text)
        self.proc = subprocess.Popen(["bash", str(path)], env=self.env, start_new_session=True)

    def upload(self, *, files: dict[str, str] | None = None, secret: dict[str, str] | None = None,
               api_key: str | None = None, script: str | None = None, bid: str | None = None,
               ready: bool = True) -> None:
        """What the client does over SSH once `status` says waiting-upload."""
        wait_for(lambda: self.read("status") == "waiting-upload", timeout=10)
        install_package(self.root / "opt/flowslurm")
        for name, content in (files or {}).items():
            (self.workspace / name).parent.mkdir(parents=True, exist_ok=True)
            (self.workspace / name).write_text(content)
        for name, content in (("env.secret", json.dumps(secret) if secret is not None else None),
                              ("api.key", api_key), ("script", script), ("bid", bid)):
            if content is not None:
                self.put(name, content)
        if ready:
            (self.state / "ready").touch()

    def put(self, name: str, content: str) -> None:
        """A private file in the state dir (mode 0600), as the client uploads env.secret and api.key."""
        self.state.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.state / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)

    def read(self, name: str) -> str:
        try:
            return (self.state / name).read_text().strip()
        except FileNotFoundError:
            return ""

    def wait_exit(self, timeout: float = 20) -> dict[str, Any]:
        """exit.json once the startup script has finished (status done)."""
        assert self.proc is not None
        self.proc.wait(timeout)
        assert self.read("status") == "done", self.log()
        return dict(json.loads(self.read("exit.json")))

    def output(self, job_id: int = 12) -> str:
        return (self.workspace / f"slurm-{job_id}.out").read_text()

    def log(self) -> str:
        path = self.root / "var/log/flowslurm/startup.log"
        return path.read_text() if path.exists() else ""

    def leftovers(self) -> list[int]:
        return processes_with_env(f"FLOWSLURM_HOME={self.state}/home\0".encode())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.leftovers():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if sig == signal.SIGTERM:
                deadline = time.monotonic() + 3
                while self.leftovers() and time.monotonic() < deadline:
                    time.sleep(0.05)


def sandboxed_instance(tmp_path: Path) -> Iterator[Instance]:
    """One sandboxed instance, stopped after use; `python3` is this interpreter (without the venv: the
    instance has only the standard library and the uploaded package)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(os.path.realpath(sys.executable))
    root = tmp_path / "r"  # short: the engine's unix socket lives under it
    root.mkdir()
    inst = Instance(root, bindir, tmp_path)
    try:
        yield inst
    finally:
        inst.stop()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    yield from sandboxed_instance(tmp_path)


class BidServer:
    """The one API call an instance makes: DELETE /v2/spot/bids/<bid>, recorded with its bearer key."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.answers = list(answers or [])
        calls, answers_left = self.calls, self.answers

        class Handler(BaseHTTPRequestHandler):
            def do_DELETE(self) -> None:  # noqa: N802 - http.server's name
                calls.append(("DELETE", self.path, self.headers.get("Authorization", "")))
                code = answers_left.pop(0) if answers_left else 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def running_bid_server() -> Iterator[BidServer]:
    server = BidServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def api() -> Iterator[BidServer]:
    yield from running_bid_server()


FAST = dict(poll_s=0.1, kill_wait_s=1)


# ---- rendering -------------------------------------------------------------------------------------

def test_small_script_is_inline_quoted_and_holds_no_secret() -> None:
    public, secret = split_secrets({"PATH": "/bin", "MITHRIL_API_KEY": "fkey_x", "HF_TOKEN": "hf_y", "FOO": "1"})
    job = make_job("#!/bin/bash\necho hi\n", environ=public, bid="bid_'x'$(id)", ssh_user="ubu'ntu")
    rendered = startup.render(job)
    assert rendered.strategy == "inline" and not rendered.script_upload
    assert rendered.text == startup.build_startup_script(job) and not startup.needs_script_upload(job)
    assert "fkey_x" not in rendered.text and "hf_y" not in rendered.text
    assert "BID='bid_'\"'\"'x'\"'\"'$(id)'" in rendered.text and "SSH_USER='ubu'\"'\"'ntu'" in rendered.text
    assert startup.size(rendered.text) <= startup.INLINE_MAX_CHARS
    subprocess.run(["bash", "-n"], input=rendered.text.encode(), check=True)


def test_secret_names() -> None:
    for name in ("MITHRIL_API_KEY", "WANDB_API_KEY", "HF_TOKEN", "GITHUB_TOKEN", "DB_PASSWORD", "MY_SECRET",
                 "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "GOOGLE_APPLICATION_CREDENTIALS", "openai_api_key"):
        assert is_secret_name(name), name
    for name in ("PATH", "HOME", "CUDA_VISIBLE_DEVICES", "AWS_REGION", "KEYBOARD", "MONKEY"):
        assert not is_secret_name(name), name
    public, secret = split_secrets({"A": "1", "HF_TOKEN": "t", "B": "2"})
    assert public == {"A": "1", "B": "2"} and secret == {"HF_TOKEN": "t"}


def test_size_forms_are_deterministic_and_fit() -> None:
    lines = "".join(f"echo step {i}: preparing shard {i % 17} of the dataset\n" for i in range(300))
    medium = make_job("#!/bin/bash\n" + lines)
    rendered = startup.render(medium)
    assert rendered.strategy == "gzip" and not rendered.script_upload
    assert rendered.text == startup.render(medium).text  # gzip mtime 0: the same bid text every time
    assert startup.size(rendered.text) <= startup.MAX_CHARS
    huge = make_job("#!/bin/bash\n# " + os.urandom(60_000).hex() + "\ntrue\n")
    rendered = startup.render(huge)
    assert rendered.script_upload and startup.needs_script_upload(huge)
    assert "script" not in rendered.job and rendered.job["script_file"] == startup.SCRIPT_FILE
    assert startup.size(rendered.text) <= startup.MAX_CHARS
    with pytest.raises(startup.StartupScriptTooLarge):
        startup.render(make_job("true\n", environ={f"V{i}": os.urandom(40).hex() for i in range(400)}))


# ---- running it --------------------------------------------------------------------------------------

def test_compressed_script_runs(instance: Instance) -> None:
    lines = "".join(f"echo line {i} of a long script\n" for i in range(400))
    job = make_job("#!/bin/bash\n" + lines + "echo \"job $SLURM_JOB_ID done\"\n")
    rendered = startup.render(job, **FAST)
    assert rendered.strategy == "gzip"
    instance.boot(rendered.text)
    instance.upload()
    assert instance.wait_exit()["state"] == "COMPLETED"
    out = instance.output()
    assert "line 399 of a long script" in out and out.endswith("job 12 done\n")
    assert (instance.state / "startup.sh").stat().st_mode & 0o777 == 0o600  # unpacked under umask 077


def test_enormous_script_is_uploaded_as_script_file(instance: Instance) -> None:
    script = "#!/bin/bash\n" + "".join(f": {os.urandom(30).hex()}\n" for i in range(2000)) + "echo tail-$1\n"
    job = make_job(script, argv=["x y"])
    rendered = startup.render(job, **FAST)
    assert rendered.script_upload and startup.size(rendered.text) <= startup.MAX_CHARS
    instance.boot(rendered.text)
    instance.upload(script=script)
    assert "script" not in json.loads(instance.read("job.json"))
    assert instance.wait_exit()["state"] == "COMPLETED"
    assert instance.output() == "tail-x y\n"


def test_no_upload_is_node_fail_and_self_cancel(instance: Instance, api: BidServer) -> None:
    job = make_job("#!/bin/bash\ntrue\n", api_url=api.url, bid="bid_noupload")
    instance.put("api.key", API_KEY)  # the key made it, the rest never did
    instance.boot(startup.build_startup_script(job, upload_wait_s=1, **FAST))
    record = instance.wait_exit()
    assert record["state"] == "NODE_FAIL" and record["exit_code"] == 0
    assert api.calls == [("DELETE", "/v2/spot/bids/bid_noupload", f"Bearer {API_KEY}")]
    assert API_KEY not in instance.log() and "no upload within 1s" in instance.log()


def test_backstop_kills_the_job_after_its_limit(instance: Instance, api: BidServer) -> None:
    """The shepherd's own limit is out of the way (spec without --time): only the startup script's
    backstop can end this job, as when the agent hangs and the submitting machine is off."""
    job = make_job("#!/bin/bash\necho started\nsleep 60 &\nsleep 60\n", api_url=api.url, time_limit_s=1)
    job["spec"]["time_limit"] = None
    job["bid"] = None  # as the client writes it: the bid's fid comes with the upload
    instance.boot(startup.build_startup_script(job, grace_s=0, **FAST))
    instance.upload(api_key=API_KEY, bid="bid_uploaded")
    record = instance.wait_exit(timeout=20)
    assert record["state"] == "TIMEOUT" and record["signal"] == 15
    assert record["end_time"] - record["start_time"] >= 1
    assert "time limit (1s) and grace (0s) are over" in instance.log()
    assert instance.leftovers() == []
    assert api.calls == [("DELETE", "/v2/spot/bids/bid_uploaded", f"Bearer {API_KEY}")]


def test_cancel_before_start_and_restart_after_end(instance: Instance) -> None:
    job = make_job("#!/bin/bash\ntrue\n")
    text = startup.build_startup_script(job, **FAST)
    instance.boot(text)
    instance.upload(ready=False)
    (instance.state / "cancel").touch()
    assert instance.wait_exit()["state"] == "CANCELLED"
    first = instance.read("exit.json")
    instance.boot(text)  # the instance reboots: the job ended already, nothing runs again
    instance.wait_exit()
    assert instance.read("exit.json") == first and not (instance.workspace / "slurm-12.out").exists()


def test_nothing_runs_from_the_job_values(instance: Instance, tmp_path: Path) -> None:
    """Quotes, $(...), backticks and newlines in every value the job gives, as data and never as code."""
    pwned = tmp_path / "pwned"
    nasty = f"it's \"q\" $(touch {pwned}) `touch {pwned}` \\ \n second line $HOME"
    script = f"#!/bin/bash\n# {nasty.replace(chr(10), ' ')}\nprintf '%s|' \"$NASTY\" \"$@\"\necho\n"
    job = make_job(script, name=nasty, argv=[nasty, "$(id)"], bid=f"bid_{nasty}", environ={"NASTY": nasty})
    job["user"] = nasty
    instance.boot(startup.build_startup_script(job, **FAST))
    instance.upload()
    assert instance.wait_exit()["state"] == "COMPLETED"
    assert instance.output() == f"{nasty}|{nasty}|$(id)|\n"
    assert json.loads(instance.read("job.json")) == job
    assert not pwned.exists()
