"""Ship a submit directory, and flowslurm itself, to an instance.

Why it looks like this:
- What to upload follows flow-compute's rule, which users of the Flow SDK already know:
  `.flowignore` if the submit directory has one, else `.gitignore`, in gitignore syntax (pathspec's
  GitIgnoreSpec). Ignore files in subdirectories count the way git counts them: their patterns are
  relative to their own directory, deeper files win over shallower ones, the last matching line
  wins, and an excluded directory is not entered (so its contents cannot be re-included). A few
  default exclusions (.git, caches, virtualenvs, node_modules) apply below them; a `!` line can
  re-include any of them except .git.
- Symlinks travel as links and are never followed: a link to /data or ../.. cannot pull
  half a disk into the upload.
- Everything travels as ONE gzip'd tar stream on ONE exec channel (`tar -x` on the instance): a
  2,000-file project costs one round trip instead of thousands of SFTP requests, and modes and
  mtimes survive.
- flowslurm's own package and its command shims go the same way to /opt/flowslurm, so the job on
  the instance has sbatch, squeue, ... on its PATH (contract point 1).
- An upload over a size cap (1 GiB by default) fails before anything is sent, naming the biggest
  entries, because a forgotten dataset or checkpoint directory is the usual cause.
"""

from __future__ import annotations

import os
from pathlib import Path

from flowslurm.errors import FlowError
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from flowslurm.providers.mithril.remote import Remote

DEFAULT_MAX_BYTES = 1 << 30
IGNORE_FILES = (".flowignore", ".gitignore")
ALWAYS_EXCLUDED = ".git"  # a file (worktree, submodule) or a directory; never uploaded
DEFAULT_IGNORES = (
    "__pycache__/", "*.pyc", ".venv/", "venv/", "node_modules/", ".mypy_cache/", ".pytest_cache/", ".tox/",
    ".DS_Store", "*.egg-info/",
)
SHIM_COMMANDS = ("sbatch", "srun", "squeue", "scancel", "sacct", "scontrol", "sinfo", "salloc")
PACKAGE_DIR = "/opt/flowslurm"


class UploadTooLarge(FlowError):
    """The files to upload add up to more than the cap."""


class UploadError(FlowError):
    """The upload did not arrive: tar on the instance failed, or a local file could not be read."""


class UploadStats(FrozenRecord):
    """What an upload sent: `files` entries (files, links and in-memory files), `bytes` of
    content before compression, `sent_bytes` on the wire after gzip, in `seconds`."""

    __slots__ = ("files", "bytes", "sent_bytes", "seconds")

    def __init__(self, files: int, bytes: int, sent_bytes: int, seconds: float) -> None:
        init = object.__setattr__
        init(self, "files", files)
        init(self, "bytes", bytes)
        init(self, "sent_bytes", sent_bytes)
        init(self, "seconds", seconds)

    if TYPE_CHECKING:
        files: int
        bytes: int
        sent_bytes: int
        seconds: float


# --- what to upload -------------------------------------------------------------------------------

def _spec(lines: Iterable[str]) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _read_spec(path: Path) -> Any | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    return _spec(text.splitlines())


def _ignored(rel: str, stack: list[tuple[str, Any]]) -> bool:
    """Whether `rel` (a directory ends with "/") is excluded: the deepest ignore file with a
    matching line decides, and within it the last matching line (git's precedence)."""
    verdict: bool | None = None
    for base, spec in stack:
        result = spec.check_file(rel[len(base):]).include
        if result is not None:
            verdict = result
    return bool(verdict)


def ignore_file_name(root: Path) -> str:
    """Which ignore files rule `root`'s upload: .flowignore when root has one, else .gitignore."""
    return IGNORE_FILES[0] if (root / IGNORE_FILES[0]).is_file() else IGNORE_FILES[1]


