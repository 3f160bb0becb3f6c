"""One SSH connection to a Mithril instance: pinned host key, commands, small files over SFTP.

Why it looks like this:
- An instance's sshd comes up some time after the API says "running", so `Remote.connect` retries
  refused connections, missing banners and handshakes cut short until its deadline. A refused key
  is retried only for a short grace (cloud-init may still be installing authorized_keys), never
  for the whole deadline.
- Host keys are pinned per instance fid, not per address: cloud addresses are reused, so an
  address-keyed known_hosts would either refuse a new instance or trust an impostor. The file uses
  OpenSSH's known_hosts syntax with the fid as host name, so `ssh -o HostKeyAlias=<fid>
  -o UserKnownHostsFile=<file>` reads it too. Paramiko's AutoAddPolicy is never used: the key is
  checked after key exchange and before authentication, so nothing (not even our public key)
  reaches a host that presents a changed key.
- Every instance-side path of the shared contract is prefixed with $FLOW_ROOT (empty on a real
  instance, a sandbox directory under the emulator). The file methods here take contract paths
  (as job.json writes them: "/workspace/slurm-12.out") and add the prefix themselves (a path
  that already has it is left alone); `path()` gives the prefixed form for shell commands.
- One transport per Remote; every command is one exec channel on it, SFTP opens on first use.
- LogPuller (output files mirrored while a job runs) lives in logs.py and is re-exported here.

paramiko is imported when a connection is made, not when this module is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import time

from flowslurm.errors import FlowError
from flowslurm.providers.mithril.logs import LogPuller

__all__ = ["ConnectionLost", "HostKeyChanged", "LogPuller", "Remote", "RemoteAuthError", "RemoteError", "RemoteTimeout",
           "RemoteUnreachable", "parse_destination"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any, Protocol

    import paramiko

    class Writer(Protocol):
        def write(self, data: bytes, /) -> int: ...

RETRY_FIRST_S = 0.1  # first wait between connection attempts; doubles up to RETRY_CAP_S
RETRY_CAP_S = 2.0
AUTH_GRACE_S = 15.0  # how long a refused key is retried (authorized_keys may be written after sshd starts)
HANDSHAKE_TIMEOUT_S = 15.0  # one attempt's banner + key exchange + auth, at most
KEEPALIVE_S = 15  # keeps long log-pulling sessions alive through NAT
SFTP_TIMEOUT_S = 60.0  # one SFTP request without an answer
CHUNK = 1 << 16


class RemoteError(FlowError):
    """SSH to an instance failed."""


class RemoteUnreachable(RemoteError):
    """No SSH session could be set up before the deadline (the instance may still be booting)."""


class RemoteAuthError(RemoteError):
    """The instance's sshd refused our key."""


class RemoteTimeout(RemoteError, TimeoutError):
    """A remote command or transfer did not finish in time."""


class ConnectionLost(RemoteError):
    """The SSH connection broke (the instance went away, or the network did); a new `connect`
    may work."""


class HostKeyChanged(RemoteError):
    """The instance presented a host key other than the one pinned on first use: possibly another
    machine at a reused address, possibly an attack. Nothing was sent to it."""

    def __init__(self, alias: str, known_hosts: Path, destination: str, detail: str) -> None:
        super().__init__(
            f"host key of instance {alias} at {destination} has changed ({detail}); "
            f"its key was pinned in {known_hosts}. Refusing to connect",
            [f"If the instance was really re-created, delete the line for {alias} in {known_hosts} and retry",
             "Otherwise do not use this instance: cancel the job (scancel) so its bid is cancelled"],
        )
        self.alias = alias
        self.known_hosts = known_hosts


def parse_destination(destination: str) -> tuple[str, int]:
    """("host", port) from "host", "host:port" or "[v6addr]:port" (Mithril's ssh_destination)."""
    text = destination.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host or (port and not port.isdigit()):
        raise RemoteError(f"cannot read SSH destination {destination!r}: expected host or host:port")
    return host, int(port) if port else 22


