"""What Mithril sells: instance types and their spot markets, cached for a few minutes.

A burst of `sbatch` calls (an array, a workflow manager) each needs the catalog to place its job;
asking the API every time would cost two requests per job. `load_catalog` keeps the last answer in
$FLOWSLURM_HOME/mithril/catalog.json for `max_age_s` (300 s), and holds a lock file while it
refreshes, so processes starting together wait for one fetch instead of each making their own.
A cache that cannot be read, belongs to another API URL, or is dated in the future is refetched.
"""

from __future__ import annotations

import json
import os
import time

from flowslurm.providers.mithril.filelock import FileLock
from flowslurm.providers.mithril.models import Auction, InstanceType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path
    from typing import Any

    from flowslurm.providers.mithril.api import MithrilClient

__all__ = ["CACHE_NAME", "MAX_AGE_S", "Catalog", "cache_dir", "fetch_catalog", "load_catalog"]

CACHE_NAME = "catalog.json"
CACHE_VERSION = 1
MAX_AGE_S = 300.0
LOCK_WAIT_S = 60.0  # past this a stuck refresher is ignored and this process fetches for itself


class Catalog:
    """Instance types (by fid) and spot markets (one Auction per instance type x region)."""

    __slots__ = ("instance_types", "auctions", "fetched_at", "api_url")

    def __init__(self, instance_types: Iterable[InstanceType], auctions: Iterable[Auction], fetched_at: float = 0.0,
                 api_url: str = "") -> None:
        self.instance_types: tuple[InstanceType, ...] = tuple(instance_types)
        self.auctions: tuple[Auction, ...] = tuple(auctions)
        self.fetched_at = fetched_at
        self.api_url = api_url

    def __repr__(self) -> str:
        return (f"Catalog({len(self.instance_types)} instance types, {len(self.auctions)} markets, "
                f"fetched_at={self.fetched_at!r}, api_url={self.api_url!r})")

    def instance_type(self, fid_or_name: str) -> InstanceType | None:
        """The type with this fid, or this name (case-insensitive)."""
        wanted = fid_or_name.strip().lower()
        for it in self.instance_types:
            if it.fid == fid_or_name or it.name.lower() == wanted:
                return it
        return None

    def markets(self, instance_type_fid: str) -> list[Auction]:
        return [a for a in self.auctions if a.instance_type == instance_type_fid]

    def gpu_types(self) -> list[str]:
        """The GPU types on offer, as the API spells them ("A100", "H100"), sorted."""
        return sorted({it.gpu_type for it in self.instance_types if it.gpu_type and it.num_gpus})

    def regions(self) -> list[str]:
        return sorted({a.region for a in self.auctions})

    def to_json(self) -> dict[str, Any]:
        return {"version": CACHE_VERSION, "api_url": self.api_url, "fetched_at": self.fetched_at,
                "instance_types": [it.raw for it in self.instance_types],
                "availability": [a.raw for a in self.auctions]}

    @classmethod
    def from_json(cls, data: object) -> Catalog:
        """Raises ValueError when `data` is not a catalog this version wrote."""
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            raise ValueError("not a flowslurm catalog cache")
        fetched_at = data.get("fetched_at")
        if not isinstance(fetched_at, (int, float)) or isinstance(fetched_at, bool):
            raise ValueError("catalog cache without a time")
        types, markets = data.get("instance_types"), data.get("availability")
        if not isinstance(types, list) or not isinstance(markets, list):
            raise ValueError("catalog cache without its lists")
        return cls([InstanceType.from_json(t) for t in types], [Auction.from_json(a) for a in markets],
                   float(fetched_at), str(data.get("api_url") or ""))


def fetch_catalog(client: MithrilClient, now: float | None = None) -> Catalog:
    """Two requests: instance types and spot availability."""
    types = client.list_instance_types()
    markets = client.spot_availability()
    return Catalog(types, markets, time.time() if now is None else now, client.base_url)


def cache_dir() -> Path:
    """$FLOWSLURM_HOME/mithril (made 0700)."""
    from flowslurm.config import home

    path = home() / "mithril"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _read_cache(path: Path, api_url: str, now: float, max_age_s: float) -> Catalog | None:
    try:
        with open(path, encoding="utf-8") as fh:
            catalog = Catalog.from_json(json.load(fh))
    except (OSError, ValueError, TypeError):
        return None  # missing or corrupt: fetch again
    age = now - catalog.fetched_at
    if catalog.api_url != api_url or age < -5.0 or age >= max_age_s:
        return None
    return catalog


def _write_cache(path: Path, catalog: Catalog) -> None:
    """Atomically: a reader sees the old cache or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(catalog.to_json(), fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # a cache we could not write only costs a refetch


def load_catalog(client: MithrilClient, *, directory: str | os.PathLike[str] | None = None,
                 max_age_s: float = MAX_AGE_S, now: Callable[[], float] = time.time,
                 refresh: bool = False) -> Catalog:
    """The catalog from the cache when it is younger than `max_age_s`, else fetched (and cached).
    `refresh` skips the cache (after a bid was refused for a market the cache said was open)."""
    from pathlib import Path

    folder = Path(directory) if directory is not None else cache_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / CACHE_NAME
    if not refresh and (cached := _read_cache(path, client.base_url, now(), max_age_s)) is not None:
        return cached
    with FileLock(folder / (CACHE_NAME + ".lock"), LOCK_WAIT_S):
        if not refresh and (cached := _read_cache(path, client.base_url, now(), max_age_s)) is not None:
            return cached  # another process refreshed it while this one waited
        catalog = fetch_catalog(client, now())
        _write_cache(path, catalog)
    return catalog
