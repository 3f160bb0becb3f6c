"""A real OpenSSH server on loopback for tests: a stand-in for one Mithril instance's sshd.

It follows /work/shared/env/sshd.md: no system config (`-f /dev/null`), its own host key and
authorized_keys in a test directory, a free port, and `SetEnv=FLOW_ROOT=<dir>` so sessions see
the instance sandbox the shared contract describes. It runs in the foreground (`-D`) as our child,
and is stopped by pid, together with the per-connection sshd processes it forked (found by
parent pid), never by name.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.providers.mithril.remote import Remote

SSHD = "/usr/sbin/sshd"


def available() -> bool:
    """Whether this machine can run the loopback sshd (the tests skip otherwise)."""
    import shutil

    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def free_port() -> int:
    """A port nothing listens on now (bound then released: good enough on loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A new key pair (ed25519 or ecdsa: both fast) at path (private) and path.pub, no passphrase."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "flowslurm-test", "-f", str(path)],
                   check=True, capture_output=True, timeout=30)
    return path


def _children(pid: int) -> list[int]:
    """Every live descendant of pid, from /proc's parent links."""
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        parents[int(name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(kids)
        frontier.extend(kids)
    return found


class Sshd:
    """One sshd listening on 127.0.0.1:port, with `authorized_keys` and `host_key` given."""

    def __init__(self, workdir: Path, flow_root: Path, authorized_keys: Path, host_key: Path,
                 port: int | None = None) -> None:
        self.workdir = workdir
        self.flow_root = flow_root
        self.authorized_keys = authorized_keys
        self.host_key = host_key
        self.port = port or free_port()
        self.log_path = workdir / f"sshd-{self.port}-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def destination(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Sshd:
        """Start it and wait (bounded) until it listens."""
        with contextlib.suppress(PermissionError):
            os.makedirs("/run/sshd", exist_ok=True)  # privilege separation dir, needed when root
        cmd = [SSHD, "-D", "-e", "-f", "/dev/null",
               "-o", f"Port={self.port}", "-o", "ListenAddress=127.0.0.1",
               "-o", f"HostKey={self.host_key}", "-o", f"AuthorizedKeysFile={self.authorized_keys}",
               "-o", "StrictModes=no", "-o", f"PidFile={self.workdir / 'sshd.pid'}",
               "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no",
               "-o", "KbdInteractiveAuthentication=no", "-o", "UsePAM=no", "-o", "LogLevel=INFO",
               "-o", "Subsystem=sftp internal-sftp",
               "-o", f"SetEnv=FLOW_ROOT={self.flow_root}"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        ready = f"Server listening on 127.0.0.1 port {self.port}"
        end = time.monotonic() + timeout
        while ready not in self.log():
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log()}")
            if time.monotonic() > end:
                self.stop()
                raise RuntimeError(f"sshd not listening after {timeout}s: {self.log()}")
            time.sleep(0.01)
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Stop the listener and every session process it forked, by pid."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        kids = _children(proc.pid) if proc.poll() is None else []
        kids += [pid for pid in _in_sandbox(self.flow_root) if pid not in kids]
        for pid in [*kids, proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        end = time.monotonic() + 5
        for pid in kids:
            while _alive(pid) and time.monotonic() < end:
                time.sleep(0.01)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _in_sandbox(flow_root: Path) -> list[int]:
    """Live processes whose environment has FLOW_ROOT=flow_root: what sessions started, even the
    ones that outlived their session (sshd sessions are setsid'd, so they are reparented to init)."""
    marker = f"\0FLOW_ROOT={flow_root}\0".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if marker in b"\0" + fh.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] != b"Z"


@dataclass
class Instance:
    """What a client needs to reach the fake instance: sshd, FLOW_ROOT sandbox, user and key."""

    sshd: Sshd
    root: Path
    user: str
    key: Path
    known_hosts: Path
    alias: str = "inst_test0001"

    @property
    def destination(self) -> str:
        return self.sshd.destination

    def connect(self, deadline_s: float = 10.0, alias: str | None = None, **kw: float) -> Remote:
        """Remote.connect to this instance as the test user (alias: its fid, by default)."""
        from flowslurm.providers.mithril.remote import Remote

        return Remote.connect(self.destination, self.user, self.key, self.known_hosts, alias or self.alias,
                              deadline_s, **kw)

    def restart(self, host_key: Path | None = None) -> None:
        """Stop the sshd and start it again on the same port, with another host key if given."""
        self.sshd.stop()
        self.sshd = Sshd(self.sshd.workdir, self.root, self.sshd.authorized_keys,
                         host_key or self.sshd.host_key, port=self.sshd.port).start()


@contextlib.contextmanager
def instance(tmp_path: Path, start: bool = True) -> Iterator[Instance]:
    """A fake instance under tmp_path: keys generated there, sandbox root at tmp_path/root,
    known_hosts at tmp_path/home/mithril/known_hosts (not yet created)."""
    workdir = tmp_path / "sshd"
    workdir.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    host_key = keygen(workdir / "hostkey")
    user_key = keygen(tmp_path / "userkey")
    authorized = workdir / "authorized_keys"
    authorized.write_bytes(Path(f"{user_key}.pub").read_bytes())
    sshd = Sshd(workdir, root, authorized, host_key)
    inst = Instance(sshd, root, getpass.getuser(), user_key, tmp_path / "home" / "mithril" / "known_hosts")
    try:
        if start:
            sshd.start()
        yield inst
    finally:
        inst.sshd.stop()
