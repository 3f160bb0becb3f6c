"""`Emulator`: the emulator program as a test fixture, for any test file that needs a Mithril.

    with Emulator(tmp_path / "mithril", allocate_after=0.2, boot_after=0.2) as mithril:
        client = MithrilClient(api_key=mithril.api_key, base_url=mithril.url)
        ...
        mithril.preempt(bid=fid)

It runs `python -m flowslurm.emulator` as a subprocess (real process, real HTTP, real sshds),
waits a bounded time for the ready line, and on exit stops it with SIGTERM and checks that it
exited 0, reported no internal error, and left no sandbox process or sshd behind. The key goes to
the child through its environment, never its command line.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any

from flowslurm.emulator import procs
from flowslurm.emulator.state import DEFAULT_API_KEY

READY = "Mithril emulator listening on "
_ROOT = str(Path(__file__).resolve().parents[2])


class Emulator:
    """A running `python -m flowslurm.emulator` (use it as a context manager)."""

    def __init__(self, state_dir: Path, *, api_key: str = DEFAULT_API_KEY, allocate_after: float = 0.2,
                 boot_after: float = 0.2, ssh_user: str | None = None, manual_clock: bool = False,
                 extra_args: tuple[str, ...] = (), start_timeout: float = 30.0) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.api_key = api_key
        self.url = ""
        self.start_timeout = start_timeout
        self._args = [sys.executable, "-m", "flowslurm.emulator", "--port", "0", "--state-dir", str(self.state_dir),
                      "--allocate-after", str(allocate_after), "--boot-after", str(boot_after), *extra_args]
        if ssh_user is not None:
            self._args += ["--ssh-user", ssh_user]
        if manual_clock:
            self._args.append("--manual-clock")
        self._proc: subprocess.Popen[str] | None = None
        self._client: Any = None
        self.returncode: int | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop(check=kind is None)

    def start(self) -> Emulator:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MITHRIL_EMULATOR_API_KEY=self.api_key)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        log = open(self.state_dir / "emulator.log", "ab")
        try:
            self._proc = subprocess.Popen(self._args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=log, env=env, text=True)
        finally:
            log.close()
        try:
            line = self._ready_line()
        except BaseException:
            self.stop(check=False)
            raise
        self.url = line[len(READY):].strip()
        return self

    def _ready_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        deadline = time.monotonic() + self.start_timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    line = self._proc.stdout.readline()
                    if line.startswith(READY):
                        return line
                    raise AssertionError(f"emulator said {line!r} instead of its ready line; log:\n{self.log()}")
        raise AssertionError(f"emulator not ready after {self.start_timeout}s; log:\n{self.log()}")

    def log(self) -> str:
        """What the emulator wrote to stderr (its own log)."""
        try:
            return (self.state_dir / "emulator.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, check: bool = True) -> None:
        """SIGTERM the emulator, wait (bounded), then check what it left behind."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        errors: list[str] = []
        pids: set[int] = set()
        if proc.poll() is None:
            try:
                snap = self.state()
                errors = snap["internal_errors"]
                for inst in snap["instances"]:
                    pids.update(p for p in (inst.get("_sshd_pid"), inst.get("_script_pid")) if p)
            except Exception:
                pass
            proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.returncode = proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._client is not None:
            self._client.close()
            self._client = None
        left = self.leftovers(pids)
        for pid in left:  # never leave them running, even when the check fails
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if check:
            assert self.returncode == 0, f"emulator exited {self.returncode}; log:\n{self.log()}"
            assert not errors, errors[0]
            assert "internal error" not in self.log(), self.log()
            assert not left, f"emulator left processes behind: {left}; log:\n{self.log()}"

    def leftovers(self, pids: Collection[int] = (), wait: float = 3.0) -> list[int]:
        """Live processes of this emulator's sandboxes: carrying one of its FLOW_ROOTs, an sshd
        configured from its state dir, or a pid it reported."""
        deadline = time.monotonic() + wait
        while True:
            found = set(procs.with_env("FLOW_ROOT", f"{self.state_dir}/instances/", prefix=True))
            found.update(procs.with_cmdline(f"{self.state_dir}/instances/"))
            found.update(pid for pid in pids if procs.alive(pid))
            if not found or time.monotonic() > deadline:
                return sorted(found)
            time.sleep(0.05)

    # -- HTTP -------------------------------------------------------------------------------------

    @property
    def http(self) -> Any:
        """An httpx.Client on the emulator (no auth header: add it, or use `api`)."""
        if self._client is None:
            import httpx

            self._client = httpx.Client(base_url=self.url, timeout=10.0)
        return self._client

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One authenticated API request; the decoded JSON answer (None for an empty one).
        Raises AssertionError on an error status."""
        headers = {"Authorization": f"Bearer {self.api_key}", **kwargs.pop("headers", {})}
        resp = self.http.request(method, path, headers=headers, **kwargs)
        assert resp.status_code < 400, f"{method} {path}: HTTP {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def _admin(self, method: str, name: str, body: dict[str, Any] | None = None) -> Any:
        resp = self.http.request(method, f"/_emulator/{name}", json=body)
        assert resp.status_code < 400, f"{method} /_emulator/{name}: HTTP {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def fault(self, kind: str = "status", times: int = 1, **fields: Any) -> dict[str, Any]:
        """Queue a fault: kind "status" (fields status, retry_after, detail), "drop" (after_handling)
        or "delay" (seconds); method and path (a prefix) select the requests it hits."""
        return self._admin("POST", "faults", {"kind": kind, "times": times, **fields})  # type: ignore[no-any-return]

    def preempt(self, instance: str | None = None, bid: str | None = None,
                grace_s: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"instance": instance, "bid": bid}
        if grace_s is not None:
            body["grace_s"] = grace_s
        body = {k: v for k, v in body.items() if v is not None}
        return self._admin("POST", "preempt", body)  # type: ignore[no-any-return]

    def capacity(self, instance_type: str, region: str, capacity: int, **prices: int) -> dict[str, Any]:
        body = {"instance_type": instance_type, "region": region, "capacity": capacity, **prices}
        return self._admin("POST", "capacity", body)  # type: ignore[no-any-return]

    def pause_allocation(self, paused: bool = True) -> None:
        self._admin("POST", "allocation", {"paused": paused})

    def advance(self, steps: int = 1) -> None:
        """Only for an emulator started with manual_clock=True."""
        self._admin("POST", "advance", {"steps": steps})

    def requests(self) -> list[dict[str, Any]]:
        return self._admin("GET", "requests")  # type: ignore[no-any-return]

    def clear_requests(self) -> None:
        self._admin("DELETE", "requests")

    def state(self) -> dict[str, Any]:
        return self._admin("GET", "state")  # type: ignore[no-any-return]

    # -- conveniences -----------------------------------------------------------------------------

    def project_fid(self, name: str = "default") -> str:
        return str(next(p["fid"] for p in self.api("GET", "/v2/projects") if p["name"] == name))

    def instance_type_fid(self, name: str) -> str:
        return str(next(t["fid"] for t in self.api("GET", "/v2/instance-types") if t["name"] == name))

    def instance(self, fid: str) -> dict[str, Any]:
        """An instance as /_emulator/state shows it (with its sandbox fields)."""
        return next(i for i in self.state()["instances"] if i["fid"] == fid)
