"""Remote and LogPuller against a real OpenSSH server on loopback (tests/mithril/sshd.py), with
paramiko as the client and keys generated per test run: no mocks of SSH."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowslurm.providers.mithril.logs import LogPuller
from flowslurm.providers.mithril.remote import (
    ConnectionLost, HostKeyChanged, Remote, RemoteAuthError, RemoteTimeout, RemoteUnreachable, parse_destination,
)
from tests.mithril import sshd
from tests.mithril.sshd import Instance

pytestmark = pytest.mark.skipif(not sshd.available(), reason="needs /usr/sbin/sshd and ssh-keygen")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    """One instance for the tests that do not restart its sshd (each sshd start + connect costs
    about half a second)."""
    with sshd.instance(tmp_path_factory.mktemp("remote")) as inst:
        yield inst


@pytest.fixture(scope="module")
def remote(shared: Instance) -> Iterator[Remote]:
    with shared.connect() as conn:
        yield conn


@pytest.fixture
def inst(tmp_path: Path) -> Iterator[Instance]:
    with sshd.instance(tmp_path) as inst:
        yield inst


def sandbox(shared: Instance, name: str) -> tuple[str, Path]:
    """A fresh directory on the instance: (contract path, real path)."""
    real = shared.root / "workspace" / name
    real.mkdir(parents=True)
    return f"/workspace/{name}", real


# --- connection and commands ---------------------------------------------------------------------

def test_parse_destination() -> None:
    assert parse_destination("10.0.0.5") == ("10.0.0.5", 22)
    assert parse_destination("127.0.0.1:2222") == ("127.0.0.1", 2222)
    assert parse_destination("[::1]:2200") == ("::1", 2200)


def test_run_reports_exit_status_stdout_stderr_and_stdin(remote: Remote) -> None:
    assert remote.run("echo out; echo err >&2; exit 3") == (3, "out\n", "err\n")
    assert remote.run("cat; echo done", stdin=b"piped\n") == (0, "piped\ndone\n", "")
    # both streams far past the SSH window at once: read as they come, no stall
    status, out, err = remote.run("(head -c 3000000 /dev/zero | tr '\\0' e >&2) & head -c 3000000 /dev/zero "
                                  "| tr '\\0' o; wait", timeout_s=30)
    assert (status, len(out), len(err)) == (0, 3000000, 3000000)
    assert set(out) == {"o"} and set(err) == {"e"}


def test_run_timeout(remote: Remote) -> None:
    started = time.monotonic()
    with pytest.raises(RemoteTimeout):
        remote.run("sleep 30", timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert remote.run("true")[0] == 0  # the connection survives


def test_flow_root_is_learned_over_ssh(shared: Instance, remote: Remote) -> None:
    assert remote.root() == str(shared.root)
    assert remote.path("/var/lib/flowslurm/status") == f"{shared.root}/var/lib/flowslurm/status"
    with pytest.raises(ValueError):
        remote.path("relative/path")
    assert remote.path(remote.path("/workspace")) == f"{shared.root}/workspace"  # never prefixed twice
    assert remote.path(str(shared.root)) == str(shared.root)


def test_a_lost_connection_is_a_flowslurm_error(inst: Instance) -> None:
    remote = inst.connect()
    try:
        assert not remote.exists("/var/lib/flowslurm/exit.json")
        inst.sshd.stop()  # the instance goes away
        deadline = time.monotonic() + 10
        while remote.active and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(ConnectionLost):
            remote.get_bytes("/var/lib/flowslurm/exit.json")
        with pytest.raises(ConnectionLost):
            remote.run("true")
    finally:
        remote.close()


# --- host key pinning --------------------------------------------------------------------------

def test_first_use_pins_the_key_and_a_changed_key_is_refused(inst: Instance, tmp_path: Path) -> None:
    with inst.connect() as first:
        assert first.run("true")[0] == 0
    pinned = inst.known_hosts.read_text()
    host_pub = Path(f"{inst.sshd.host_key}.pub").read_text().split()
    assert pinned.split() == [inst.alias, host_pub[0], host_pub[1]]
    assert stat.S_IMODE(inst.known_hosts.stat().st_mode) == 0o600
    assert stat.S_IMODE(inst.known_hosts.parent.stat().st_mode) == 0o700
    with inst.connect() as again:  # same key: accepted, nothing appended
        assert again.run("true")[0] == 0
    assert inst.known_hosts.read_text() == pinned

    # the same address now serves another machine (another host key)
    inst.restart(host_key=sshd.keygen(tmp_path / "otherhost"))
    marker = inst.root / "ran"
    with pytest.raises(HostKeyChanged) as caught:
        inst.connect(deadline_s=5).run(f"touch {marker}")
    assert inst.alias in caught.value.message and str(inst.known_hosts) in caught.value.message
    assert not marker.exists()
    assert "Accepted publickey" not in inst.sshd.log()  # refused before authenticating: nothing sent
    assert inst.known_hosts.read_text() == pinned

    # another instance fid at that address is another pin
    with inst.connect(alias="inst_other") as other:
        assert other.run("true")[0] == 0
    assert len(inst.known_hosts.read_text().splitlines()) == 2


def test_a_host_that_no_longer_offers_the_pinned_key_type_is_refused(inst: Instance, tmp_path: Path) -> None:
    inst.connect().close()
    inst.restart(host_key=sshd.keygen(tmp_path / "ecdsahost", kind="ecdsa"))
    with pytest.raises(HostKeyChanged):
        inst.connect(deadline_s=5)
    assert "Accepted publickey" not in inst.sshd.log()


# --- retries -----------------------------------------------------------------------------------

def test_connect_retries_while_the_instance_boots(tmp_path: Path) -> None:
    """Refused, then a port that hangs up before the banner, then one that hangs up after it
    (EOF in the handshake), then the real sshd: connect gets through within its deadline."""
    with sshd.instance(tmp_path, start=False) as inst:
        served: list[str] = []
        errors: list[BaseException] = []

        def boot() -> None:
            try:
                time.sleep(0.3)  # nothing listens yet: connection refused
                with socket.socket() as listener:
                    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    listener.bind(("127.0.0.1", inst.sshd.port))
                    listener.listen()
                    listener.settimeout(10)
                    for behaviour in ("no banner", "eof in handshake"):
                        conn, _ = listener.accept()
                        with conn:
                            if behaviour == "eof in handshake":
                                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                                conn.recv(100)
                        served.append(behaviour)
                inst.sshd.start()
            except BaseException as exc:
                errors.append(exc)

        booter = threading.Thread(target=boot)
        booter.start()
        started = time.monotonic()
        try:
            with inst.connect(deadline_s=20) as conn:
                assert conn.run("echo up") == (0, "up\n", "")
        finally:
            booter.join(20)
        assert not errors, errors
        assert served == ["no banner", "eof in handshake"]
        assert time.monotonic() - started < 15


def test_connect_gives_up_at_its_deadline(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    key = sshd.keygen(tmp_path / "key")
    started = time.monotonic()
    with pytest.raises(RemoteUnreachable) as caught:
        Remote.connect(f"127.0.0.1:{sshd.free_port()}", "ubuntu", key, known, "inst_gone", 0.6)
    assert time.monotonic() - started < 3
    assert "inst_gone" in caught.value.message
    assert not known.exists()


def test_a_refused_key_is_not_retried_until_the_deadline(inst: Instance, tmp_path: Path) -> None:
    stranger = sshd.keygen(tmp_path / "stranger")
    started = time.monotonic()
    with pytest.raises(RemoteAuthError):
        Remote.connect(inst.destination, inst.user, stranger, inst.known_hosts, inst.alias, 60, auth_grace_s=0.3)
    assert time.monotonic() - started < 10
    assert not inst.known_hosts.exists()  # only a successful connection pins


# --- files ---------------------------------------------------------------------------------------

def test_put_bytes_is_atomic_and_private(shared: Instance, remote: Remote) -> None:
    contract, real = sandbox(shared, "put")
    target = real / "state" / "api.key"
    seen: list[tuple[int, bytes]] = []
    leaks: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                data = target.read_bytes()
            except FileNotFoundError:
                data = None
            if data is not None:
                seen.append((len(data), bytes(set(data))))
            for entry in os.scandir(target.parent) if target.parent.exists() else ():
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if info.st_size and stat.S_IMODE(info.st_mode) != 0o600:
                    leaks.append(entry.name)

    thread = threading.Thread(target=reader)
    thread.start()
    versions = [(b"a", 700_000), (b"b", 1_500_000), (b"c", 3), (b"d", 2_000_000)]
    try:
        for byte, size in versions:
            remote.put_bytes(byte * size, f"{contract}/state/api.key", 0o600)
    finally:
        done.set()
        thread.join(10)
    assert target.read_bytes() == b"d" * 2_000_000
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(target.parent) == ["api.key"]  # no temporary file left behind
    assert not leaks
    assert all((size, byte) in [(s, b) for b, s in versions] for size, byte in seen)  # never half a file

    remote.put_bytes(b"#!/bin/sh\n", f"{contract}/run.sh", 0o755)
    assert stat.S_IMODE((real / "run.sh").stat().st_mode) == 0o755


def test_get_bytes_reads_ranges(shared: Instance, remote: Remote) -> None:
    contract, real = sandbox(shared, "get")
    blob = os.urandom(300_000)  # several SFTP requests' worth
    (real / "blob").write_bytes(blob)
    assert hashlib.sha256(remote.get_bytes(f"{contract}/blob")).digest() == hashlib.sha256(blob).digest()
    assert remote.get_bytes(f"{contract}/blob", offset=1000, limit=70_000) == blob[1000:71_000]
    assert remote.get_bytes(f"{contract}/blob", offset=299_990) == blob[299_990:]
    assert remote.get_bytes(f"{contract}/blob", offset=400_000) == b""
    assert remote.get_bytes(f"{contract}/blob", limit=0) == b""
    assert remote.size(f"{contract}/blob") == 300_000
    assert remote.exists(f"{contract}/blob") and not remote.exists(f"{contract}/nothing")
    with pytest.raises(FileNotFoundError):
        remote.get_bytes(f"{contract}/nothing")
    with pytest.raises(FileNotFoundError):
        remote.size(f"{contract}/nothing")


# --- LogPuller -----------------------------------------------------------------------------------

def test_log_puller_appends_growing_output(shared: Instance, remote: Remote, tmp_path: Path) -> None:
    contract, real = sandbox(shared, "logs")
    local = tmp_path / "out" / "slurm-12.out"
    out_path = f"{contract}/slurm-12.out"
    # stdout and stderr name the same file: copied once
    puller = LogPuller(remote, [(out_path, local), (out_path, local)])
    assert puller.poll() == 0 and not local.exists()  # the job has not started

    old = os.umask(0o027)
    try:
        (real / "slurm-12.out").write_bytes(b"")
        assert puller.poll() == 0
    finally:
        os.umask(old)
    assert local.read_bytes() == b""
    assert stat.S_IMODE(local.stat().st_mode) == 0o640  # the user's umask, like a local job's output

    written = b""
    for step in range(4):
        chunk = f"step {step}\n".encode() * (step * 5000 + 1)
        with open(real / "slurm-12.out", "ab") as fh:
            fh.write(chunk)
        written += chunk
        assert puller.poll() == len(chunk)
        assert local.read_bytes() == written
    assert puller.poll() == 0

    # a restarted client picks up from the local file's size
    with open(real / "slurm-12.out", "ab") as fh:
        fh.write(b"after restart\n")
    assert LogPuller(remote, [(out_path, local)]).final() == len(b"after restart\n")
    assert local.read_bytes() == written + b"after restart\n"

    # a requeued job truncates its output: the local copy follows
    (real / "slurm-12.out").write_bytes(b"second run\n")
    assert puller.poll() == len(b"second run\n")
    assert local.read_bytes() == b"second run\n"


def test_log_puller_keeps_two_sources_of_one_file_apart(shared: Instance, remote: Remote, tmp_path: Path) -> None:
    contract, real = sandbox(shared, "merged")
    local = tmp_path / "job.log"
    puller = LogPuller(remote, [(f"{contract}/out", local), (f"{contract}/err", local), ("/dev/null", "/dev/null")])
    (real / "out").write_bytes(b"o1 ")
    assert puller.poll() == 3  # err does not exist yet
    (real / "err").write_bytes(b"e1 ")
    with open(real / "out", "ab") as fh:
        fh.write(b"o2 ")
    assert puller.poll() == 6
    with open(real / "err", "ab") as fh:
        fh.write(b"e2 ")
    assert puller.poll() == 3
    assert local.read_bytes() == b"o1 o2 e1 e2 "
    assert puller.offsets == {(f"{contract}/out", local): 6, (f"{contract}/err", local): 6}


def test_log_puller_polls_in_bounded_steps_and_final_finishes(shared: Instance, remote: Remote,
                                                              tmp_path: Path) -> None:
    contract, real = sandbox(shared, "big")
    blob = os.urandom(100_000)
    (real / "big.out").write_bytes(blob)
    local = tmp_path / "big.out"
    puller = LogPuller(remote, [(f"{contract}/big.out", local)], poll_bytes=30_000, chunk_bytes=8_192)
    assert puller.poll() == 30_000
    assert puller.final() == 70_000
    assert local.read_bytes() == blob
