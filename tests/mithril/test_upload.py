"""What a submit directory uploads (.flowignore, .gitignore, defaults, symlinks, the size cap), and
the single-stream upload itself, into a real loopback sshd's FLOW_ROOT sandbox."""

from __future__ import annotations

import hashlib
import os
import random
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowslurm.providers.mithril.remote import Remote
from flowslurm.providers.mithril.upload import (
    SHIM_COMMANDS, UploadError, UploadTooLarge, collect, package_files, shim_scripts, upload_package, upload_tree,
)
from tests.mithril import sshd
from tests.mithril.sshd import Instance

needs_sshd = pytest.mark.skipif(not sshd.available(), reason="needs /usr/sbin/sshd and ssh-keygen")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Instance]:
    with sshd.instance(tmp_path_factory.mktemp("upload")) as inst:
        yield inst


@pytest.fixture(scope="module")
def remote(shared: Instance) -> Iterator[Remote]:
    with shared.connect() as conn:
        yield conn


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(root: Path, **kw: object) -> list[str]:
    return [p.as_posix() for p in collect(root, **kw)]  # type: ignore[arg-type]


DEFAULT_JUNK = {
    ".git/config": "", ".git/objects/ab": "", "__pycache__/m.cpython-311.pyc": "", "pkg/__pycache__/x.pyc": "",
    "old.pyc": "", "node_modules/left-pad/index.js": "", ".venv/bin/python": "", "venv/lib/x.py": "",
    ".mypy_cache/x": "", ".pytest_cache/v": "", ".tox/py/x": "", ".DS_Store": "", "pkg.egg-info/PKG-INFO": "",
}


# --- what is collected -----------------------------------------------------------------------------

def test_flowignore_rules_and_it_replaces_gitignore(tmp_path: Path) -> None:
    root = tree(tmp_path / "job", {
        ".flowignore": "*.ckpt\n!best.ckpt\ndata/\n/scratch.txt\n",
        ".gitignore": "train.py\n",  # ignored for uploads: .flowignore wins
        "train.py": "", "best.ckpt": "", "epoch1.ckpt": "", "data/x.bin": "", "scratch.txt": "",
        "sub/scratch.txt": "", "sub/data/y.bin": "", "slurm-7.out": "",
        "sub/.flowignore": "*.tmp\n/local-only\n", "sub/a.tmp": "", "sub/local-only": "", "local-only": "",
        "deeper/.flowignore": "!keep.ckpt\n", "deeper/keep.ckpt": "", "deeper/drop.ckpt": "",
        **DEFAULT_JUNK,
    })
    assert names(root) == [
        ".flowignore", ".gitignore", "best.ckpt", "deeper/.flowignore", "deeper/keep.ckpt", "local-only",
        "slurm-7.out", "sub/.flowignore", "sub/scratch.txt", "train.py",
    ]


def test_gitignore_when_there_is_no_flowignore(tmp_path: Path) -> None:
    root = tree(tmp_path / "job", {
        ".gitignore": "logs/\n*.log\n!keep.pyc\n",
        "main.py": "", "logs/a.txt": "", "run.log": "", "keep.pyc": "",
        "lib/.gitignore": "generated.py\n", "lib/generated.py": "", "lib/util.py": "", "generated.py": "",
        **DEFAULT_JUNK,
    })
    # a .git *file* (a worktree or submodule) is never uploaded either
    (root / "lib" / ".git").write_text("gitdir: ../.git/modules/lib\n")
    assert names(root) == [".gitignore", "generated.py", "keep.pyc", "lib/.gitignore", "lib/util.py", "main.py"]


def test_defaults_alone_and_an_excluded_directory_stays_excluded(tmp_path: Path) -> None:
    root = tree(tmp_path / "plain", {"a.py": "", **DEFAULT_JUNK})
    assert names(root) == ["a.py"]
    # as in git, a file inside an excluded directory cannot be re-included
    tree(root, {".flowignore": "out/\n!out/want.txt\n", "out/want.txt": ""})
    assert names(root) == [".flowignore", "a.py"]


