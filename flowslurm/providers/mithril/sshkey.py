"""The SSH key flowslurm reaches its instances with, and its registration in the Mithril project.

A bid names the project's SSH keys its instances trust (`launch_specification.ssh_keys`). The key
is the user's own (`mithril.ssh_key` / MITHRIL_SSH_KEY, with its `.pub`), or one flowslurm makes
once under `key_dir`: ed25519 with `ssh-keygen` when it is installed, else RSA 3072 with paramiko.
The pair is made on this machine, so the private key never crosses the network (Mithril can make
one server-side, and send the private half back; flowslurm does not ask it to).

Registering is done once per (API URL, project, public key): the fid is kept in
`key_dir/registered.json`, so later jobs make no request at all. A key registered before (by
another machine, or a lost cache) is found by its public key instead of registered twice. When a
bid is refused because the key is gone, call again with `verify=True`: the cached fid is checked
against the project's keys and the key registered afresh if it no longer exists.
"""

from __future__ import annotations

import json
import os

from flowslurm.errors import FlowError
from flowslurm.providers.mithril.filelock import FileLock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from flowslurm.providers.mithril.api import MithrilClient
    from flowslurm.providers.mithril.settings import Settings

__all__ = ["SshKeyError", "ensure_ssh_key", "forget_ssh_key", "key_name", "public_key_of"]

CACHE_NAME = "registered.json"
KEYGEN_TIMEOUT_S = 60.0
LOCK_WAIT_S = 60.0


class SshKeyError(FlowError):
    """The SSH key could not be read, made or registered."""


def _key_id(public_key: str) -> str:
    """"type base64" of an OpenSSH public key line (the comment dropped): what identifies it."""
    parts = public_key.split()
    return " ".join(parts[:2]) if len(parts) >= 2 else public_key.strip()


def _fingerprint(public_key: str) -> str:
    import hashlib

    return hashlib.sha256(_key_id(public_key).encode()).hexdigest()


def key_name(public_key: str) -> str:
    """The name a key is registered under: recognisable in Mithril's console, and distinct per key
    ("flowslurm-alice-laptop-1a2b3c4d")."""
    import getpass
    import re

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    host = os.uname().nodename.split(".")[0]
    who = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{user}-{host}").strip("-")[:40] or "user"
    return f"flowslurm-{who}-{_fingerprint(public_key)[:8]}"


def public_key_of(private_key: str | os.PathLike[str]) -> str:
    """The public key line for a private key file: its `.pub` when present, else derived from it
    (`ssh-keygen -y`, or paramiko)."""
    path = os.fspath(private_key)
    try:
        with open(path + ".pub", encoding="utf-8") as fh:
            line = fh.read().strip()
        if line:
            return line
    except OSError:
        pass
    if not os.path.isfile(path):
        raise SshKeyError(f"the SSH key {path} does not exist",
                          ["Set MITHRIL_SSH_KEY (or `mithril: ssh_key:`) to a private key file, or unset it and "
                           "flowslurm makes one"])
    import shutil
    import subprocess

    if shutil.which("ssh-keygen"):
        try:
            done = subprocess.run(["ssh-keygen", "-y", "-f", path], capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=KEYGEN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return _public_key_with_paramiko(path)


def _public_key_with_paramiko(path: str) -> str:
    import paramiko

    errors: list[str] = []
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            key = cls.from_private_key_file(path)
        except paramiko.PasswordRequiredException:
            raise SshKeyError(f"the SSH key {path} is protected by a passphrase, and its public half {path}.pub is "
                              "missing", [f"Write it with: ssh-keygen -y -f {path} > {path}.pub"]) from None
        except (paramiko.SSHException, OSError, ValueError) as exc:
            errors.append(str(exc))
            continue
        return f"{key.get_name()} {key.get_base64()}"
    raise SshKeyError(f"could not read the SSH private key {path}: not an ed25519, ECDSA or RSA key",
                      [f"Check the file, or give its public half as {path}.pub"])


def _generate(key_dir: Path) -> Path:
    """A new key pair in `key_dir`: id_ed25519 (ssh-keygen) or id_rsa (paramiko). The files appear
    atomically, the public half first, so a private key on disk always has its `.pub`."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    comment = f"flowslurm@{os.uname().nodename.split('.')[0]}"
    with tempfile.TemporaryDirectory(dir=key_dir, prefix=".keygen-") as tmp:
        if shutil.which("ssh-keygen"):
            name = "id_ed25519"
            made = Path(tmp) / name
            try:
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(made)],
                               check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=KEYGEN_TIMEOUT_S)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                raise SshKeyError(f"could not make an SSH key with ssh-keygen: {exc}") from None
        else:
            import paramiko

            name = "id_rsa"
            made = Path(tmp) / name
            key = paramiko.RSAKey.generate(3072)
            fd = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                key.write_private_key(fh)
            (Path(tmp) / (name + ".pub")).write_text(f"{key.get_name()} {key.get_base64()} {comment}\n")
        os.chmod(made, 0o600)
        os.replace(str(made) + ".pub", key_dir / (name + ".pub"))
        os.replace(made, key_dir / name)
    return key_dir / name


def _own_key(key_dir: Path) -> Path:
    """flowslurm's key in `key_dir`, made when there is none."""
    for name in ("id_ed25519", "id_rsa"):
        if (key_dir / name).is_file():
            return key_dir / name
    return _generate(key_dir)


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _cache_key(client: MithrilClient, project_fid: str, public_key: str) -> str:
    return f"{client.base_url} {project_fid} {_fingerprint(public_key)}"


def ensure_ssh_key(client: MithrilClient, settings: Settings, project_fid: str, key_dir: str | os.PathLike[str],
                   *, verify: bool = False) -> tuple[Path, str]:
    """(private key path, ssh key fid) for bids in `project_fid`, registering the key if needed.
    `verify` checks a cached fid against the API (after a bid named a key the API no longer has)."""
    from pathlib import Path

    folder = Path(key_dir)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with FileLock(folder / ".lock", LOCK_WAIT_S):
        private = Path(os.path.expanduser(settings.ssh_key)) if settings.ssh_key else _own_key(folder)
        public = public_key_of(private)
        cache_path = folder / CACHE_NAME
        cache = _read_cache(cache_path)
        key = _cache_key(client, project_fid, public)
        cached = cache.get(key)
        if isinstance(cached, str) and cached and not verify:
            return private, cached
        fid = _registered(client, project_fid, public, cached if isinstance(cached, str) else None)
        if fid is None:
            fid = client.create_ssh_key(project_fid, key_name(public), public_key=public).fid
        cache[key] = fid
        _write_cache(cache_path, cache)
    return private, fid


def _registered(client: MithrilClient, project_fid: str, public_key: str, cached: str | None) -> str | None:
    """The fid under which the project already holds this public key (the cached one first)."""
    keys = client.list_ssh_keys(project_fid)
    wanted = _key_id(public_key)
    same = [k.fid for k in keys if _key_id(k.public_key) == wanted]
    if cached in same:
        return cached
    return same[0] if same else None


def forget_ssh_key(key_dir: str | os.PathLike[str]) -> None:
    """Drop every cached registration (the key files stay): the next job checks with the API."""
    from pathlib import Path

    try:
        os.unlink(Path(key_dir) / CACHE_NAME)
    except FileNotFoundError:
        pass