def collect(root: Path, max_bytes: int | None = DEFAULT_MAX_BYTES) -> list[Path]:
    """The files (and symlinks) under `root` to upload, as sorted paths relative to it.
    UploadTooLarge when their sizes add up to more than `max_bytes` (None: no cap)."""
    root = Path(root)
    name = ignore_file_name(root)
    files: list[tuple[str, int]] = []
    stack: list[tuple[str, Any]] = [("", _spec(DEFAULT_IGNORES))]

    def walk(directory: str, rel_dir: str, stack: list[tuple[str, Any]]) -> None:
        own = _read_spec(Path(directory, name))
        if own is not None:
            stack = [*stack, (rel_dir, own)]
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            shown = rel_dir.rstrip("/") or "."
            raise UploadError(f"cannot read {Path(directory)} for the upload: permission denied",
                              [f"Add `/{rel_dir}` to {root / '.flowignore'} if the job does not need it"
                               if rel_dir else f"Make {shown} readable"]) from None
        for entry in entries:
            if entry.name == ALWAYS_EXCLUDED:
                continue
            rel = rel_dir + entry.name
            is_dir = entry.is_dir(follow_symlinks=False)
            if _ignored(rel + "/" if is_dir else rel, stack):
                continue
            if is_dir:
                walk(entry.path, rel + "/", stack)
            elif entry.is_symlink() or entry.is_file(follow_symlinks=False):
                files.append((rel, entry.stat(follow_symlinks=False).st_size))
            # sockets, fifos and devices are not uploaded

    walk(str(root), "", stack)
    if max_bytes is not None:
        total = sum(size for _, size in files)
        if total > max_bytes:
            raise _too_large(root, name, files, total, max_bytes)
    return [Path(rel) for rel, _ in sorted(files)]


def human(n: float) -> str:
    """1536 -> "1.5 KiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _too_large(root: Path, name: str, files: list[tuple[str, int]], total: int, cap: int) -> UploadTooLarge:
    """The error naming the biggest top-level entries, the lines to exclude them."""
    sizes: dict[str, int] = {}
    for rel, size in files:
        top, sep, _ = rel.partition("/")
        key = top + "/" if sep else top
        sizes[key] = sizes.get(key, 0) + size
    biggest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    listing = ", ".join(f"{entry} ({human(size)})" for entry, size in biggest)
    suggestions = [f"Add the entries you do not need on the instance to {root / '.flowignore'} "
                   f"(gitignore syntax), e.g. the line `/{biggest[0][0]}`"]
    if name == ".gitignore":
        suggestions.append("A .flowignore replaces .gitignore for uploads: "
                           "copy the .gitignore lines you still want into it")
    suggestions.append("Keep datasets and checkpoints on a Mithril volume instead of in the submit directory")
    return UploadTooLarge(
        f"the submit directory {root} holds {human(total)} to upload, over the {human(cap)} limit; "
        f"biggest entries: {listing}", suggestions)


# --- flowslurm itself ---------------------------------------------------------------------------

def package_files() -> list[tuple[Path, str]]:
    """The installed flowslurm package's files with their arcnames ("flowslurm/cli/sbatch.py"),
    without caches or tests: under /opt/flowslurm they make `PYTHONPATH=/opt/flowslurm python3 -m
    flowslurm...` work."""
    import flowslurm

    package = Path(flowslurm.__file__).resolve().parent
    found: list[tuple[Path, str]] = []
    for directory, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "tests") and not d.endswith(".egg-info"))
        rel_dir = Path(directory).relative_to(package.parent).as_posix()
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(directory, name)
            if path.is_file() or path.is_symlink():
                found.append((path, f"{rel_dir}/{name}"))
    return found


def shim_scripts() -> dict[str, bytes]:
    """sh shims for the SLURM commands, by name, for /opt/flowslurm/bin: each finds the package
    directory relative to itself (so FLOW_ROOT needs no special case) and runs the command's main."""
    shims = {}
    for command in SHIM_COMMANDS:
        shims[command] = (
            "#!/bin/sh\n"
            f"# flowslurm's {command} on a Mithril instance (uploaded by flowslurm)\n"
            'here=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)\n'
            'PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "${FLOWSLURM_PYTHON:-python3}" '
            f"-c 'from flowslurm.cli.{command} import main; main()' \"$@\"\n"
        ).encode()
    return shims


def upload_package(remote: Remote, remote_dir: str = PACKAGE_DIR, timeout_s: float = 300.0) -> UploadStats:
    """flowslurm's package and bin/ shims to contract path `remote_dir`, in one tar stream."""
    extra = {f"bin/{name}": data for name, data in shim_scripts().items()}
    return upload_tree(remote, None, remote_dir, package_files(), extra=extra, timeout_s=timeout_s)


