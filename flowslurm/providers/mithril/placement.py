"""Which backend runs a job, and which Mithril instance type, region and price a cloud job gets.

Three steps, in the order sbatch needs them:

1. `flow_directives(script)`: the `#FLOW` lines of the script's header, read where sbatch reads
   `#SBATCH` lines (column 0, up to the first command), so a script stays a valid SLURM script.
2. `choose_backend(partition, directives, settings)`: "local" or "mithril", without the network.
   (Both live in settings.py, so sbatch decides the backend importing only that; re-exported here.)
3. `choose(Request.from_spec(spec), catalog, settings, directives)`: the cheapest instance type
   that fits every request (GPUs, CPUs, memory per node; GPU type; features; partition) among the
   markets with capacity for `nodes` instances, and the bid's limit price.

Prices. Mithril's `limit_price` (CreateBidRequest) is a dollar string with no stated unit; the
spec's markets quote `last_instance_price` per instance, its example bid pairs "$25.60" with
`instance_quantity: 4` (a plausible 8-GPU instance-hour, not a 4-instance one) and flow-compute
sends a per-instance limit. So every price here, caps included, is dollars per *instance*-hour,
and the bid costs at most `instance_quantity` times the limit. The limit is the cap (floored to
the cent, never above it); with no cap, the instance type's listed `hourly_price`, or the current
spot price when none is listed. A market dearer than the limit is still chosen, and reported as
waiting (the job stays PENDING until the price falls), rather than refused.
"""

from __future__ import annotations

from flowslurm.errors import SubmitError
from flowslurm.providers.mithril.settings import (
    CLOUD_PARTITION,
    FLOW_KEYS,
    choose_backend,
    effective_partition,
    flow_directives,
)
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from flowslurm.providers.mithril.catalog import Catalog
    from flowslurm.providers.mithril.models import Auction, InstanceType
    from flowslurm.providers.mithril.settings import PartitionSettings, Settings

__all__ = ["CLOUD_PARTITION", "FLOW_KEYS", "GPU_FAMILIES", "NOT_AVAILABLE", "Placement", "PlacementError", "Request",
           "choose", "choose_backend", "describe", "flow_directives", "parse_constraint"]

# GPU families Mithril and its peers name (research/flow-compute.md); a partition so named is a
# GPU filter even before the catalog is read.
GPU_FAMILIES = frozenset({"a10", "a100", "a10g", "a40", "a6000", "b200", "b300", "gb200", "gb300", "gh200", "h100",
                          "h200", "k80", "l4", "l40", "l40s", "m60", "p100", "rtx-6000-ada", "rtx-a6000", "t4", "v100"})
NOT_AVAILABLE = "Requested node configuration is not available"
INVALID_FEATURE = "Invalid feature specification"
INVALID_PARTITION = "Invalid partition name specified"


# -- what a job asks for -----------------------------------------------------------------------

class Request(FrozenRecord):
    """A job's resource request, from the engine's JobSpec values. `mem_mb` is per node (--mem);
    `gpus` is the job's total (--gpus, an int or "[type:]N"); `gres` and `gpus_per_node` are per
    node as given ("gpu:a100:2", "h100:8" or 8)."""

    __slots__ = ("nodes", "ntasks", "cpus_per_task", "mem_mb", "mem_per_cpu_mb", "gpus", "gres", "gpus_per_node",
                 "constraint", "partition")

    def __init__(self, nodes: int = 1, ntasks: int = 1, cpus_per_task: int = 1, mem_mb: int = 0,
                 mem_per_cpu_mb: int = 0, gpus: int | str = 0, gres: str = "", gpus_per_node: int | str | None = None,
                 constraint: str = "", partition: str = "") -> None:
        init = object.__setattr__
        init(self, "nodes", max(int(nodes), 1))
        init(self, "ntasks", max(int(ntasks), 1))
        init(self, "cpus_per_task", max(int(cpus_per_task), 1))
        init(self, "mem_mb", int(mem_mb))
        init(self, "mem_per_cpu_mb", int(mem_per_cpu_mb))
        init(self, "gpus", gpus)
        init(self, "gres", gres)
        init(self, "gpus_per_node", gpus_per_node)
        init(self, "constraint", constraint)
        init(self, "partition", partition)

    if TYPE_CHECKING:
        nodes: int
        ntasks: int
        cpus_per_task: int
        mem_mb: int
        mem_per_cpu_mb: int
        gpus: int | str
        gres: str
        gpus_per_node: int | str | None
        constraint: str
        partition: str

    @classmethod
    def from_spec(cls, spec: Any) -> Request:
        """From a JobSpec or its JSON. The typed forms of --gpus and --gpus-per-node are read from
        `extra["gpus_request"]` / `extra["gpus_per_node_request"]` (sbatch keeps them as written);
        the counts are always in `gpus` (the job's total)."""
        get = spec.get if isinstance(spec, dict) else (lambda k, d=None: getattr(spec, k, d))
        extra = get("extra") or {}
        total = int(get("gpus") or 0)
        gpus: int | str = total
        typed = extra.get("gpus_request")
        if isinstance(typed, str) and typed:
            gpu_type, count = _gpu_request(typed)
            gpus = f"{gpu_type}:{max(count, total)}" if gpu_type else max(count, total)
        return cls(nodes=get("nodes") or 1, ntasks=get("ntasks") or 1, cpus_per_task=get("cpus_per_task") or 1,
                   mem_mb=get("mem_mb") or 0, mem_per_cpu_mb=get("mem_per_cpu_mb") or 0, gpus=gpus,
                   gres=str(get("gres") or ""), gpus_per_node=extra.get("gpus_per_node_request"),
                   constraint=str(extra.get("constraint") or ""), partition=str(get("partition") or ""))