def test_symlinks_are_collected_as_links_never_followed(tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside", {"secret.txt": "not for upload", "big/blob": "x"})
    root = tree(tmp_path / "job", {"real.txt": "hello", "dir/inner.txt": "in"})
    (root / "to_outside_dir").symlink_to(outside / "big")
    (root / "to_outside_file").symlink_to("../outside/secret.txt")
    (root / "to_real").symlink_to("real.txt")
    (root / "dir_link").symlink_to("dir")
    (root / "dangling").symlink_to("/nonexistent/path")
    assert names(root) == ["dangling", "dir/inner.txt", "dir_link", "real.txt", "to_outside_dir",
                           "to_outside_file", "to_real"]


def test_size_cap_names_the_biggest_entries(tmp_path: Path) -> None:
    root = tree(tmp_path / "job", {"train.py": "print(1)\n", "notes/a.md": "x" * 10})
    for rel, size in (("data/shard0", 3 << 20), ("data/shard1", 3 << 20), ("ckpt/last.pt", 2 << 20),
                      ("model.bin", 1 << 20)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        with open(root / rel, "wb") as fh:
            fh.truncate(size)  # sparse: a big st_size for free
    with pytest.raises(UploadTooLarge) as caught:
        collect(root, max_bytes=4 << 20)
    message = caught.value.message
    assert "over the 4.0 MiB limit" in message and "9.0 MiB" in message
    assert message.index("data/ (6.0 MiB)") < message.index("ckpt/ (2.0 MiB)") < message.index("model.bin (1.0 MiB)")
    assert any(".flowignore" in s and "/data/" in s for s in caught.value.suggestions)
    assert any("replaces .gitignore" in s for s in caught.value.suggestions)
    assert len(collect(root, max_bytes=None)) == 6
    assert len(collect(root)) == 6  # the default cap is 1 GiB


# --- the upload stream -----------------------------------------------------------------------------

def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@needs_sshd
def test_two_thousand_files_arrive_intact_in_one_stream(shared: Instance, remote: Remote, tmp_path: Path) -> None:
    rng = random.Random(7)
    root = tmp_path / "big"
    for i in range(2000):
        path = root / f"d{i % 40:02d}" / f"s{i % 7}" / f"f{i:04d}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.choice((0, 10, 700, 1500, 3000))) + b"text " * rng.randrange(200))
        if i % 5 == 0:
            path.chmod(0o755)
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i))
    files = collect(root)
    assert len(files) == 2000
    remote.root()  # learned once per connection (one command), not part of the upload
    before = remote.exec_count
    stats = upload_tree(remote, root, "/workspace/big", files)
    assert remote.exec_count - before == 1  # one exec channel, one tar stream
    assert stats.files == 2000
    assert stats.bytes == sum((root / f).stat().st_size for f in files)
    assert 0 < stats.sent_bytes < stats.bytes + 2000 * 1024
    arrived = shared.root / "workspace" / "big"
    for rel in files:
        local, there = root / rel, arrived / rel
        assert digest(there) == digest(local), rel
        assert stat.S_IMODE(there.stat().st_mode) == stat.S_IMODE(local.stat().st_mode), rel
        assert int(there.stat().st_mtime) == int(local.stat().st_mtime), rel
    assert sum(1 for _ in arrived.rglob("*.dat")) == 2000


@needs_sshd
def test_symlinks_arrive_as_links(shared: Instance, remote: Remote, tmp_path: Path) -> None:
    tree(tmp_path / "outside", {"secret.txt": "not for upload"})
    root = tree(tmp_path / "job", {"real.txt": "hello"})
    (root / "to_real").symlink_to("real.txt")
    (root / "to_outside").symlink_to(tmp_path / "outside")
    (root / "escape").symlink_to("../outside/secret.txt")
    upload_tree(remote, root, "/workspace/links", collect(root))
    arrived = shared.root / "workspace" / "links"
    assert os.readlink(arrived / "to_real") == "real.txt"
    assert (arrived / "to_real").read_text() == "hello"
    assert os.readlink(arrived / "to_outside") == str(tmp_path / "outside")
    assert os.readlink(arrived / "escape") == "../outside/secret.txt"
    assert sorted(p.name for p in arrived.iterdir()) == ["escape", "real.txt", "to_outside", "to_real"]


@needs_sshd
def test_a_failed_extraction_is_an_upload_error(shared: Instance, remote: Remote, tmp_path: Path) -> None:
    (shared.root / "workspace").mkdir(exist_ok=True)
    (shared.root / "workspace" / "blocker").write_text("a file, not a directory")
    root = tree(tmp_path / "job", {"a.txt": "a"})
    with pytest.raises(UploadError) as caught:
        upload_tree(remote, root, "/workspace/blocker/sub", collect(root))
    assert "/workspace/blocker/sub" in caught.value.message


@needs_sshd
def test_flowslurm_itself_runs_on_the_instance(shared: Instance, remote: Remote, tmp_path: Path) -> None:
    arcnames = [arc for _, arc in package_files()]
    assert "flowslurm/__init__.py" in arcnames and "flowslurm/cli/squeue.py" in arcnames
    assert not any("__pycache__" in a or a.endswith(".pyc") or "/tests/" in a for a in arcnames)
    assert sorted(shim_scripts()) == sorted(SHIM_COMMANDS)

    stats = upload_package(remote)
    assert stats.files == len(arcnames) + len(SHIM_COMMANDS)
    opt = shared.root / "opt" / "flowslurm"
    assert stat.S_IMODE((opt / "bin" / "squeue").stat().st_mode) == 0o755
    home = tmp_path / "flowslurm-home"
    status, out, err = remote.run(
        f"export FLOWSLURM_HOME={home}; {remote.path('/opt/flowslurm/bin/squeue')} --version && "
        f"cd / && PYTHONPATH={remote.path('/opt/flowslurm')} python3 -c 'import flowslurm; print(flowslurm.__file__)'")
    assert status == 0, err
    version, where = out.splitlines()
    assert version == "slurm-wlm 22.05.8"
    assert where == f"{opt}/flowslurm/__init__.py"  # the uploaded copy, not this checkout
