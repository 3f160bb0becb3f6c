"""Mapping a job's request to a Mithril instance type, region and limit price.

The catalog is built by hand from API-shaped records (the rules are pure); one test places a job
against the emulator's catalog fetched over HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowslurm.engine.spec import JobSpec
from flowslurm.providers.mithril.api import MithrilClient
from flowslurm.providers.mithril.catalog import Catalog, load_catalog
from flowslurm.providers.mithril.models import Auction, InstanceType
from flowslurm.providers.mithril.placement import (
    NOT_AVAILABLE,
    Placement,
    PlacementError,
    Request,
    choose,
    describe,
    parse_constraint,
)
from flowslurm.providers.mithril.settings import PartitionSettings, Settings


def itype(fid: str, name: str, gpus: int, gpu: str, cpus: int, ram: int, price: float | None, socket: str = "SXM4",
          ib: bool = False) -> InstanceType:
    return InstanceType.from_json({
        "fid": fid, "name": name, "num_cpus": cpus, "cpu_type": "AMD", "ram_gb": ram, "num_gpus": gpus,
        "gpu_type": gpu, "gpu_memory_gb": 80, "gpu_socket": socket, "local_storage_gb": 1000,
        "network_type": "InfiniBand" if ib else None, "ib_count": gpus if ib else 0, "bridge_count": 4 if ib else 0,
        "hourly_price": price})


def market(it: str, region: str, capacity: int, price: str) -> Auction:
    return Auction.from_json({"fid": f"auc_{it}_{region}", "instance_type": it, "region": region, "capacity": capacity,
                              "last_instance_price": price, "adjustable_memory": False})


CATALOG = Catalog(
    [itype("it_a100", "a100-80gb.sxm.1x", 1, "A100", 24, 120, 1.5),
     itype("it_a100x8", "a100-80gb.sxm.8x", 8, "A100", 192, 960, 12.0, ib=True),
     itype("it_h100x8", "h100-80gb.sxm.8x", 8, "H100", 224, 1800, 24.0, socket="SXM5", ib=True),
     itype("it_h100pcie", "h100-80gb.pcie.1x", 1, "H100", 26, 200, 3.0, socket="PCIe"),
     itype("it_a10", "a10-24gb.pcie.1x", 1, "A10", 30, 200, None, socket="PCIe")],
    [market("it_a100", "us-central1-a", 8, "$1.20"), market("it_a100", "us-central1-b", 4, "$1.10"),
     market("it_a100x8", "us-central1-a", 4, "$9.60"), market("it_h100x8", "eu-central1-a", 2, "$18.00"),
     market("it_h100pcie", "us-central1-a", 0, "$2.00"), market("it_h100pcie", "us-east1-a", 3, "$2.50"),
     market("it_a10", "us-central1-a", 10, "$0.40")])
NONE = Settings(backend="mithril")


def place(settings: Settings = NONE, directives: dict[str, object] | None = None, **request: object) -> Placement:
    return choose(Request(**request), CATALOG, settings, directives)  # type: ignore[arg-type]


def where(p: Placement) -> tuple[str, str, int]:
    return p.instance_type_name, p.region, p.instance_quantity


# -- fitting ------------------------------------------------------------------------------------------

def test_the_cheapest_fitting_market_with_capacity_wins() -> None:
    assert where(place()) == ("a10-24gb.pcie.1x", "us-central1-a", 1)  # no GPU asked: the cheapest of all
    assert where(place(gres="gpu:1")) == ("a10-24gb.pcie.1x", "us-central1-a", 1)
    p = place(gres="gpu:a100:1")
    assert where(p) == ("a100-80gb.sxm.1x", "us-central1-b", 1)  # the cheaper region
    assert (p.instance_type, p.gpu_type, p.gpus_per_instance, p.gpu_count, p.cpus, p.ram_gb) == (
        "it_a100", "A100", 1, 1, 24, 120)
    assert (p.spot_price_cents, p.spot_price, p.capacity, p.waits) == (110, "$1.10", 4, False)


def test_gpu_type_from_gres_gpus_or_gpus_per_node() -> None:
    assert where(place(gpus="h100:1")) == ("h100-80gb.pcie.1x", "us-east1-a", 1)  # us-central1-a has no capacity
    assert where(place(gpus_per_node=8)) == ("a100-80gb.sxm.8x", "us-central1-a", 1)
    assert where(place(gpus_per_node="h100:8")) == ("h100-80gb.sxm.8x", "eu-central1-a", 1)
    assert where(place(gres="gpu:H100:2")) == ("h100-80gb.sxm.8x", "eu-central1-a", 1)  # case-insensitive
    assert where(place(gpus="a100-80gb:1")) == ("a100-80gb.sxm.1x", "us-central1-b", 1)  # a longer GPU name
    assert where(place(gpus=16, nodes=2)) == ("a100-80gb.sxm.8x", "us-central1-a", 2)  # 8 per node


@pytest.mark.parametrize(("constraint", "expected"), [
    ("h100", "h100-80gb.pcie.1x"),
    ("h100&infiniband", "h100-80gb.sxm.8x"),
    ("sxm", "a100-80gb.sxm.1x"),
    ("a10|h100", "a10-24gb.pcie.1x"),
    ("[a100|h100]&pcie", "h100-80gb.pcie.1x"),
    ("gpu,!a10", "a100-80gb.sxm.1x"),
    ("nvlink", "a100-80gb.sxm.8x"),
])
def test_constraints(constraint: str, expected: str) -> None:
    assert place(constraint=constraint).instance_type_name == expected


def test_parse_constraint() -> None:
    assert parse_constraint("H100&ib|a100*2") == [(frozenset({"h100", "ib"}), frozenset()),
                                                (frozenset({"a100"}), frozenset())]
    assert parse_constraint("") == []
    assert parse_constraint("[a100|h100]&(pcie,!ib)") == [(frozenset({"a100", "pcie"}), frozenset({"ib"})),
                                                          (frozenset({"h100", "pcie"}), frozenset({"ib"}))]
    with pytest.raises(PlacementError, match="Invalid feature specification"):
        parse_constraint("a100&&ib")
    with pytest.raises(PlacementError, match="Invalid feature specification"):
        parse_constraint("(a100|ib")


def test_memory_and_cpus_per_node() -> None:
    assert place(gres="gpu:1", mem_mb=300 * 1024).instance_type_name == "a100-80gb.sxm.8x"
    assert place(gres="gpu:1", mem_mb=150 * 1024).instance_type_name == "a10-24gb.pcie.1x"
    assert place(mem_per_cpu_mb=12 * 1024, cpus_per_task=20).instance_type_name == "a100-80gb.sxm.8x"  # 240G
    assert place(ntasks=4, cpus_per_task=8).instance_type_name == "a100-80gb.sxm.8x"  # 32 CPUs > 30
    assert place(ntasks=4, cpus_per_task=7).instance_type_name == "a10-24gb.pcie.1x"
    assert place(nodes=2, ntasks=8, cpus_per_task=4, constraint="a100").instance_type_name == "a100-80gb.sxm.1x"


def test_nodes_need_capacity_for_every_instance() -> None:
    assert where(place(nodes=3, gres="gpu:a100:1")) == ("a100-80gb.sxm.1x", "us-central1-b", 3)
    assert where(place(nodes=5, gres="gpu:a100:1")) == ("a100-80gb.sxm.1x", "us-central1-a", 5)
    waiting = place(nodes=4, gpus_per_node="h100:8")  # 2 free: still chosen, reported as waiting
    assert where(waiting) == ("h100-80gb.sxm.8x", "eu-central1-a", 4)
    assert waiting.waits and "capacity" in str(waiting.wait_reason)


# -- region and partitions ------------------------------------------------------------------------------

def test_region_from_settings_partition_or_flow() -> None:
    in_a = NONE.copy(region="us-central1-a")
    assert where(place(in_a, gres="gpu:a100:1")) == ("a100-80gb.sxm.1x", "us-central1-a", 1)
    assert where(place(in_a, {"region": "us-central1-b"}, gres="gpu:a100:1"))[1] == "us-central1-b"
    with pytest.raises(PlacementError) as caught:
        place(NONE.copy(region="eu-central1-a"), gres="gpu:a100:1")
    assert caught.value.reason == NOT_AVAILABLE and "in region eu-central1-a" in caught.value.message


def test_partitions() -> None:
    settings = NONE.copy(partitions={
        "big": PartitionSettings(instance_type="h100-80gb.sxm.8x", max_price_per_hour=20.0),
        "cheap-a100": PartitionSettings(gpu_type="A100", region="us-central1-a")})
    big = place(settings, partition="big")
    assert where(big) == ("h100-80gb.sxm.8x", "eu-central1-a", 1) and big.cap_source == "partition big"
    assert where(place(settings, partition="cheap-a100")) == ("a100-80gb.sxm.1x", "us-central1-a", 1)
    assert where(place(settings, partition="H100")) == ("h100-80gb.pcie.1x", "us-east1-a", 1)  # a GPU family
    assert where(place(settings, partition="mithril")) == ("a10-24gb.pcie.1x", "us-central1-a", 1)
    assert where(place(settings, {"partition": "big"}, partition="gpu")) == ("h100-80gb.sxm.8x", "eu-central1-a", 1)
    assert place(settings, {"instance_type": "it_a100x8"}).instance_type_name == "a100-80gb.sxm.8x"
    with pytest.raises(PlacementError) as caught:
        place(settings, partition="gpu")
    assert caught.value.message == ("invalid partition specified: gpu\n"
                                    "Batch job submission failed: Invalid partition name specified")
    assert "big" in caught.value.suggestions[0] and "h100" in caught.value.suggestions[0]


# -- prices ---------------------------------------------------------------------------------------------

def test_without_a_cap_the_limit_is_the_listed_price_per_instance() -> None:
    p = place(nodes=2, gres="gpu:a100:1")
    assert (p.limit_price, p.cap_cents, p.cap_source, p.listed_price_cents) == ("$1.50", None, None, 150)
    a10 = place()
    assert a10.limit_price == "$0.40" and not a10.waits  # no listed price: the spot price


def test_the_cap_bounds_the_limit_and_an_expensive_market_waits() -> None:
    capped = place(NONE.copy(max_price_per_hour=1.239), gres="gpu:a100:1")
    assert (capped.limit_price, capped.cap, capped.cap_source) == ("$1.23", "$1.23", "config")  # floored
    assert where(capped) == ("a100-80gb.sxm.1x", "us-central1-b", 1) and not capped.waits
    low = place(NONE.copy(max_price_per_hour=1.0), gres="gpu:a100:1")
    assert low.limit_price == "$1.00" and low.waits  # still chosen: the job stays PENDING
    assert low.wait_reason == "spot price $1.10/h is above the cap $1.00/h"


def test_cap_precedence_caller_flow_partition_config() -> None:
    settings = NONE.copy(max_price_per_hour=1.0, partitions={"p": PartitionSettings(max_price_per_hour=2.0)})
    request = Request(gres="gpu:a100:1", partition="p")
    assert choose(request, CATALOG, settings).cap_source == "partition p"
    flow = choose(request, CATALOG, settings, {"max_price_per_hour": 3.0})
    assert (flow.limit_price, flow.cap_source) == ("$3.00", "#FLOW max-price-per-hour")
    caller = choose(request, CATALOG, settings, {"max_price_per_hour": 3.0}, max_price_per_hour=4.0)
    assert (caller.limit_price, caller.cap_source) == ("$4.00", "caller")
    assert choose(request.copy(partition=""), CATALOG, settings).cap_source == "config"


# -- nothing fits -------------------------------------------------------------------------------------

def test_nothing_fits_says_what_slurm_says() -> None:
    with pytest.raises(PlacementError) as caught:
        place(gpus_per_node=16)
    err = caught.value
    assert err.reason == NOT_AVAILABLE and err.exit_code == 1
    assert err.message.splitlines()[-1] == "Batch job submission failed: Requested node configuration is not available"
    assert "16 GPUs" in err.message
    with pytest.raises(PlacementError, match="0 GPUs, 1 CPU, 4T memory per node"):
        place(mem_mb=4 * 1024 * 1024)


def test_an_unknown_gpu_type_lists_the_types() -> None:
    with pytest.raises(PlacementError) as caught:
        place(gres="gpu:v100:1")
    assert caught.value.detail == ["GPU type 'v100' is not offered on Mithril (GPU types: A10, A100, H100)"]
    with pytest.raises(PlacementError, match="GPU types a100 and h100 were both requested"):
        place(gres="gpu:a100:1", gpus="h100:1")
    with pytest.raises(PlacementError, match="instance type 'x9' is not offered"):
        place(directives={"instance_type": "x9"})


def test_an_unknown_feature_is_slurms_invalid_feature() -> None:
    with pytest.raises(PlacementError) as caught:
        place(constraint="h100&quantum")
    assert caught.value.reason == "Invalid feature specification" and "'quantum'" in caught.value.message


# -- from the engine's spec, and the report ------------------------------------------------------------

def test_request_from_a_job_spec() -> None:
    spec = JobSpec(script="#!/bin/sh\n", nodes=2, ntasks=4, cpus_per_task=2, mem_mb=8192, gpus=4, gres="gpu:2",
                   partition="h100", extra={"constraint": "sxm", "gpus_request": "h100:4", "gpus_per_node_request": "2"})
    request = Request.from_spec(spec)
    assert request == Request(nodes=2, ntasks=4, cpus_per_task=2, mem_mb=8192, gpus="h100:4", gres="gpu:2",
                              gpus_per_node="2", constraint="sxm", partition="h100")
    assert Request.from_spec(spec.to_json()) == request
    assert Request.from_spec(JobSpec(script="", gpus=3)).gpus == 3


def test_describe_prints_what_test_only_shows() -> None:
    lines = describe(place(NONE.copy(max_price_per_hour=1.0), nodes=2, gres="gpu:a100:1"))
    assert lines == [
        "Mithril instance type a100-80gb.sxm.1x (it_a100): 1x A100 GPU, 24 CPUs, 120 GB RAM",
        "region us-central1-b, 2 instances (4 free now)",
        "spot price now $1.10/h per instance ($2.20/h in all)",
        "limit price $1.00/h per instance: the cap, from config",
        "the job would wait (PENDING): spot price $1.10/h is above the cap $1.00/h",
    ]
    assert describe(place(gres="gpu:a100:1"))[3] == "limit price $1.50/h per instance: the listed price (no cap set)"


def test_placing_against_the_emulator(api: MithrilClient, tmp_path: Path) -> None:
    catalog = load_catalog(api, directory=tmp_path)
    p = choose(Request(gpus_per_node=8), catalog, NONE)
    assert (p.instance_type_name, p.region, p.spot_price, p.limit_price) == (
        "a100-80gb.sxm.8x", "us-central1-a", "$9.60", "$12.00")
    assert p.instance_type == catalog.instance_type("a100-80gb.sxm.8x").fid  # type: ignore[union-attr]
    assert choose(Request(gres="gpu:a100:1"), catalog, NONE).region == "us-central1-b"
