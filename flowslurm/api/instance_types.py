"""Instance type names as Flow users write them, and what each asks of the cloud.

The seed's table (`a100`, `4xa100`, `8xa100`, `h100`, `8xh100`, aliases `1xa100`, `1xh100`) and
the spellings its peer accepts (`a100:4`, `a100x4`, `4x a100`, `A100`) all mean "N GPUs of one
family per instance", which the Mithril placement already knows how to satisfy: the request goes
to it as `--gpus-per-node=FAMILY:N`, and it picks the cheapest instance type offering that (so
`4xa100` still runs where the market only sells 8-GPU A100 machines). A Mithril instance type name
(`a100-80gb.sxm.1x`) or fid (`it_...`) is passed through and must be offered as such.

Checked without the network, so a typo fails at `TaskConfig(...)`, not minutes later.
"""

from __future__ import annotations

from flowslurm.record import FrozenRecord

TYPE_CHECKING = False

__all__ = ["SEED_TYPES", "InstanceRequest", "known_names", "parse_instance_type", "suggest"]

# name: (GPUs, GPU family, total GPU memory in GB, aliases) -- the seed README's table.
SEED_TYPES: dict[str, tuple[int, str, int, tuple[str, ...]]] = {
    "a100": (1, "a100", 80, ("1xa100",)),
    "4xa100": (4, "a100", 320, ()),
    "8xa100": (8, "a100", 640, ()),
    "h100": (1, "h100", 80, ("1xh100",)),
    "8xh100": (8, "h100", 640, ()),
}
GPU_COUNTS = (1, 2, 4, 8)


def _families() -> frozenset[str]:
    from flowslurm.providers.mithril.placement import GPU_FAMILIES

    return GPU_FAMILIES


class InstanceRequest(FrozenRecord):
    """What an instance type name asks for: `count` GPUs of `family` per instance (`name` is the
    canonical spelling: "a100", "4xa100"), or a Mithril instance type taken as is (`api_name`)."""

    __slots__ = ("name", "family", "count", "api_name")

    def __init__(self, name: str, family: str | None, count: int, api_name: str | None = None) -> None:
        init = object.__setattr__
        init(self, "name", name)
        init(self, "family", family)
        init(self, "count", count)
        init(self, "api_name", api_name)

    if TYPE_CHECKING:
        name: str
        family: str | None
        count: int
        api_name: str | None

    @property
    def gpus_per_node(self) -> str | None:
        """The `--gpus-per-node` value ("a100:4"), None for a Mithril type taken as is."""
        return None if self.family is None else f"{self.family}:{self.count}"


def _split(text: str) -> tuple[str, int] | None:
    """("a100", 4) from "4xa100", "4x a100", "a100:4", "a100x4", "a100"; None otherwise."""
    t = text.replace(" ", "")
    for sep in (":", "x"):
        if sep == "x" and t[:1].isdigit():
            count, _, family = t.partition("x")
            if count.isdigit() and family:
                return family, int(count)
        head, found, count = t.rpartition(sep)
        if found and head and count.isdigit():
            return head, int(count)
    return (t, 1) if t and not t[0].isdigit() else None


def parse_instance_type(text: str) -> InstanceRequest:
    """The request an instance type names. Raises ValueError for a name that is neither a GPU family
    with a count nor a Mithril type (`suggest` gives the closest valid names)."""
    raw = text.strip()
    lowered = raw.lower()
    if not lowered:
        raise ValueError("instance type is empty")
    for name, (count, family, _mem, aliases) in SEED_TYPES.items():
        if lowered == name or lowered in aliases:
            return InstanceRequest(name, family, count)
    if lowered.startswith("it_") or "." in lowered:  # a Mithril fid or API name ("h100-80gb.sxm.8x")
        return InstanceRequest(raw, None, 0, api_name=raw)
    split = _split(lowered)
    if split is not None:
        family, count = split
        if family in _families() and count in GPU_COUNTS:
            return InstanceRequest(family if count == 1 else f"{count}x{family}", family, count)
        if family in _families():
            raise ValueError(f"{raw!r}: {count} GPUs per instance is not offered (use 1, 2, 4 or 8)")
    raise ValueError(f"unknown instance type {raw!r}")


def known_names() -> list[str]:
    """Every name `parse_instance_type` accepts for the common families (for suggestions)."""
    names = list(SEED_TYPES) + [a for *_, aliases in SEED_TYPES.values() for a in aliases]
    for family in sorted(_families()):
        for count in GPU_COUNTS:
            name = family if count == 1 else f"{count}x{family}"
            if name not in names:
                names.append(name)
    return names


def suggest(text: str, limit: int = 3) -> list[str]:
    """The valid names closest to `text` (seed names first when nothing is close)."""
    from difflib import get_close_matches

    return get_close_matches(text.strip().lower(), known_names(), n=limit, cutoff=0.6)


def valid_names_hint() -> str:
    seed = ", ".join(n for n in SEED_TYPES)
    return (f"Valid instance types: {seed} (aliases 1xa100, 1xh100), or N x a GPU family such as 2xa100, "
            "a100:4, 4xh200, or a Mithril instance type name (see `flow instances`)")