# --- the stream ---------------------------------------------------------------------------------

def _arcname(name: str) -> str:
    """A safe relative member name: no absolute path, no "..", posix separators."""
    parts = [p for p in name.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if not parts or name.startswith("/") or ".." in parts:
        raise ValueError(f"unsafe name for an upload: {name!r}")
    return "/".join(parts)


class _Counter:
    """Counts the compressed bytes on their way to the channel."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.count = 0

    def write(self, data: bytes) -> int:
        self.sink.write(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def upload_tree(remote: Remote, local_root: Path | None, remote_dir: str,
                files: Iterable[Path | str | tuple[Path, str]], *, extra: Mapping[str, bytes] | None = None,
                extra_mode: int = 0o755, timeout_s: float = 600.0, compresslevel: int = 6) -> UploadStats:
    """Send `files` into directory `remote_dir` (a contract path) on the instance as one tar.gz
    stream on one exec channel (`mkdir -p DIR && tar -xzpf - -C DIR`), keeping modes and mtimes; owners are not
    kept (files belong to the SSH user). Each file is a path relative to `local_root` (as `collect`
    gives) or a (local path, arcname) pair; `extra` adds in-memory files by arcname, mode
    `extra_mode`. UploadError when tar on the instance fails or a local file cannot be read."""
    import gzip
    import shlex
    import tarfile
    import time

    started = time.monotonic()
    entries: list[tuple[Path, str]] = []
    for item in files:
        if isinstance(item, tuple):
            entries.append((Path(item[0]), _arcname(item[1])))
        else:
            if local_root is None:
                raise ValueError("relative file names need local_root")
            rel = Path(item)
            entries.append((Path(local_root, rel), _arcname(rel.as_posix())))
    extras = {_arcname(name): data for name, data in (extra or {}).items()}
    target = shlex.quote(remote.path(remote_dir))
    command = f"mkdir -p {target} && tar -xzpf - --no-same-owner -C {target}"
    counted = {"files": 0, "bytes": 0, "sent": 0}
    failure: list[BaseException] = []

    def feed(writer: Any) -> None:
        import io

        from flowslurm.providers.mithril.remote import RemoteError

        sink = _Counter(writer)
        try:
            with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=compresslevel, mtime=0) as gz, \
                    tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for path, arcname in entries:
                    _add(tar, path, arcname, counted)
                now = time.time()
                for arcname, data in extras.items():
                    info = tarfile.TarInfo(arcname)
                    info.size, info.mode, info.mtime = len(data), extra_mode, now
                    tar.addfile(info, io.BytesIO(data))
                    counted["files"] += 1
                    counted["bytes"] += len(data)
        except OSError as exc:  # a local file unreadable or shrinking: tell the caller, not a half tree
            if not isinstance(exc, RemoteError):
                failure.append(exc)
            raise
        finally:
            counted["sent"] = sink.count

    try:
        status, _out, err = remote.run(command, timeout_s=timeout_s, stdin=feed)
    except OSError:
        if failure:
            raise UploadError(f"could not read a local file for the upload to {remote.alias}: "
                              f"{failure[0]}") from None
        raise
    if status != 0:
        raise UploadError(f"upload to {remote_dir} on instance {remote.alias} failed (tar exit status {status}): "
                          f"{err.strip()[-500:] or 'no message'}")
    return UploadStats(counted["files"], counted["bytes"], counted["sent"], time.monotonic() - started)


def _add(tar: Any, path: Path, arcname: str, counted: dict[str, int]) -> None:
    """One file or symlink into the stream, owner-neutral. A file deleted since `collect` listed
    it (an editor's temporary file) is left out."""
    try:
        info = tar.gettarinfo(str(path), arcname)
    except FileNotFoundError:
        return
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isreg():
        with open(path, "rb") as fh:
            tar.addfile(info, fh)
        counted["bytes"] += info.size
    elif info.issym():
        tar.addfile(info)
    else:
        return  # directories come from their files; special files are not uploaded
    counted["files"] += 1
