"""SSH key set-up: generate, register once per project, reuse; against the emulator over real HTTP."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import paramiko
import pytest

from flowslurm.providers.mithril.api import MithrilClient
from flowslurm.providers.mithril.settings import Settings
from flowslurm.providers.mithril.sshkey import (
    SshKeyError,
    ensure_ssh_key,
    forget_ssh_key,
    key_name,
    public_key_of,
)

KEYS = "/v2/ssh-keys"


def key_requests(mithril: Any) -> tuple[int, int]:
    """(listings, creations) of SSH keys the emulator has answered."""
    state = mithril.state
    return len(state.requests_to("GET", KEYS)), len(state.requests_to("POST", KEYS))


def project_keys(api: MithrilClient, project: str) -> list[str]:
    return [k.public_key for k in api.list_ssh_keys(project)]


def test_generate_register_then_reuse_without_asking_again(api: MithrilClient, mithril: Any, tmp_path: Path) -> None:
    project = mithril.state.project_fid("default")
    key_dir = tmp_path / "keys"
    private, fid = ensure_ssh_key(api, Settings(), project, key_dir)
    assert private == key_dir / "id_ed25519" and stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    public = (key_dir / "id_ed25519.pub").read_text().strip()
    assert public.startswith("ssh-ed25519 ")
    keys = api.list_ssh_keys(project)
    assert [(k.fid, k.public_key) for k in keys] == [(fid, public)]
    assert keys[0].name == key_name(public) and keys[0].name.startswith("flowslurm-")
    paramiko.Ed25519Key.from_private_key_file(str(private))  # a usable key
    before = key_requests(mithril)

    for _ in range(3):
        assert ensure_ssh_key(api, Settings(), project, key_dir) == (private, fid)
    assert key_requests(mithril) == before  # cached: no request at all

    other = mithril.state.project_fid("research")
    private2, fid2 = ensure_ssh_key(api, Settings(), other, key_dir)
    assert private2 == private and fid2 != fid and project_keys(api, other) == [public]  # once per project


def test_a_deleted_key_is_registered_again_when_verified(api: MithrilClient, mithril: Any, tmp_path: Path) -> None:
    project = mithril.state.project_fid("default")
    private, fid = ensure_ssh_key(api, Settings(), project, tmp_path)
    api.delete_ssh_key(fid)
    assert ensure_ssh_key(api, Settings(), project, tmp_path) == (private, fid)  # the cache cannot know
    _, fresh = ensure_ssh_key(api, Settings(), project, tmp_path, verify=True)
    assert fresh != fid and [k.fid for k in api.list_ssh_keys(project)] == [fresh]
    assert ensure_ssh_key(api, Settings(), project, tmp_path) == (private, fresh)
    _, same = ensure_ssh_key(api, Settings(), project, tmp_path, verify=True)
    assert same == fresh  # verified and still there: nothing created


def test_a_lost_cache_finds_the_registered_key_instead_of_adding_one(api: MithrilClient, mithril: Any,
                                                                     tmp_path: Path) -> None:
    project = mithril.state.project_fid("default")
    _, fid = ensure_ssh_key(api, Settings(), project, tmp_path)
    forget_ssh_key(tmp_path)
    creations = key_requests(mithril)[1]
    assert ensure_ssh_key(api, Settings(), project, tmp_path)[1] == fid
    assert key_requests(mithril)[1] == creations and len(api.list_ssh_keys(project)) == 1


def test_the_users_own_key_is_used(api: MithrilClient, mithril: Any, tmp_path: Path) -> None:
    own = tmp_path / "mine" / "id_ed25519"
    own.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me@laptop", "-f", str(own)], check=True,
                   timeout=30)
    project = mithril.state.project_fid("default")
    key_dir = tmp_path / "keys"
    private, fid = ensure_ssh_key(api, Settings(ssh_key=str(own)), project, key_dir)
    assert private == own and not (key_dir / "id_ed25519").exists()
    assert project_keys(api, project) == [own.with_suffix(".pub").read_text().strip()]

    own.with_suffix(".pub").unlink()  # no .pub: derived from the private key, same registration
    forget_ssh_key(key_dir)
    assert ensure_ssh_key(api, Settings(ssh_key=str(own)), project, key_dir) == (own, fid)
    with pytest.raises(SshKeyError, match="does not exist"):
        ensure_ssh_key(api, Settings(ssh_key=str(tmp_path / "missing")), project, key_dir)


def test_without_ssh_keygen_paramiko_makes_an_rsa_key(api: MithrilClient, mithril: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # ssh-keygen is not found
    project = mithril.state.project_fid("default")
    private, fid = ensure_ssh_key(api, Settings(), project, tmp_path / "keys")
    assert private.name == "id_rsa" and stat.S_IMODE(private.stat().st_mode) == 0o600
    key = paramiko.RSAKey.from_private_key_file(str(private))
    assert key.get_bits() == 3072
    assert project_keys(api, project) == [(tmp_path / "keys" / "id_rsa.pub").read_text().strip()]
    assert public_key_of(private).split()[:2] == [key.get_name(), key.get_base64()]


def test_concurrent_jobs_make_one_key_and_one_registration(api: MithrilClient, mithril: Any, tmp_path: Path) -> None:
    project = mithril.state.project_fid("default")
    results: list[tuple[Path, str]] = []

    def one() -> None:
        with MithrilClient(api_key=mithril.api_key, base_url=mithril.url, timeout_s=10.0) as client:
            results.append(ensure_ssh_key(client, Settings(), project, tmp_path))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 3 and len(set(results)) == 1
    assert key_requests(mithril)[1] == 1 and len(api.list_ssh_keys(project)) == 1
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith(".")) == [
        "id_ed25519", "id_ed25519.pub", "registered.json"]
