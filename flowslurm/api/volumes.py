"""Persistent volumes on Mithril: create, list, find (by id, name or `:N`), delete, mount.

A volume lives in one region and can only be attached to instances there; a task that uses an
existing volume is therefore placed in that volume's region. Volumes named by a task that do not
exist yet are made in the region the task is placed in (`volume://name` mounts: 100 GB, as the
seed says).
"""

from __future__ import annotations

from flowslurm.api.cloud import default_region, provider, require_key, translated
from flowslurm.api.errors import ValidationError, VolumeNotFoundError
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.providers.mithril.provider import MithrilProvider

__all__ = ["DEFAULT_SIZE_GB", "Volume", "create_volume", "delete_volume", "find_volume", "list_volumes",
           "mount_volume"]

DEFAULT_SIZE_GB = 100


class Volume(FrozenRecord):
    """A Mithril volume as the Flow API shows it."""

    __slots__ = ("volume_id", "name", "size_gb", "region", "interface", "created_at", "attached_to")

    def __init__(self, volume_id: str, name: str, size_gb: int, region: str, interface: str, created_at: str,
                 attached_to: tuple[str, ...] = ()) -> None:
        values = (volume_id, name, size_gb, region, interface, created_at, tuple(attached_to))
        for slot, value in zip(self.__slots__, values):
            object.__setattr__(self, slot, value)

    if TYPE_CHECKING:
        volume_id: str
        name: str
        size_gb: int
        region: str
        interface: str
        created_at: str
        attached_to: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.volume_id

    @classmethod
    def from_wire(cls, v: Any) -> Volume:
        return cls(v.fid, v.name, int(v.capacity_gb or 0), v.region or "", str(v.interface or "Block").lower(),
                   str(v.created_at or ""), tuple(getattr(v, "bids", ()) or ()))

    def to_dict(self) -> dict[str, Any]:
        return {"volume_id": self.volume_id, "name": self.name, "size_gb": self.size_gb, "region": self.region,
                "interface": self.interface, "created_at": self.created_at, "attached_to": list(self.attached_to)}


def _list(p: MithrilProvider) -> list[Volume]:
    with translated():
        found = [Volume.from_wire(v) for v in p.client.list_volumes(p.project)]
    return sorted(found, key=lambda v: (v.created_at, v.volume_id))


def list_volumes() -> list[Volume]:
    """The project's volumes, oldest first (the order `:N` counts in)."""
    with provider() as p:
        require_key(p)
        return _list(p)


def _find(volumes: list[Volume], ref: str) -> Volume | None:
    text = ref.strip()
    if text.startswith(":") and text[1:].isdigit():
        index = int(text[1:])
        return volumes[index - 1] if 1 <= index <= len(volumes) else None
    for v in volumes:
        if text in (v.volume_id, v.name):
            return v
    return None


def _not_found(volumes: list[Volume], ref: str) -> VolumeNotFoundError:
    from difflib import get_close_matches

    close = get_close_matches(ref, [v.name for v in volumes], n=3)
    hints = [f"Did you mean {' or '.join(repr(c) for c in close)}?"] if close else []
    hints.append("`flow volumes list` shows volumes; name one by id (vol_...), name, or :N (its row)")
    return VolumeNotFoundError(f"no volume {ref!r}", hints)


def find_in(p: MithrilProvider, ref: str) -> Volume:
    volumes = _list(p)
    found = _find(volumes, ref)
    if found is None:
        raise _not_found(volumes, ref)
    return found


def find_volume(ref: str) -> Volume:
    with provider() as p:
        require_key(p)
        return find_in(p, ref)


def _check_name(name: str) -> None:
    from flowslurm.api.config import VOLUME_NAME_HINT

    ok = (0 < len(name) <= 64 and name[0].isalpha() and name[0].islower() and name[-1] != "-"
          and all(c.islower() or c.isdigit() or c == "-" for c in name))
    if not ok:
        raise ValidationError(f"volume name {name!r} is not valid", [f"Use {VOLUME_NAME_HINT}"])


def create_in(p: MithrilProvider, size_gb: int, name: str | None = None, region: str | None = None,
              interface: str = "block") -> Volume:
    if not isinstance(size_gb, int) or isinstance(size_gb, bool) or not 1 <= size_gb <= 16384:
        raise ValidationError(f"volume size {size_gb!r} is not valid", ["Give a whole number of GB, 1 to 16384"])
    if interface not in ("block", "file"):
        raise ValidationError(f"volume interface {interface!r} is not valid", ["Use block or file"])
    if name is None:
        import secrets

        name = f"flow-volume-{secrets.token_hex(3)}"
    _check_name(name)
    with translated():
        made = p.client.create_volume(p.project, name, region or default_region(p), size_gb,
                                      "Block" if interface == "block" else "File")
    return Volume.from_wire(made)


def create_volume(size_gb: int, name: str | None = None, region: str | None = None,
                  interface: str = "block") -> Volume:
    """A new volume (block storage unless interface="file") in `region` (default: the configured
    one, else the first with a market)."""
    with provider() as p:
        require_key(p)
        return create_in(p, size_gb, name, region, interface)


def delete_volume(ref: str) -> Volume:
    """Delete a volume (it must not be attached to a live task). Returns what was deleted."""
    with provider() as p:
        require_key(p)
        vol = find_in(p, ref)
        with translated():
            p.client.delete_volume(vol.volume_id)
        return vol


def mount_volume(volume: str, task: str, mount_path: str | None = None) -> str:
    """Attach a volume to a running cloud task's bid; returns where it appears (/mnt/NAME).

    Block volumes attach to single-instance tasks only (block storage is one machine's disk)."""
    from flowslurm.api.errors import SubmissionError
    from flowslurm.api.tasks import load_task

    t = load_task(task)
    if t.backend == "local":
        raise ValidationError(f"task {t.task_id} runs on this machine: volumes mount on cloud tasks",
                              ["Local tasks see the local filesystem directly"])
    if t.is_terminal:
        raise SubmissionError(f"task {t.task_id} has ended ({t.status}): nothing to mount on")
    bid = t._cloud.get("bid")
    if not bid:
        raise SubmissionError(f"task {t.task_id} has no cloud instance yet (it is {t.status})",
                              ["Retry once `flow status` shows it provisioning or running"])
    with provider() as p:
        require_key(p)
        vol = find_in(p, volume)
        if vol.interface == "block" and t.num_instances > 1:
            raise ValidationError(f"block volume {vol.name} cannot be mounted on multi-instance task {t.task_id}",
                                  ["Use a file share (`flow volumes create --interface file`)"])
        if t.region and vol.region and t.region != vol.region:
            raise ValidationError(f"volume {vol.name} is in {vol.region}, task {t.task_id} in {t.region}",
                                  ["A volume attaches only to instances in its own region"])
        with translated():
            current = p.client.get_bid(bid)
            attached = list(current.launch_specification.volumes or ())
            if vol.volume_id not in attached:
                p.client.update_bid(bid, volumes=[*attached, vol.volume_id])
    return mount_path or f"/mnt/{vol.name}"
