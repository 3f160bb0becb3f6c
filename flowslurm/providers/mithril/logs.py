"""Mirror a running job's output files from its instance into the local files the user asked for.

Why it looks like this:
- Only new bytes travel: each (remote path, local file) pair keeps the offset already copied, so
  a poll costs one SFTP stat per file when nothing changed, and a read of just the tail otherwise.
- Offsets live in memory; after a restart of the client they come back from the local file's size
  (the local file holds exactly the bytes copied so far), so nothing is copied twice.
- stdout and stderr often name one file. The same remote path listed twice for one local file is
  copied once. Two different remote paths into one local file each keep their own offset, and are
  appended in turn; after a restart their split of the local size is recovered best-effort
  (in listing order, each up to its current remote size), since one size cannot say more.
- A remote file that shrank was truncated or replaced (a requeued job): a local file fed by it
  alone is truncated too and copied again from the start.
- Local files are created with the user's umask: they are the job's output, like a local job's.
"""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import BinaryIO

    from flowslurm.providers.mithril.remote import Remote

CHUNK_BYTES = 4 << 20  # one SFTP read (bounded memory)
POLL_BYTES = 64 << 20  # at most this much per file per poll, so one huge log cannot stall a poll


class LogPuller:
    """Appends to each local file what its remote file(s) gained since the last poll."""

    def __init__(self, remote: Remote, pairs: Iterable[tuple[str, str | os.PathLike[str]]], *,
                 poll_bytes: int = POLL_BYTES, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.remote = remote
        self.poll_bytes = poll_bytes
        self.chunk_bytes = chunk_bytes
        self._sources: dict[Path, list[str]] = {}
        for remote_path, local in pairs:
            if os.fspath(local) == os.devnull:
                continue  # output thrown away: nothing to copy
            sources = self._sources.setdefault(Path(local), [])
            if remote_path not in sources:
                sources.append(remote_path)
        self._offsets: dict[tuple[str, Path], int] = {}
        self._started: set[Path] = set()

    @property
    def offsets(self) -> dict[tuple[str, Path], int]:
        """Bytes copied so far, by (remote path, local file)."""
        return dict(self._offsets)

    def poll(self) -> int:
        """Copy what is new (at most `poll_bytes` per file); the number of bytes appended."""
        return sum(self._pass(local, sources, self.poll_bytes) for local, sources in self._sources.items())

    def final(self) -> int:
        """A last, complete pass once the job has ended: everything up to each file's end."""
        return sum(self._pass(local, sources, None) for local, sources in self._sources.items())

    def _sizes(self, sources: list[str]) -> dict[str, int]:
        sizes = {}
        for remote_path in sources:
            try:
                sizes[remote_path] = self.remote.size(remote_path)
            except FileNotFoundError:
                continue
        return sizes

    def _recover(self, local: Path, sources: list[str], sizes: dict[str, int]) -> None:
        """Offsets for a local file seen for the first time since this puller started."""
        try:
            have = local.stat().st_size
        except FileNotFoundError:
            have = 0
        if len(sources) == 1:
            self._offsets[(sources[0], local)] = have
        else:
            for remote_path in sources:
                take = min(have, sizes.get(remote_path, 0))
                self._offsets[(remote_path, local)] = take
                have -= take
        self._started.add(local)

    def _pass(self, local: Path, sources: list[str], budget: int | None) -> int:
        sizes = self._sizes(sources)
        if local not in self._started:
            if not sizes:
                return 0  # no source exists yet: recover once one does
            self._recover(local, sources, sizes)
        out: BinaryIO | None = None
        copied = 0
        try:
            for remote_path in sources:
                if remote_path not in sizes:
                    continue
                size, key = sizes[remote_path], (remote_path, local)
                offset = self._offsets[key]
                if out is None:
                    local.parent.mkdir(parents=True, exist_ok=True)
                    out = open(local, "ab")  # noqa: SIM115 (closed below; created with the umask)
                if size < offset:
                    offset = 0
                    if len(sources) == 1:
                        out.truncate(0)
                left = size - offset if budget is None else min(size - offset, budget - copied)
                while left > 0:
                    data = self.remote.get_bytes(remote_path, offset, min(left, self.chunk_bytes))
                    if not data:
                        break
                    out.write(data)
                    out.flush()
                    offset += len(data)
                    self._offsets[key] = offset  # per chunk: a failed read later copies nothing twice
                    left -= len(data)
                    copied += len(data)
                self._offsets[key] = offset
        finally:
            if out is not None:
                out.close()
        return copied
