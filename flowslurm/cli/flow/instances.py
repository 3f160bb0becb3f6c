"""flow instances: what can be asked for with -i, and what it costs now.

With Mithril credentials the live catalog is shown: each instance type under the name `-i` takes
(a100, 8xh100, ...), its GPUs, memory, CPUs, the lowest spot price over its regions and the
instances free there. Without credentials, the names flow accepts and what they mean.
"""

from __future__ import annotations

from flowslurm.cli.flow.args import FLAG, JSON, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.cli.common import Env

SPEC = Command(
    "instances", "flow instances [--json] [--refresh]",
    "List instance types: the name to pass to -i / instance_type, GPUs, memory, and current spot prices\n"
    "(prices need Mithril credentials: `flow init`).",
    (
        Opt(("--refresh",), "refresh", FLAG, help="read the catalog again instead of the 5-minute cache"),
        JSON,
    ),
    ("flow instances", "flow instances --json"),
)


def _flow_name(it: Any) -> str:
    from flowslurm.providers.mithril.placement import gpu_names

    if not it.num_gpus:
        return "-"
    families = sorted((n for n in gpu_names(it) if n.isalnum()), key=len)
    family = families[0] if families else (it.gpu_type or "gpu").lower()
    return family if it.num_gpus == 1 else f"{it.num_gpus}x{family}"


def _offline(env: Env, as_json: bool, reason: str) -> int:
    from flowslurm.api.instance_types import SEED_TYPES
    from flowslurm.cli.flow.output import print_json, table

    rows = [{"name": name, "gpus": count, "gpu_type": family.upper(), "gpu_memory_gb": mem,
             "aliases": list(aliases), "price_per_hour": None} for name, (count, family, mem, aliases)
            in SEED_TYPES.items()]
    if as_json:
        print_json(env, {"live": False, "reason": reason, "instance_types": rows})
        return 0
    env.stdout.write(table(["TYPE", "GPUS", "TOTAL GPU MEMORY", "ALIASES"],
                           [[r["name"], f"{r['gpus']}x {r['gpu_type']}", f"{r['gpu_memory_gb']}GB",
                             ", ".join(r["aliases"]) or "-"] for r in rows]))
    env.stderr.write(f"(no live prices: {reason})\n")
    return 0


def run(argv: list[str], env: Env) -> int:
    from flowslurm.api.cloud import provider, translated
    from flowslurm.cli.flow.output import print_json, table

    p = parse(SPEC, argv)
    as_json = bool(p.get("json"))
    with provider() as cloud:
        if not cloud.settings.api_key_value():
            return _offline(env, as_json, "no Mithril API key; run `flow init`")
        from flowslurm.providers.mithril.catalog import load_catalog

        with translated():
            catalog = load_catalog(cloud.client, refresh=bool(p.get("refresh")))
    rows = []
    for it in sorted(catalog.instance_types, key=lambda t: (t.gpu_type or "", t.num_gpus, t.name)):
        markets = catalog.markets(it.fid)
        cheapest = min(markets, key=lambda a: a.last_price_cents) if markets else None
        rows.append({
            "name": _flow_name(it), "mithril_name": it.name, "instance_type_id": it.fid, "gpus": it.num_gpus,
            "gpu_type": it.gpu_type, "gpu_memory_gb": (it.gpu_memory_gb or 0) * it.num_gpus, "cpus": it.num_cpus,
            "ram_gb": it.ram_gb,
            "price_per_hour": None if cheapest is None else cheapest.last_price_cents / 100.0,
            "region": None if cheapest is None else cheapest.region,
            "available": sum(a.capacity for a in markets), "listed_price_per_hour": it.hourly_price,
        })
    if as_json:
        print_json(env, {"live": True, "instance_types": rows})
        return 0
    body = [[r["name"], r["mithril_name"], f"{r['gpus']}x {r['gpu_type']}" if r["gpus"] else "-",
             f"{r['gpu_memory_gb']}GB" if r["gpu_memory_gb"] else "-", str(r["cpus"]), f"{r['ram_gb']}GB",
             "-" if r["price_per_hour"] is None else f"${r['price_per_hour']:.2f}", str(r["available"]),
             r["region"] or "-"] for r in rows]
    env.stdout.write(table(["TYPE", "MITHRIL TYPE", "GPUS", "GPU MEMORY", "CPUS", "RAM", "SPOT/H", "FREE",
                            "CHEAPEST REGION"], body))
    return 0
