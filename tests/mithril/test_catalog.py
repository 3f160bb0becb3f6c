"""The catalog cache: requests counted at the emulator, over real HTTP."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from flowslurm.providers.mithril.api import MithrilClient
from flowslurm.providers.mithril.catalog import CACHE_NAME, Catalog, cache_dir, load_catalog
from tests.mithril.conftest import FAST

TYPES, MARKETS = "/v2/instance-types", "/v2/spot/availability"


def fetches(mithril: Any) -> tuple[int, int]:
    state = mithril.state
    return len(state.requests_to("GET", TYPES)), len(state.requests_to("GET", MARKETS))


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_served_from_the_cache_for_300_s(api: MithrilClient, mithril: Any, tmp_path: Path) -> None:
    clock = Clock()
    first = load_catalog(api, directory=tmp_path, now=clock)
    assert fetches(mithril) == (1, 1)
    assert {it.name for it in first.instance_types} >= {"a100-80gb.sxm.1x", "h100-80gb.sxm.8x"}
    assert first.gpu_types() == ["A100", "H100"] and first.fetched_at == clock.now
    for _ in range(5):
        clock.now += 50
        again = load_catalog(api, directory=tmp_path, now=clock)
    assert fetches(mithril) == (1, 1)  # 250 s later: still the cache
    assert [it.raw for it in again.instance_types] == [it.raw for it in first.instance_types]
    assert [a.raw for a in again.auctions] == [a.raw for a in first.auctions]
    clock.now += 50
    load_catalog(api, directory=tmp_path, now=clock)
    assert fetches(mithril) == (2, 2)  # 300 s: stale
    load_catalog(api, directory=tmp_path, now=clock, refresh=True)
    assert fetches(mithril) == (3, 3)
    assert stat.S_IMODE((tmp_path / CACHE_NAME).stat().st_mode) == 0o600


def test_a_corrupt_foreign_or_future_cache_is_refetched(api: MithrilClient, mithril: Any, tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / CACHE_NAME
    for bad in ("{not json", json.dumps({"version": 1, "fetched_at": clock.now}), json.dumps([1, 2]),
                json.dumps({"version": 1, "api_url": api.base_url, "fetched_at": clock.now,
                            "instance_types": [{"fid": "it_x"}], "availability": []})):
        path.write_text(bad)
        catalog = load_catalog(api, directory=tmp_path, now=clock)
        assert catalog.instance_types  # fetched again, and the cache repaired
        Catalog.from_json(json.loads(path.read_text()))
    assert fetches(mithril) == (4, 4)
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "api_url": "http://127.0.0.1:1"}))
    load_catalog(api, directory=tmp_path, now=clock)
    path.write_text(json.dumps({**data, "fetched_at": clock.now + 3600}))
    load_catalog(api, directory=tmp_path, now=clock)
    assert fetches(mithril) == (6, 6)


def test_processes_starting_together_fetch_once(mithril: Any, tmp_path: Path) -> None:
    """Each thread has its own client and lock file descriptor, as separate sbatch processes would."""
    mithril.state.delay(0.2, times=1, path=TYPES)  # the first fetch is slow
    results: list[Catalog] = []

    def one() -> None:
        with MithrilClient(api_key=mithril.api_key, base_url=mithril.url, retry=FAST,
                           timeout_s=10.0) as client:
            results.append(load_catalog(client, directory=tmp_path))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 4 and fetches(mithril) == (1, 1)


def test_the_default_cache_lives_in_flowslurm_home(api: MithrilClient, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWSLURM_HOME", str(tmp_path / "home"))
    load_catalog(api)
    assert cache_dir() == tmp_path / "home" / "mithril"
    assert (tmp_path / "home" / "mithril" / CACHE_NAME).is_file()
    assert stat.S_IMODE(os.stat(tmp_path / "home" / "mithril").st_mode) == 0o700