def _gpu_request(text: str | int | None) -> tuple[str | None, int]:
    """("a100", 2) from "a100:2" / "gpu:a100:2"; (None, 2) from 2 or "2"; a list sums its counts and
    keeps its one type (two different types: the types joined by "+", which nothing matches)."""
    from flowslurm.slurm import values

    if text is None or text == "":
        return None, 0
    if isinstance(text, int):
        return None, text
    items = values.parse_gpus(str(text))
    types = sorted({i.type.lower() for i in items if i.type})
    return ("+".join(types) if types else None), sum(i.count for i in items)


def _gres_request(text: str) -> tuple[str | None, int]:
    from flowslurm.slurm import values

    if not text:
        return None, 0
    items = [i for i in values.parse_gres(text) if i.name == "gpu"]
    types = sorted({i.type.lower() for i in items if i.type})
    return ("+".join(types) if types else None), sum(i.count for i in items)


def parse_constraint(text: str) -> list[tuple[frozenset[str], frozenset[str]]]:
    """-C as OR-ed alternatives of AND-ed features: "h100&infiniband|a100" ->
    [({h100, infiniband}, {}), ({a100}, {})]. `&` and `,` are AND, `|` is OR (AND binds tighter),
    brackets and parentheses group (`[a100|h100]&pcie`), `!feature` excludes, a count (`sxm*2`) is
    dropped. Each alternative is (features required, features excluded)."""
    import re

    tokens = re.findall(r"[&,|()\[\]]|[^&,|()\[\]]+", text.strip().lower())
    tokens = [t.strip() for t in tokens if t.strip()]
    if not tokens:
        return []
    bad = PlacementError(INVALID_FEATURE, [f"invalid constraint {text!r}"])
    pos = 0

    def expr() -> list[tuple[frozenset[str], frozenset[str]]]:
        nonlocal pos
        out = term()
        while pos < len(tokens) and tokens[pos] == "|":
            pos += 1
            out = out + term()
        return out

    def term() -> list[tuple[frozenset[str], frozenset[str]]]:
        nonlocal pos
        out = factor()
        while pos < len(tokens) and tokens[pos] in "&,":
            pos += 1
            right = factor()
            out = [(a | c, b | d) for a, b in out for c, d in right]
        return out

    def factor() -> list[tuple[frozenset[str], frozenset[str]]]:
        nonlocal pos
        if pos >= len(tokens):
            raise bad
        token = tokens[pos]
        pos += 1
        if token in ("(", "["):
            inner = expr()
            if pos >= len(tokens) or tokens[pos] != {"(": ")", "[": "]"}[token]:
                raise bad
            pos += 1
            return inner
        feature = re.sub(r"\*\d+$", "", token).strip()
        name = feature.lstrip("!").strip()
        if token in "&,|)]" or not name:
            raise bad
        return [(frozenset(), frozenset({name}))] if feature.startswith("!") else [(frozenset({name}), frozenset())]

    result = expr()
    if pos != len(tokens):
        raise bad
    return result


