"""Fixtures: the Mithril API emulator in this process (manual clock) with a client aimed at it, and
the emulator program with sandbox instances (real clock, real sshds) for tests that need SSH."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowslurm.emulator.server import EmulatorServer
from flowslurm.emulator.testing import Emulator
from flowslurm.providers.mithril.api import MithrilClient, RetryPolicy

FAST = RetryPolicy(attempts=4, base_s=0.001, cap_s=0.004, max_wait_s=60.0)


@pytest.fixture
def mithril() -> Iterator[EmulatorServer]:
    """The running in-process emulator: `.url`, `.api_key`, and `.state` to seed, inspect, inject
    faults and `advance()` the manual clock."""
    emulator = EmulatorServer().start()
    try:
        yield emulator
    finally:
        emulator.stop()
    assert not emulator.state.internal_errors, emulator.state.internal_errors[0]


@pytest.fixture
def mithril_program(tmp_path: Path) -> Iterator[Emulator]:
    """`python -m flowslurm.emulator` with sandbox instances and a fast market (0.2 s to allocate,
    0.2 s to boot); on exit it checks that no sandbox process or sshd is left."""
    with Emulator(tmp_path / "mithril", allocate_after=0.2, boot_after=0.2) as emulator:
        yield emulator


@pytest.fixture
def sleeps() -> list[float]:
    """What the `api` client asked to sleep, in order (it does not actually sleep)."""
    return []


@pytest.fixture
def api(mithril: EmulatorServer, sleeps: list[float]) -> Iterator[MithrilClient]:
    client = MithrilClient(api_key=mithril.api_key, base_url=mithril.url, retry=FAST, sleep=sleeps.append,
                           timeout_s=5.0)
    try:
        yield client
    finally:
        client.close()
