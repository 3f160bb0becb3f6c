"""Sandbox instances: a directory that stands in for the machine's filesystem, a real sshd, and the
bid's startup script, so a client can test what it does on an instance without a cloud.

Layout, for instance fid F under the emulator's state dir DIR:
    DIR/instances/F/root/          the instance's FLOW_ROOT: "/" of the emulated machine
    DIR/instances/F/hostkey        its own ed25519 host key (clients pin it per instance)
    DIR/instances/F/authorized_keys  the bid's registered public keys
    DIR/instances/F/sshd.pid, sshd.log, startup.sh
The startup script runs with bash as the emulator's own user (a real instance runs it as root),
in its own session, cwd root/, environment PATH (the emulator's), HOME=root/home/<ssh user>,
LANG=C.UTF-8, FLOW_ROOT=root; its output goes to root/var/log/startup-console.log. sshd sessions
get FLOW_ROOT too (`SetEnv`), so commands sent over SSH find the same tree.

Stopping sends SIGTERM to the script's process group, to every process carrying this FLOW_ROOT,
and to sshd with its connection handlers; whatever is left after the grace gets SIGKILL.
Processes are always addressed by pid or process group, never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from flowslurm.emulator import procs

STOP_GRACE_S = 2.0
SSHD_START_S = 10.0


class SandboxStopped(Exception):
    """The sandbox was stopped (its instance cancelled or preempted) before it could start."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Sandbox:
    """One emulated instance's machine. `start` and `stop` are serialized by a lock, and `stop`
    is final: a sandbox stopped before it started never starts."""

    def __init__(self, fid: str, directory: Path, ssh_user: str) -> None:
        self.fid = fid
        self.dir = directory
        self.root = directory / "root"
        self.ssh_user = ssh_user
        self.port: int | None = None
        self._sshd: subprocess.Popen[bytes] | None = None
        self._script: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopped = False  # no start from now on
        self._done = False  # stopped, and nothing of it is left: a later stop has nothing to signal
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def sshd_pid(self) -> int | None:
        return self._sshd.pid if self._sshd is not None else None

    @property
    def script_pid(self) -> int | None:
        return self._script.pid if self._script is not None else None

    @property
    def stopped(self) -> bool:
        return self._stopped

    def script_returncode(self) -> int | None:
        """The startup script's exit status once it has ended (polling reaps it)."""
        return self._script.poll() if self._script is not None else None

    def describe(self) -> dict[str, Any]:
        return {"_sandbox": str(self.dir), "_root": str(self.root), "_ssh_port": self.port,
                "_sshd_pid": self.sshd_pid, "_script_pid": self.script_pid,
                "_script_exit": self.script_returncode(), "_stopped": self._stopped}

    # -- starting ---------------------------------------------------------------------------------

    def start(self, public_keys: list[str], script: str | None) -> None:
        with self._lock:
            if self._stopped:
                raise SandboxStopped(self.fid)
            home = self.root / "home" / self.ssh_user
            home.mkdir(parents=True, exist_ok=True)
            (self.root / "var" / "log").mkdir(parents=True, exist_ok=True)
            self._write_private(self.dir / "authorized_keys", "".join(f"{k.strip()}\n" for k in public_keys))
            self._host_key()
            self._start_sshd()
            if script is not None:
                self._start_script(script, home)

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)

    def _host_key(self) -> None:
        key = self.dir / "hostkey"
        if not key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"emulator-{self.fid}",
                            "-f", str(key)], check=True, timeout=30, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _start_sshd(self) -> None:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.access(sshd, os.X_OK):
            raise RuntimeError("sshd not found: install openssh-server (sandbox instances need /usr/sbin/sshd)")
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", exist_ok=True)  # root's sshd insists on its privilege separation dir
        log = open(self.dir / "sshd.log", "ab")
        try:
            for _ in range(5):  # a port picked free can be taken before sshd binds it: pick again
                port = _free_port("127.0.0.1")
                proc = subprocess.Popen(
                    [sshd, "-D", "-e", "-f", "/dev/null", "-o", f"Port={port}", "-o", "ListenAddress=127.0.0.1",
                     "-o", f"HostKey={self.dir / 'hostkey'}",
                     "-o", f"AuthorizedKeysFile={self.dir / 'authorized_keys'}",
                     "-o", f"PidFile={self.dir / 'sshd.pid'}", "-o", "StrictModes=no",
                     "-o", "PermitRootLogin=prohibit-password", "-o", f"AllowUsers={self.ssh_user}",
                     "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
                     "-o", "Subsystem=sftp internal-sftp", "-o", f"SetEnv=FLOW_ROOT={self.root}",
                     "-o", "PrintMotd=no", "-o", "PrintLastLog=no", "-o", "UseDNS=no", "-o", "MaxStartups=100"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
                self._sshd = proc
                deadline = time.monotonic() + SSHD_START_S
                while proc.poll() is None and time.monotonic() < deadline:
                    if _listening("127.0.0.1", port):
                        self.port = port
                        return
                    time.sleep(0.01)
                if proc.poll() is None:
                    break  # alive but not listening: give up below
            tail = (self.dir / "sshd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"sshd for {self.fid} did not start listening: {tail}")
        finally:
            log.close()

    def _start_script(self, script: str, home: Path) -> None:
        path = self.dir / "startup.sh"
        path.write_text(script)
        path.chmod(0o700)
        env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": str(home),
               "LANG": "C.UTF-8", "FLOW_ROOT": str(self.root)}
        with open(self.root / "var" / "log" / "startup-console.log", "ab") as console:
            self._script = subprocess.Popen(["bash", str(path)], cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                            stdout=console, stderr=subprocess.STDOUT, start_new_session=True)

    # -- preemption notice ------------------------------------------------------------------------

    def signal_preemption(self, end_time: str) -> None:
        """Write the notice Mithril leaves on a spot instance about to be taken back."""
        notice = self.root / "opt" / "mithril"
        notice.mkdir(parents=True, exist_ok=True)
        tmp = notice / ".MITHRIL_SIGNAL.yml.tmp"
        tmp.write_text(f"instance_status: STATUS_PREEMPTING\nend_time: {end_time}\n")
        tmp.replace(notice / "MITHRIL_SIGNAL.yml")  # readers never see half a file

    # -- stopping ---------------------------------------------------------------------------------

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM everything of this sandbox, SIGKILL what is left after `grace` seconds."""
        with self._lock:
            self._stopped = True
            if self._done:
                return
            pgid = self._script.pid if self._script is not None else None
            sshd = self._sshd.pid if self._sshd is not None and self._sshd.poll() is None else None

            def remaining() -> set[int]:
                found = set(procs.with_env("FLOW_ROOT", str(self.root)))
                if pgid is not None:
                    found.update(procs.group(pgid))
                found.update(pid for pid in handlers if procs.alive(pid))
                return found

            handlers = set(procs.descendants(sshd)) if sshd is not None else set()
            if sshd is not None:
                handlers.add(sshd)
            if pgid is not None:
                _signal_group(pgid, signal.SIGTERM)
            for pid in remaining():
                _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            left = remaining()
            while left and time.monotonic() < deadline:
                time.sleep(0.02)
                left = remaining()
            if left:
                if pgid is not None:
                    _signal_group(pgid, signal.SIGKILL)
                for pid in left:
                    _signal(pid, signal.SIGKILL)
            for proc in (self._script, self._sshd):
                if proc is not None:
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        pass
            self._wait_gone(remaining, 5.0)
            self._done = True

    @staticmethod
    def _wait_gone(remaining: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while remaining() and time.monotonic() < deadline:
            time.sleep(0.02)


class Sandboxes:
    """All sandboxes of one emulator, by instance fid. Stops run in background threads so an HTTP
    answer (a DELETE of the bid) never waits for the grace; `stop_all` waits for every one."""

    def __init__(self, directory: Path, ssh_user: str) -> None:
        self.dir = directory
        self.ssh_user = ssh_user
        self._boxes: dict[str, Sandbox] = {}
        self._stoppers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closing = False
        directory.mkdir(parents=True, exist_ok=True)

    def create(self, fid: str) -> Sandbox:
        with self._lock:
            box = Sandbox(fid, self.dir / fid, self.ssh_user)
            self._boxes[fid] = box
            return box

    def start(self, fid: str, public_keys: list[str], script: str | None) -> Sandbox:
        with self._lock:
            box = self._boxes[fid]
            if self._closing:
                raise SandboxStopped(fid)
        box.start(public_keys, script)
        return box

    def signal_preemption(self, fid: str, end_time: str) -> None:
        box = self._boxes.get(fid)
        if box is not None:
            box.signal_preemption(end_time)

    def describe(self, fid: str) -> dict[str, Any]:
        box = self._boxes.get(fid)
        return box.describe() if box is not None else {}

    def reap(self) -> None:
        """Collect ended startup scripts, so they do not linger as zombies."""
        for box in list(self._boxes.values()):
            box.script_returncode()

    def stop_later(self, fid: str) -> None:
        box = self._boxes.get(fid)
        if box is None:
            return
        thread = threading.Thread(target=box.stop, name=f"stop-{fid}", daemon=True)
        with self._lock:
            self._stoppers = [t for t in self._stoppers if t.is_alive()] + [thread]
        thread.start()

    def stop_all(self, timeout: float = 30.0) -> None:
        """Stop every sandbox (in parallel) and wait, bounded, for pending stops too."""
        with self._lock:
            self._closing = True
            boxes = list(self._boxes.values())
        threads = [threading.Thread(target=box.stop, name=f"stop-{box.fid}", daemon=True) for box in boxes]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads += self._stoppers
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