class _Need:
    """Per-node requirements worked out from a Request."""

    def __init__(self, request: Request) -> None:
        gres_type, gres_count = _gres_request(request.gres)
        node_type, node_count = _gpu_request(request.gpus_per_node)
        job_type, job_count = _gpu_request(request.gpus)
        self.gpus = max(gres_count, node_count, -(-job_count // request.nodes))
        self.gpu_types = {t for t in (gres_type, node_type, job_type) if t}
        per_node_tasks = -(-request.ntasks // request.nodes)
        self.cpus = per_node_tasks * request.cpus_per_task
        self.mem_mb = request.mem_mb or request.mem_per_cpu_mb * self.cpus
        self.constraint = parse_constraint(request.constraint)

    def text(self) -> str:
        from flowslurm.slurm.values import format_memory

        gpu = f" ({'/'.join(sorted(self.gpu_types)).upper()})" if self.gpu_types else ""
        parts = [f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}{gpu}",
                 f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}"]
        if self.mem_mb:
            parts.append(f"{format_memory(self.mem_mb)} memory")
        return ", ".join(parts) + " per node"


# -- what Mithril has ----------------------------------------------------------------------------

def gpu_names(it: InstanceType) -> set[str]:
    """The names a GPU type request matches: "A100-80GB" and "a100-80gb.sxm.1x" answer to "a100"
    and "a100-80gb" (never "a10": names match whole)."""
    names = set()
    if it.gpu_type and it.num_gpus:
        gpu = it.gpu_type.strip().lower().replace(" ", "-")
        names |= {gpu, gpu.split("-")[0]}
    if it.num_gpus:
        head = it.name.lower().split(".")[0]
        names |= {head, head.split("-")[0]}
    return names


def features(it: InstanceType) -> set[str]:
    """The node features -C matches, lower-case: GPU names, name parts, socket, network, CPU
    vendor, GPU memory ("80gb"), "gpu"/"cpu", "nvlink"."""
    import re

    found = gpu_names(it) | {p for p in re.split(r"[.\-_]", it.name.lower()) if p} | {it.name.lower()}
    if it.gpu_socket:
        socket = it.gpu_socket.lower()
        found |= {socket, re.sub(r"\d+$", "", socket)}
    if (it.network_type and "infiniband" in it.network_type.lower()) or (it.ib_count or 0) > 0:
        found |= {"infiniband", "ib"}
    elif it.network_type:
        found.add(it.network_type.lower())
    if it.cpu_type:
        found.add(it.cpu_type.lower())
    if it.gpu_memory_gb:
        found.add(f"{it.gpu_memory_gb}gb")
    if (it.bridge_count or 0) > 0:
        found.add("nvlink")
    found.add("gpu" if it.num_gpus else "cpu")
    return found


class PlacementError(SubmitError):
    """No instance type or market fits. `reason` is SLURM's ("Requested node configuration is not
    available"); `detail` the lines that explain it; `message` what sbatch prints, as every
    SubmitError: the detail lines, then "Batch job submission failed: <reason>"."""

    def __init__(self, reason: str, detail: list[str] | None = None, suggestions: list[str] | None = None) -> None:
        self.reason = reason
        self.detail = list(detail or [])
        super().__init__("\n".join([*self.detail, f"Batch job submission failed: {reason}"]), 1)
        self.suggestions = suggestions or []


def _partition_filter(name: str, settings: Settings, catalog: Catalog) -> tuple[PartitionSettings | None, str | None]:
    """(the configured partition, a GPU family) for a partition name; SLURM's error for another."""
    for part in name.split(","):  # -p a,b: the first one flowslurm knows
        if not part or part == CLOUD_PARTITION:
            return None, None
        if part in settings.partitions:
            return settings.partitions[part], None
        family = part.lower()
        if family in GPU_FAMILIES or any(family in gpu_names(it) for it in catalog.instance_types):
            return None, family
    known = sorted({CLOUD_PARTITION, *settings.partitions, *(g.lower() for g in catalog.gpu_types())})
    raise PlacementError(INVALID_PARTITION, [f"invalid partition specified: {name}"],
                         [f"Mithril partitions: {', '.join(known)}"])


def _cents_floor(dollars: float) -> int:
    from decimal import ROUND_FLOOR, Decimal

    return int((Decimal(repr(dollars)) * 100).to_integral_value(rounding=ROUND_FLOOR))


class Placement(FrozenRecord):
    """Where and at what price a cloud job's bid goes. Prices are cents per instance-hour."""

    __slots__ = ("instance_type", "instance_type_name", "gpu_type", "gpus_per_instance", "cpus", "ram_gb", "region",
                 "instance_quantity", "spot_price_cents", "limit_price", "cap_cents", "cap_source",
                 "listed_price_cents", "capacity", "waits", "wait_reason")

    def __init__(self, instance_type: str, instance_type_name: str, gpu_type: str | None, gpus_per_instance: int,
                 cpus: int, ram_gb: int, region: str, instance_quantity: int, spot_price_cents: int, limit_price: str,
                 cap_cents: int | None = None, cap_source: str | None = None, listed_price_cents: int | None = None,
                 capacity: int = 0, waits: bool = False, wait_reason: str | None = None) -> None:
        values = (instance_type, instance_type_name, gpu_type, gpus_per_instance, cpus, ram_gb, region,
                  instance_quantity, spot_price_cents, limit_price, cap_cents, cap_source, listed_price_cents,
                  capacity, waits, wait_reason)
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    if TYPE_CHECKING:
        instance_type: str  # it_ fid
        instance_type_name: str
        gpu_type: str | None
        gpus_per_instance: int
        cpus: int
        ram_gb: int
        region: str
        instance_quantity: int
        spot_price_cents: int  # now, per instance-hour
        limit_price: str  # the bid's CreateBidRequest.limit_price, per instance-hour: "$12.00"
        cap_cents: int | None
        cap_source: str | None  # "#FLOW max-price-per-hour", "partition big", "config", "caller"
        listed_price_cents: int | None
        capacity: int
        waits: bool  # the bid would stay Open (job PENDING): price above the limit, or no capacity
        wait_reason: str | None

    @property
    def gpu_count(self) -> int:
        return self.gpus_per_instance * self.instance_quantity

    @property
    def limit_price_cents(self) -> int:
        from flowslurm.providers.mithril.models import dollars_to_cents

        return dollars_to_cents(self.limit_price)

    @property
    def cap(self) -> str | None:
        """The price cap per instance-hour as "$12.00", or None when there is none."""
        from flowslurm.providers.mithril.models import cents_to_dollars

        return None if self.cap_cents is None else cents_to_dollars(self.cap_cents)

    @property
    def spot_price(self) -> str:
        from flowslurm.providers.mithril.models import cents_to_dollars

        return cents_to_dollars(self.spot_price_cents)


def _pick(need: _Need, catalog: Catalog, directives: Mapping[str, Any], partition: PartitionSettings | None,
          family: str | None) -> list[InstanceType]:
    """The instance types that satisfy everything; PlacementError naming what nothing offers."""
    types = [it for it in catalog.instance_types]
    wanted = directives.get("instance_type") or (partition.instance_type if partition else None)
    if wanted:
        it = catalog.instance_type(str(wanted))
        if it is None:
            names = ", ".join(sorted(t.name for t in catalog.instance_types)) or "none"
            raise PlacementError(NOT_AVAILABLE, [f"instance type {wanted!r} is not offered on Mithril "
                                                 f"(instance types: {names})"])
        types = [it]
    gpu_types = set(need.gpu_types)
    if partition is not None and partition.gpu_type:
        gpu_types.add(partition.gpu_type.lower())
    if family:
        gpu_types.add(family)
    offered = ", ".join(catalog.gpu_types()) or "none"
    for gpu in sorted({g for text in gpu_types for g in text.split("+")}):
        if not any(gpu in gpu_names(it) for it in catalog.instance_types):
            raise PlacementError(NOT_AVAILABLE, [f"GPU type {gpu!r} is not offered on Mithril (GPU types: {offered})"])
    if len(gpu_types) > 1 or any("+" in g for g in gpu_types):
        mixed = " and ".join(sorted({g for text in gpu_types for g in text.split("+")}))
        raise PlacementError(NOT_AVAILABLE, [f"GPU types {mixed} were both requested: a Mithril instance type has "
                                             "one GPU type"])
    all_features = set().union(*(features(it) for it in catalog.instance_types)) if catalog.instance_types else set()
    for want, avoid in need.constraint:
        for feature in sorted(want | avoid):
            if feature not in all_features:
                raise PlacementError(INVALID_FEATURE, [f"no Mithril instance type has the feature {feature!r} "
                                                       f"(features: {', '.join(sorted(all_features))})"])
    fits = []
    for it in types:
        names, have = gpu_names(it), features(it)
        if any(gpu not in names for gpu in gpu_types):
            continue
        if need.constraint and not any(want <= have and not (avoid & have) for want, avoid in need.constraint):
            continue
        if it.num_gpus < need.gpus or it.num_cpus < need.cpus or it.ram_gb * 1024 < need.mem_mb:
            continue
        fits.append(it)
    if not fits:
        raise PlacementError(NOT_AVAILABLE, [f"no Mithril instance type offers {need.text()}"
                                             + (f" on {len(types)} instance type(s) allowed" if wanted else "")])
    return fits


def choose(request: Request, catalog: Catalog, settings: Settings, directives: Mapping[str, Any] | None = None,
           max_price_per_hour: float | None = None) -> Placement:
    """The cheapest instance type and market for `request` (see the module doc for the rules).
    `max_price_per_hour` is a cap from the caller (the Python API); it wins over #FLOW, the
    partition and the config, in that order. Raises PlacementError."""
    from flowslurm.providers.mithril.models import cents_to_dollars, dollars_to_cents

    directives = directives or {}
    need = _Need(request)
    partition, family = _partition_filter(effective_partition(request.partition, directives), settings, catalog)
    types = _pick(need, catalog, directives, partition, family)
    region = directives.get("region") or (partition.region if partition else None) or settings.region
    quantity = request.nodes
    markets: list[tuple[Auction, InstanceType]] = [
        (a, it) for it in types for a in catalog.markets(it.fid) if not region or a.region == region]
    if not markets:
        where = f" in region {region}" if region else ""
        names = ", ".join(sorted(it.name for it in types))
        raise PlacementError(NOT_AVAILABLE, [f"no spot market{where} for {names}"],
                             [f"Regions with markets: {', '.join(catalog.regions()) or 'none'}"])

    def order(pair: tuple[Auction, InstanceType]) -> tuple[int, int, str, str]:
        auction, it = pair
        return auction.last_price_cents, -auction.capacity, it.name, auction.region

    open_markets = [m for m in markets if m[0].capacity >= quantity]
    auction, it = min(open_markets or markets, key=order)
    cap, source = _cap(max_price_per_hour, directives, partition, request, settings)
    spot = auction.last_price_cents
    listed = dollars_to_cents(repr(it.hourly_price)) if it.hourly_price is not None else None
    if cap is not None:
        limit, limit_text = _cents_floor(cap), "the cap"
    else:
        limit, limit_text = (listed, "the listed price") if listed is not None else (spot, "the spot price")
    reason = None
    if not open_markets:
        reason = (f"only {auction.capacity} instance(s) free in {auction.region}, {quantity} needed: "
                  "waiting for capacity")
    elif spot > limit:
        reason = f"spot price {cents_to_dollars(spot)}/h is above {limit_text} {cents_to_dollars(limit)}/h"
    return Placement(
        instance_type=it.fid, instance_type_name=it.name, gpu_type=it.gpu_type if it.num_gpus else None,
        gpus_per_instance=it.num_gpus, cpus=it.num_cpus, ram_gb=it.ram_gb, region=auction.region,
        instance_quantity=quantity, spot_price_cents=spot, limit_price=cents_to_dollars(limit),
        cap_cents=None if cap is None else _cents_floor(cap), cap_source=source, listed_price_cents=listed,
        capacity=auction.capacity, waits=reason is not None, wait_reason=reason)


def _cap(explicit: float | None, directives: Mapping[str, Any], partition: PartitionSettings | None,
         request: Request, settings: Settings) -> tuple[float | None, str | None]:
    if explicit is not None:
        return float(explicit), "caller"
    if directives.get("max_price_per_hour") is not None:
        return float(directives["max_price_per_hour"]), "#FLOW max-price-per-hour"
    if partition is not None and partition.max_price_per_hour is not None:
        name = effective_partition(request.partition, directives)
        return partition.max_price_per_hour, f"partition {name}"
    if settings.max_price_per_hour is not None:
        return settings.max_price_per_hour, "config"
    return None, None


def describe(placement: Placement) -> list[str]:
    """What `sbatch --test-only` says of a cloud job, one line each (the caller prefixes "sbatch: ")."""
    from flowslurm.providers.mithril.models import cents_to_dollars

    p = placement
    n = p.instance_quantity
    gpus = f"{p.gpus_per_instance}x {p.gpu_type} GPU{'s' if p.gpus_per_instance != 1 else ''}" if p.gpus_per_instance \
        else "no GPU"
    lines = [
        f"Mithril instance type {p.instance_type_name} ({p.instance_type}): {gpus}, {p.cpus} CPUs, {p.ram_gb} GB RAM",
        f"region {p.region}, {n} instance{'s' if n != 1 else ''} ({p.capacity} free now)",
        f"spot price now {p.spot_price}/h per instance ({cents_to_dollars(p.spot_price_cents * n)}/h in all)",
    ]
    if p.cap_cents is not None:
        lines.append(f"limit price {p.limit_price}/h per instance: the cap, from {p.cap_source}")
    elif p.listed_price_cents is not None and p.limit_price_cents == p.listed_price_cents:
        lines.append(f"limit price {p.limit_price}/h per instance: the listed price (no cap set)")
    else:
        lines.append(f"limit price {p.limit_price}/h per instance: the spot price (no cap set, no listed price)")
    if p.waits:
        lines.append(f"the job would wait (PENDING): {p.wait_reason}")
    return lines
