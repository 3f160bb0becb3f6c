"""Fixtures: a Mithril API emulator on a loopback port, and a client aimed at it with instant retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowslurm.providers.mithril.api import MithrilClient, RetryPolicy
from tests.mithril.emulator import Emulator

FAST = RetryPolicy(attempts=4, base_s=0.001, cap_s=0.004, max_wait_s=60.0)


@pytest.fixture
def mithril() -> Iterator[Emulator]:
    """The running emulator: `.url`, `.api_key`, and `.state` to seed, inspect and inject faults."""
    emulator = Emulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()
    assert not emulator.state.internal_errors, emulator.state.internal_errors[0]


@pytest.fixture
def sleeps() -> list[float]:
    """What the `api` client asked to sleep, in order (it does not actually sleep)."""
    return []


@pytest.fixture
def api(mithril: Emulator, sleeps: list[float]) -> Iterator[MithrilClient]:
    client = MithrilClient(api_key=mithril.api_key, base_url=mithril.url, retry=FAST, sleep=sleeps.append,
                           timeout_s=5.0)
    try:
        yield client
    finally:
        client.close()