def _quiet_paramiko() -> None:
    """Paramiko logs every failed handshake at ERROR with a traceback; with no handler configured,
    Python would print those on the user's terminal during the expected boot-time retries. A
    NullHandler stops that; an application's own logging configuration still sees the records."""
    import logging

    logger = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


# --- pinned host keys -------------------------------------------------------------------------

def _read_pins(known_hosts: Path) -> dict[str, tuple[str, str]]:
    """alias -> (key type, base64 key) from a known_hosts file; the first line for an alias wins."""
    pins: dict[str, tuple[str, str]] = {}
    try:
        text = known_hosts.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return pins
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not parts[0].startswith("#"):
            for name in parts[0].split(","):
                pins.setdefault(name, (parts[1], parts[2]))
    return pins


def _record_pin(known_hosts: Path, alias: str, key_type: str, key_b64: str, destination: str) -> None:
    """Append alias's key under an exclusive lock, unless a concurrent connection pinned it first
    (then that pin must match). The file is appended, never replaced, so the lock stays valid."""
    import fcntl

    known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(known_hosts, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        pinned = _read_pins(known_hosts).get(alias)
        if pinned is not None:
            if pinned != (key_type, key_b64):
                raise HostKeyChanged(alias, known_hosts, destination, "pinned by a concurrent connection")
            return
        os.write(fd, f"{alias} {key_type} {key_b64}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _key_types_for(key_type: str) -> list[str]:
    """Host key algorithms that make the server present a key of `key_type` (RSA has three)."""
    if key_type == "ssh-rsa":
        return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
    return [key_type]


# --- the connection ---------------------------------------------------------------------------

class _ChannelClosed(Exception):
    """The remote side closed the channel while we were still writing its stdin."""


class _ChannelWriter:
    """A file-like `write` into a channel's stdin, bounded by a deadline."""

    def __init__(self, channel: paramiko.Channel, deadline: float, what: str) -> None:
        self.channel = channel
        self.deadline = deadline
        self.what = what
        self.sent = 0

    def write(self, data: bytes) -> int:
        if time.monotonic() > self.deadline:
            raise RemoteTimeout(f"{self.what}: timed out while sending input")
        try:
            self.channel.sendall(data)
        except OSError as exc:
            if self.channel.closed or self.channel.exit_status_ready() or self.channel.eof_received:
                raise _ChannelClosed() from exc
            raise RemoteTimeout(f"{self.what}: timed out while sending input") from exc
        self.sent += len(data)
        return len(data)

    def flush(self) -> None:
        pass


class Remote:
    """An authenticated SSH connection to one instance. Use `Remote.connect`; close when done
    (it is a context manager)."""

    def __init__(self, transport: paramiko.Transport, alias: str, destination: str, user: str) -> None:
        self.alias = alias
        self.destination = destination
        self.user = user
        self.exec_count = 0  # exec channels opened: one per run() (diagnostics, tests)
        self._transport = transport
        self._sftp: paramiko.SFTPClient | None = None
        self._root: str | None = None

    @classmethod
    def connect(cls, destination: str, user: str, key_path: str | os.PathLike[str], known_hosts: Path,
                alias: str, deadline_s: float, *, auth_grace_s: float = AUTH_GRACE_S) -> Remote:
        """Connect to `destination` ("host" or "host:port") as `user` with the private key at
        `key_path`, retrying while the instance boots, for at most `deadline_s` seconds from now.
        `alias` (the instance fid) names the host key pin in `known_hosts`."""
        import paramiko

        _quiet_paramiko()
        host, port = parse_destination(destination)
        pkey = _load_key(key_path)
        pinned = _read_pins(known_hosts).get(alias)
        end = time.monotonic() + deadline_s
        delay = RETRY_FIRST_S
        first_refusal: float | None = None
        attempts = 0
        last = "no attempt made"
        while True:
            attempts += 1
            transport = None
            try:
                transport = _handshake(host, port, pinned, end)
                key = transport.get_remote_server_key()
                presented = (key.get_name(), key.get_base64())
                if pinned is not None and presented != pinned:
                    raise HostKeyChanged(alias, known_hosts, destination,
                                         f"it presented a different {presented[0]} key")
                remaining = transport.auth_publickey(user, pkey)
                if remaining:
                    raise paramiko.AuthenticationException(f"further authentication required: {remaining}")
                if pinned is None:
                    _record_pin(known_hosts, alias, presented[0], presented[1], destination)
                transport.set_keepalive(KEEPALIVE_S)
                remote = cls(transport, alias, destination, user)
                transport = None
                return remote
            except paramiko.BadAuthenticationType as exc:
                raise RemoteAuthError(
                    f"instance {alias} at {destination} does not accept SSH keys for {user} "
                    f"(it allows: {', '.join(exc.allowed_types) or 'nothing'})") from None
            except paramiko.AuthenticationException:
                now = time.monotonic()
                first_refusal = now if first_refusal is None else first_refusal
                last = f"the server refused the key {key_path} for user {user}"
                if now - first_refusal >= auth_grace_s or now + delay > end:
                    raise RemoteAuthError(
                        f"instance {alias} at {destination} refused SSH key {key_path} for user {user}",
                        ["Check that the bid was created with the SSH key whose private half is this file",
                         "Check the SSH user configured for Mithril (Mithril images use `ubuntu`)"]) from None
            except paramiko.SSHException as exc:
                if pinned is not None and "host key" in str(exc).lower():
                    raise HostKeyChanged(alias, known_hosts, destination,
                                         f"it no longer offers a {pinned[0]} key") from None
                last = str(exc) or type(exc).__name__
            except (OSError, EOFError) as exc:
                last = str(exc) or type(exc).__name__
            finally:
                if transport is not None:
                    transport.close()
            now = time.monotonic()
            if now + delay > end:
                raise RemoteUnreachable(
                    f"could not open SSH to instance {alias} at {destination} within {deadline_s:g} s "
                    f"({attempts} attempt{'s' if attempts != 1 else ''}; last: {last})",
                    ["The instance may still be booting: retry later",
                     "Check that nothing blocks outgoing SSH to that address"])
            time.sleep(delay)
            delay = min(delay * 2, RETRY_CAP_S)

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn a broken connection into a flowslurm error the caller can act on. What the instance
        answered (no such file, permission denied: OSErrors on a live connection) passes as is."""
        import paramiko

        try:
            yield
        except RemoteError:
            raise
        except TimeoutError as exc:  # an SFTP request or a channel open without an answer
            raise RemoteTimeout(f"{what} on instance {self.alias}: no answer in time") from exc
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if self._transport.is_active() and isinstance(exc, OSError):
                raise
            lost = not self._transport.is_active()
            cls = ConnectionLost if lost else RemoteError
            why = "the SSH connection was lost" if lost else "SSH error"
            raise cls(f"{what} on instance {self.alias} failed: {why} ({exc or type(exc).__name__})") from exc

    # --- commands -----------------------------------------------------------------------------

    def run(self, command: str, timeout_s: float = 60.0, *,
            stdin: bytes | Callable[[Writer], Any] | None = None) -> tuple[int, str, str]:
        """Run `command` in the user's shell on the instance: (exit status, stdout, stderr), text
        decoded as UTF-8 (undecodable bytes replaced). Exit status is -1 when the command died of a
        signal. `stdin` is bytes to send, or a function given a writer to stream into (its writes
        stop quietly if the command exits early: the exit status and stderr then say why).
        RemoteTimeout when it takes longer than `timeout_s`; the command is not killed then (without
        a terminal sshd sends it no hangup), so wrap long commands in `timeout` if that matters."""
        with self._guard("running a command"):
            return self._run(command, timeout_s, stdin)

    def exec_channel(self, command: str, timeout_s: float = 60.0) -> Any:
        """A paramiko channel already running `command`, for a caller that streams its output as it
        comes (`flow dev -c`); the caller reads it and closes it."""
        channel = self._transport.open_session(timeout=timeout_s)
        self.exec_count += 1
        channel.exec_command(command)
        return channel

    def _run(self, command: str, timeout_s: float,
             stdin: bytes | Callable[[Writer], Any] | None) -> tuple[int, str, str]:
        deadline = time.monotonic() + timeout_s
        channel = self._transport.open_session(timeout=timeout_s)
        self.exec_count += 1
        try:
            channel.settimeout(max(0.1, timeout_s))
            channel.exec_command(command)
            what = f"command on instance {self.alias}"
            if stdin is not None:
                writer = _ChannelWriter(channel, deadline, what)
                try:
                    if callable(stdin):
                        stdin(writer)
                    else:
                        writer.write(stdin)
                except _ChannelClosed:
                    pass
            channel.shutdown_write()
            out, err = _drain(channel, deadline, what)
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise RemoteTimeout(f"{what}: no exit status within {timeout_s:g} s")
            status = channel.recv_exit_status()
        finally:
            channel.close()
        return status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def root(self) -> str:
        """$FLOW_ROOT on the instance ("" on a real one), asked once over SSH."""
        if self._root is None:
            status, out, err = self.run('printf %s "$FLOW_ROOT"', timeout_s=30.0)
            if status != 0:
                raise RemoteError(f"could not read FLOW_ROOT on instance {self.alias}: {err.strip() or status}")
            root = out.rstrip("/")
            if root and (not root.startswith("/") or "\n" in root):
                raise RemoteError(f"instance {self.alias} has an unusable FLOW_ROOT {root!r}")
            self._root = root
        return self._root

    def path(self, p: str) -> str:
        """The real path of contract path `p` ("/var/lib/flowslurm/status") on this instance.
        A path that already carries the prefix is returned as is, so callers may pass either form
        to the methods here: on a real instance the two are the same, and a sandbox root is a
        unique directory no contract path starts with."""
        if not p.startswith("/"):
            raise ValueError(f"instance path must be absolute: {p!r}")
        root = self.root()
        if root and (p == root or p.startswith(root + "/")):
            return p
        return root + p

    # --- files ----------------------------------------------------------------------------------

    def sftp(self) -> paramiko.SFTPClient:
        """The SFTP session, opened on first use."""
        if self._sftp is None:
            import paramiko

            with self._guard("opening SFTP"):
                sftp = paramiko.SFTPClient.from_transport(self._transport)
                assert sftp is not None
                sftp.get_channel().settimeout(SFTP_TIMEOUT_S)
            self._sftp = sftp
        return self._sftp

    def put_bytes(self, data: bytes, remote_path: str, mode: int = 0o644) -> None:
        """Write `data` to contract path `remote_path`, creating its directories. It is written to
        a temporary name beside it and renamed over it, so a reader sees the old file or the whole
        new one; the mode is set while the temporary file is still empty, so a 0600 secret is never
        readable by others."""
        import secrets

        full = self.path(remote_path)
        parent, name = posixpath.split(full)
        with self._guard(f"writing {remote_path}"):
            self._makedirs(parent)
            sftp = self.sftp()
            tmp = f"{parent}/.{name}.tmp-{secrets.token_hex(6)}"
            handle = sftp.open(tmp, "wxb")
            try:
                with handle:
                    handle.chmod(mode)
                    handle.set_pipelined(True)
                    for start in range(0, len(data), 1 << 20):
                        handle.write(data[start:start + (1 << 20)])
                sftp.posix_rename(tmp, full)
            except BaseException:
                with contextlib.suppress(Exception):
                    sftp.remove(tmp)
                raise

    def get_bytes(self, remote_path: str, offset: int = 0, limit: int | None = None) -> bytes:
        """Bytes of contract path `remote_path` from `offset`, at most `limit` of them (all to the
        end when None). FileNotFoundError when the file does not exist."""
        full = self.path(remote_path)
        sftp = self.sftp()
        with self._guard(f"reading {remote_path}"):
            try:
                handle = sftp.open(full, "rb")
            except OSError as exc:
                raise _missing(exc, remote_path) from None
            with handle:
                size = handle.stat().st_size or 0
                end = size if limit is None else min(size, offset + limit)
                if end <= offset:
                    return b""
                return b"".join(handle.readv([(offset, end - offset)]))

    def size(self, remote_path: str) -> int:
        """Size in bytes of contract path `remote_path`; FileNotFoundError when absent."""
        full = self.path(remote_path)
        sftp = self.sftp()
        with self._guard(f"looking at {remote_path}"):
            try:
                return sftp.stat(full).st_size or 0
            except OSError as exc:
                raise _missing(exc, remote_path) from None

    def exists(self, p: str) -> bool:
        """Whether contract path `p` exists on the instance (a dangling symlink does not)."""
        full = self.path(p)
        sftp = self.sftp()
        with self._guard(f"looking at {p}"):
            try:
                sftp.stat(full)
            except OSError as exc:
                if isinstance(_missing(exc, p), FileNotFoundError):
                    return False
                raise
        return True

    def _makedirs(self, full: str) -> None:
        """mkdir -p over SFTP (real, prefixed path): one stat when the directory exists."""
        sftp = self.sftp()
        missing: list[str] = []
        probe = full
        while probe not in ("", "/"):
            try:
                sftp.stat(probe)
                break
            except OSError as exc:
                if not isinstance(_missing(exc, probe), FileNotFoundError):
                    raise
                missing.append(probe)
                probe = posixpath.dirname(probe)
        for directory in reversed(missing):
            try:
                sftp.mkdir(directory)
            except OSError:
                sftp.stat(directory)  # created meanwhile by someone else: fine; else this raises

    # --- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Close SFTP and the connection (idempotent)."""
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # closing a dead session must not mask the caller's error
                pass
            self._sftp = None
        self._transport.close()

    @property
    def active(self) -> bool:
        """Whether the connection is still up."""
        return self._transport.is_active()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Remote({self.user}@{self.destination} [{self.alias}])"


def _load_key(key_path: str | os.PathLike[str]) -> paramiko.PKey:
    """The private key at key_path (ed25519, ECDSA or RSA, OpenSSH or PEM)."""
    import paramiko

    try:
        return paramiko.PKey.from_path(key_path)
    except FileNotFoundError:
        raise RemoteError(f"SSH private key {key_path} does not exist") from None
    except PermissionError:
        raise RemoteError(f"SSH private key {key_path} is not readable") from None
    except paramiko.PasswordRequiredException:
        raise RemoteError(f"SSH private key {key_path} is passphrase-protected; flowslurm needs a key without one",
                          ["Create a dedicated key: ssh-keygen -t ed25519 -N '' -f ~/.ssh/flowslurm"]) from None
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise RemoteError(f"cannot read SSH private key {key_path}: {exc}") from None


def _handshake(host: str, port: int, pinned: tuple[str, str] | None, end: float) -> paramiko.Transport:
    """A transport past key exchange (not yet authenticated). With a pinned key, only that key's
    algorithms are offered, so the server must present the pinned key's type."""
    import socket

    import paramiko

    budget = max(0.5, min(HANDSHAKE_TIMEOUT_S, end - time.monotonic()))
    sock = socket.create_connection((host, port), timeout=budget)
    try:
        transport = paramiko.Transport(sock)
    except BaseException:
        sock.close()
        raise
    try:
        transport.banner_timeout = budget
        transport.handshake_timeout = budget
        transport.auth_timeout = budget
        if pinned is not None:
            transport.get_security_options().key_types = _key_types_for(pinned[0])
        transport.start_client(timeout=budget)
    except BaseException:
        transport.close()
        raise
    return transport


def _drain(channel: paramiko.Channel, deadline: float, what: str) -> tuple[bytes, bytes]:
    """All of a channel's stdout and stderr until EOF, read as they come (so neither stream can
    fill its window and stall the command)."""
    import select

    out: list[bytes] = []
    err: list[bytes] = []
    fd = channel.fileno()
    while True:
        while channel.recv_ready():
            out.append(channel.recv(CHUNK))
        while channel.recv_stderr_ready():
            err.append(channel.recv_stderr(CHUNK))
        if channel.eof_received or channel.closed:
            if not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RemoteTimeout(f"{what}: timed out")
        select.select([fd], [], [], min(remaining, 0.5))
    return b"".join(out), b"".join(err)


def _missing(exc: OSError, remote_path: str) -> OSError:
    """The error for a failed SFTP call: FileNotFoundError naming the contract path when absent."""
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOENT:
        return FileNotFoundError(errno.ENOENT, "no such file on the instance", remote_path)
    return exc
