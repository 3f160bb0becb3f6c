"""The emulated endpoints: one function per operation of openapi.json, on `state.State`.

Each takes a parsed `Request` and returns (status, JSON); refusals raise `ApiError`, which the
server turns into `{"detail": ...}`. Error texts are the emulator's own (the spec documents none);
they use the words research saw Mithril use ("already used", "below the minimum", "quota").
Every handler runs under the state lock (server.dispatch takes it).
"""

from __future__ import annotations

import base64
import json
import re
import string
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flowslurm.emulator.model import (
    BID_STATUSES,
    DOLLARS,
    INSTANCE_STATUSES,
    MAX_LIMIT,
    VOLUME_NAME,
    ApiError,
    Json,
    dollars,
    invalid,
    now_iso,
    public,
)

if TYPE_CHECKING:
    from flowslurm.emulator.state import State


# -- request parsing helpers ------------------------------------------------------------------------

class Request:
    def __init__(self, state: State, method: str, path: str, query: dict[str, list[str]], body: Any,
                 params: dict[str, str], idempotency_key: str | None) -> None:
        self.state, self.method, self.path, self.query, self.body = state, method, path, query, body
        self.params, self.idempotency_key = params, idempotency_key

    def arg(self, name: str, required: bool = False, choices: tuple[str, ...] | None = None) -> str | None:
        values = self.query.get(name)
        if not values or values[-1] == "":
            if required:
                raise invalid(["query", name], "Field required", "missing")
            return None
        value = values[-1]
        if choices is not None and value not in choices:
            raise invalid(["query", name], f"Input should be {', '.join(repr(c) for c in choices)}", "enum")
        return value

    def args(self, name: str, choices: tuple[str, ...] | None = None) -> list[str] | None:
        """An array parameter, comma-joined (as clients send it) or repeated."""
        if name not in self.query:
            return None
        values = [v for raw in self.query[name] for v in raw.split(",") if v]
        for value in values:
            if choices is not None and value not in choices:
                raise invalid(["query", name], f"Input should be one of {', '.join(choices)}", "enum")
        return values

    def int_arg(self, name: str, low: int, high: int, default: int) -> int:
        value = self.arg(name)
        if value is None:
            return default
        if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
            raise invalid(["query", name], f"Input should be an integer from {low} to {high}", "int_parsing")
        return int(value)

    def field(self, name: str, kind: type | tuple[type, ...], required: bool = True, loc: tuple[str, ...] = ()) -> Any:
        body = self.body if not loc else _dig(self.body, loc)
        if not isinstance(body, dict):
            raise invalid(["body", *loc], "Input should be a valid dictionary", "dict_type")
        if body.get(name) is None:
            if required:
                raise invalid(["body", *loc, name], "Field required", "missing")
            return None
        value = body[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise invalid(["body", *loc, name], f"Input should be a valid {names}", f"{names}_type")
        return value


def _dig(body: Any, loc: tuple[str, ...]) -> Any:
    for key in loc:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def page(req: Request, records: list[Json], sort_fields: dict[str, str], default_sort: str) -> Json:
    """One page of `records` under keyset pagination: the cursor names the last record shown, so
    records created while a client pages do not shift what it sees."""
    sort_by = req.arg("sort_by", choices=tuple(sort_fields)) or default_sort
    sort_dir = req.arg("sort_dir", choices=("asc", "desc")) or "desc"
    limit = req.int_arg("limit", 1, MAX_LIMIT, req.state.default_limit)
    field = sort_fields[sort_by]

    def key(record: Json) -> list[Any]:
        return [record[field], record["_seq"]]

    ordered = sorted(records, key=key, reverse=sort_dir == "desc")
    cursor = req.arg("next_cursor")
    if cursor is not None:
        try:
            after = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            assert isinstance(after, list) and len(after) == 2
        except Exception:
            raise invalid(["query", "next_cursor"], "Invalid cursor") from None
        ordered = [r for r in ordered if (key(r) < after if sort_dir == "desc" else key(r) > after)]
    shown = ordered[:limit]
    next_cursor = None
    if len(ordered) > limit:
        next_cursor = base64.urlsafe_b64encode(json.dumps(key(shown[-1])).encode()).decode()
    return {"data": [public(r) for r in shown], "next_cursor": next_cursor}


def parse_dollars(req: Request, name: str, loc: tuple[str, ...] = ()) -> int:
    text = req.field(name, str, loc=loc)
    match = DOLLARS.match(text)
    if not match:
        raise invalid(["body", *loc, name], "Value error, price must be a dollar amount like '$12.50'")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def known(table: dict[str, Json], fid: str, what: str) -> Json:
    if fid not in table:
        raise ApiError(404, f"{what} not found")
    return table[fid]


# -- endpoints --------------------------------------------------------------------------------------

def list_projects(req: Request) -> tuple[int, Any]:
    return 200, [public(p) for p in req.state.projects.values()]


def list_instance_types(req: Request) -> tuple[int, Any]:
    return 200, list(req.state.instance_types.values())


def spot_availability(req: Request) -> tuple[int, Any]:
    rows = []
    for (it, region), market in req.state.markets.items():
        allocated = [b["_limit_cents"] for b in req.state.bids.values()
                     if b["status"] == "Allocated" and (b["instance_type"], b["region"]) == (it, region)]
        rows.append({"fid": market["fid"], "instance_type": it, "region": region,
                     "capacity": req.state.free(market),
                     "last_instance_price": dollars(market["price_cents"]),
                     "lowest_allocated_price": dollars(min(allocated)) if allocated else None,
                     "adjustable_memory": False, "default_image_version": None})
    return 200, rows


def current_prices(req: Request) -> tuple[int, Any]:
    state = req.state
    wanted = req.arg("instance_type", required=True)
    region = req.arg("region")
    req.int_arg("instance_quantity", 1, 256, 1)
    fids = [fid for fid, t in state.instance_types.items() if wanted in (fid, t["name"])]
    if not fids:
        raise ApiError(404, "Instance type not found")
    markets = [m for (it, r), m in state.markets.items() if it == fids[0] and region in (None, r)]
    if not markets:
        raise ApiError(404, f"No spot market for this instance type in region {region}")
    market = min(markets, key=lambda m: m["price_cents"])
    return 200, {"spot_price_cents": market["price_cents"], "reserved_price_cents": None,
                 "minimum_price_cents": market["minimum_cents"], "lowest_allocated_bid_cents": None,
                 "dynamic_win_price_cents": market["price_cents"], "available_capacity": state.free(market),
                 "total_capacity": market["capacity"]}


def create_bid(req: Request) -> tuple[int, Any]:
    state = req.state
    project = req.field("project", str)
    region = req.field("region", str)
    instance_type = req.field("instance_type", str)
    limit_cents = parse_dollars(req, "limit_price")
    quantity = req.field("instance_quantity", int)
    name = req.field("name", str)
    req.field("launch_specification", dict)
    ssh_keys = req.field("ssh_keys", list, loc=("launch_specification",))
    volumes = req.field("volumes", list, loc=("launch_specification",))
    script = req.field("startup_script", str, required=False, loc=("launch_specification",))
    if not 1 <= quantity <= 256:
        raise invalid(["body", "instance_quantity"], "Input should be from 1 to 256", "int_range")
    if script is not None and len(script) > state.startup_script_limit:
        raise invalid(["body", "launch_specification", "startup_script"],
                      f"String should have at most {state.startup_script_limit} characters", "string_too_long")
    known(state.projects, project, "Project")
    known(state.instance_types, instance_type, "Instance type")
    market = state.markets.get((instance_type, region))
    if market is None:
        raise ApiError(400, f"No spot capacity for instance type {instance_type} in region {region}")
    for key in ssh_keys:
        if state.ssh_keys.get(key, {}).get("project") != project:
            raise ApiError(400, f"SSH key {key} does not exist in project {project}")
    for vol in volumes:
        found = state.volumes.get(vol)
        if not found or found["deleted_at"] or found["region"] != region:
            raise ApiError(400, f"Volume {vol} does not exist in region {region}")
    if any(b["name"] == name and b["project"] == project and b["status"] != "Terminated" for b in state.bids.values()):
        raise ApiError(400, f"Bid name {name!r} is already used by a live bid in this project")
    if limit_cents < market["minimum_cents"]:
        raise ApiError(400, f"Limit price {dollars(limit_cents)} is below the minimum price "
                            f"{dollars(market['minimum_cents'])} for this instance type and region")
    if quantity > market["limit"]:  # more than the region will ever hold, not merely more than is free now
        raise ApiError(400, f"Requested {quantity} instances; region {region} has capacity for {market['limit']}")
    quota = state.quota_instances.get(project)
    used = sum(b["instance_quantity"] for b in state.bids.values()
               if b["project"] == project and b["status"] != "Terminated")
    if quota is not None and used + quantity > quota:
        raise ApiError(400, f"Quota exceeded: the project may hold {quota} instances, {used} are in live bids")
    spec = req.body["launch_specification"]
    fid = state.fid("bid")
    state.bids[fid] = {
        "fid": fid, "name": name, "project": project, "created_by": state.user, "created_at": now_iso(),
        "deactivated_at": None, "limit_price": dollars(limit_cents), "instance_quantity": quantity,
        "instance_type": instance_type, "region": region, "instances": [],
        "launch_specification": {"volumes": volumes, "ssh_keys": ssh_keys, "startup_script": script,
                                 "kubernetes_cluster": spec.get("kubernetes_cluster"),
                                 "image_version": spec.get("image_version"), "memory_gb": spec.get("memory_gb")},
        "status": "Open", "_limit_cents": limit_cents, "_seq": state.seq(), "_open_since": state.clock(),
    }
    return 201, public(state.bids[fid])


def list_bids(req: Request) -> tuple[int, Any]:
    filters = {name: req.arg(name) for name in ("project", "instance_type", "region", "name")}
    filters["status"] = req.arg("status", choices=BID_STATUSES)
    records = [b for b in req.state.bids.values() if all(v is None or b[k] == v for k, v in filters.items())]
    return 200, page(req, records, {"created_at": "_seq", "status": "status"}, "created_at")


def get_bid(req: Request) -> tuple[int, Any]:
    return 200, public(known(req.state.bids, req.params["fid"], "Bid"))


def update_bid(req: Request) -> tuple[int, Any]:
    bid = known(req.state.bids, req.params["fid"], "Bid")
    if bid["status"] == "Terminated":
        raise ApiError(400, "Bid is terminated and cannot be updated")
    if req.field("limit_price", str, required=False) is not None:
        cents = parse_dollars(req, "limit_price")
        minimum = req.state.markets[(bid["instance_type"], bid["region"])]["minimum_cents"]
        if cents < minimum:
            raise ApiError(400, f"Limit price {dollars(cents)} is below the minimum price {dollars(minimum)}")
        bid["limit_price"], bid["_limit_cents"] = dollars(cents), cents
    volumes = req.field("volumes", list, required=False)
    if volumes is not None:
        bid["launch_specification"]["volumes"] = volumes
    paused = req.field("paused", bool, required=False)
    if paused is True and bid["status"] != "Paused":
        req.state.release(bid, final="STATUS_PAUSED")
        bid["status"] = "Paused"
    elif paused is False and bid["status"] == "Paused":
        bid["status"], bid["_open_since"] = "Open", req.state.clock()
    return 200, public(bid)


def cancel_bid(req: Request) -> tuple[int, Any]:
    """Cancelling twice is not an error (the spec does not say; idempotent DELETE is the norm).
    Its instances are terminated, which research found a faithful emulator must do."""
    bid = known(req.state.bids, req.params["fid"], "Bid")
    if bid["status"] != "Terminated":
        req.state.release(bid)
        bid["status"], bid["deactivated_at"] = "Terminated", now_iso()
    return 204, None


def list_instances(req: Request) -> tuple[int, Any]:
    project = req.arg("project", required=True)
    bids = req.args("bid_fid_in")
    statuses = req.args("status_in", choices=INSTANCE_STATUSES)
    order_types = req.args("order_type_in", choices=("Bid", "Reservation"))
    reservations = req.args("reservation_fid_in")
    it, region = req.arg("instance_type"), req.arg("region")
    records = [
        i for i in req.state.instances.values()
        if i["project"] == project and (bids is None or i["bid"] in bids)
        and (statuses is None or i["status"] in statuses) and (it is None or i["instance_type"] == it)
        and (region is None or i["region"] == region) and (order_types is None or "Bid" in order_types)
        and (reservations is None or i["reservation"] in reservations)
    ]
    sorts = {"created_at": "_seq", "instance_status": "status", "instance_type_fid": "instance_type"}
    return 200, page(req, records, sorts, "created_at")


def list_ssh_keys(req: Request) -> tuple[int, Any]:
    project = req.arg("project", required=True)
    return 200, [public(k) for k in req.state.ssh_keys.values() if k["project"] == project]


def create_ssh_key(req: Request) -> tuple[int, Any]:
    state = req.state
    project, name = req.field("project", str), req.field("name", str)
    public_key = req.field("public_key", str, required=False)
    required = req.field("required", bool, required=False) or False
    known(state.projects, project, "Project")
    private_key = None
    if public_key is None:  # the server makes the pair (as observed); a real pair, so sshd can use it later
        public_key, private_key = _keypair()
    fid = state.fid("sshkey")
    state.ssh_keys[fid] = {"fid": fid, "name": name, "project": project, "public_key": public_key,
                           "created_at": now_iso(), "required": required}
    return 201, {**state.ssh_keys[fid], "private_key": private_key}


def _keypair() -> tuple[str, str]:
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "emulator", "-f", f"{tmp}/k"],
                       check=True, timeout=30)
        with open(f"{tmp}/k.pub") as pub, open(f"{tmp}/k") as priv:
            return pub.read().strip(), priv.read()


def update_ssh_key(req: Request) -> tuple[int, Any]:
    key = known(req.state.ssh_keys, req.params["fid"], "SSH key")
    key["required"] = req.field("required", bool)
    return 200, public(key)


def delete_ssh_key(req: Request) -> tuple[int, Any]:
    fid = req.params["fid"]
    known(req.state.ssh_keys, fid, "SSH key")
    users = [b["fid"] for b in req.state.bids.values()
             if b["status"] != "Terminated" and fid in b["launch_specification"]["ssh_keys"]]
    if users:
        raise ApiError(409, f"SSH key is used by active bids: {', '.join(users)}")
    del req.state.ssh_keys[fid]
    return 204, None


def volume_json(state: State, vol: Json) -> Json:
    bids = [b["fid"] for b in state.bids.values()
            if b["status"] != "Terminated" and vol["fid"] in b["launch_specification"]["volumes"]]
    return {**public(vol), "bids": bids}


def list_volumes(req: Request) -> tuple[int, Any]:
    project = req.arg("project", required=True)
    region = req.arg("region")
    deleted = req.arg("include_deleted", choices=("true", "false")) == "true"
    return 200, [volume_json(req.state, v) for v in req.state.volumes.values()
                 if v["project"] == project and region in (None, v["region"]) and (deleted or not v["deleted_at"])]


def _volume_name(req: Request) -> str:
    name: str = req.field("name", str)
    if len(name) > 64 or not VOLUME_NAME.match(name):
        raise invalid(["body", "name"], f"String should match pattern '{VOLUME_NAME.pattern}'",
                      "string_pattern_mismatch")
    return name


def create_volume(req: Request) -> tuple[int, Any]:
    state = req.state
    name, project = _volume_name(req), req.field("project", str)
    interface, region = req.field("disk_interface", str), req.field("region", str)
    size = req.field("size_gb", int)
    if interface not in ("Block", "File"):
        raise invalid(["body", "disk_interface"], "Input should be 'Block' or 'File'", "enum")
    if size <= 0:
        raise invalid(["body", "size_gb"], "Input should be greater than 0", "greater_than")
    known(state.projects, project, "Project")
    if region not in {r for _, r in state.markets}:
        raise ApiError(400, f"Region {region} does not offer storage")
    if any(v["name"] == name and v["project"] == project and not v["deleted_at"] for v in state.volumes.values()):
        raise ApiError(400, f"Volume name {name!r} is already in use in this project")
    fid = state.fid("vol")
    state.volumes[fid] = {"fid": fid, "name": name, "region": region, "created_at": now_iso(), "deleted_at": None,
                          "capacity_gb": size, "project": project, "interface": interface, "bids": [],
                          "reservations": [], "attachments": {}}
    return 201, volume_json(state, state.volumes[fid])


def update_volume(req: Request) -> tuple[int, Any]:
    vol = known(req.state.volumes, req.params["fid"], "Volume")
    vol["name"] = _volume_name(req)
    return 200, volume_json(req.state, vol)


def delete_volume(req: Request) -> tuple[int, Any]:
    vol = known(req.state.volumes, req.params["fid"], "Volume")
    if volume_json(req.state, vol)["bids"]:
        raise ApiError(409, "Volume is attached to an active bid; cancel the bid first")
    vol["deleted_at"] = vol["deleted_at"] or now_iso()
    return 204, None


def list_api_keys(req: Request) -> tuple[int, Any]:
    return 200, [public(k) for k in req.state.api_keys.values()]


def create_api_key(req: Request) -> tuple[int, Any]:
    state = req.state
    name, expires_at = req.field("name", str), req.field("expires_at", str)
    try:
        datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(["body", "expires_at"], "Input should be a valid datetime", "datetime_parsing") from None
    secret = "fkey_" + "".join(state.rng.choice(string.ascii_letters + string.digits) for _ in range(32))
    fid = state.fid("apikey")
    state.api_keys[fid] = {"fid": fid, "name": name, "created_at": now_iso(), "expires_at": expires_at,
                           "deactivated_at": None, "snippet": secret[:9] + "..."}
    state.tokens[secret] = fid
    return 201, {**state.api_keys[fid], "secret": secret}


def revoke_api_key(req: Request) -> tuple[int, Any]:
    key = known(req.state.api_keys, req.params["fid"], "API key")
    key["deactivated_at"] = key["deactivated_at"] or now_iso()
    for secret, fid in list(req.state.tokens.items()):
        if fid == key["fid"]:
            del req.state.tokens[secret]
    return 204, None


Handler = Callable[[Request], tuple[int, Any]]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in [
        ("GET", "/v2/projects", list_projects),
        ("GET", "/v2/instance-types", list_instance_types),
        ("GET", "/v2/spot/availability", spot_availability),
        ("GET", "/v2/pricing/current", current_prices),
        ("GET", "/v2/spot/bids", list_bids),
        ("POST", "/v2/spot/bids", create_bid),
        ("GET", "/v2/spot/bids/(?P<fid>[^/]+)", get_bid),
        ("PATCH", "/v2/spot/bids/(?P<fid>[^/]+)", update_bid),
        ("DELETE", "/v2/spot/bids/(?P<fid>[^/]+)", cancel_bid),
        ("GET", "/v2/instances", list_instances),
        ("GET", "/v2/ssh-keys", list_ssh_keys),
        ("POST", "/v2/ssh-keys", create_ssh_key),
        ("PATCH", "/v2/ssh-keys/(?P<fid>[^/]+)", update_ssh_key),
        ("DELETE", "/v2/ssh-keys/(?P<fid>[^/]+)", delete_ssh_key),
        ("GET", "/v2/volumes", list_volumes),
        ("POST", "/v2/volumes", create_volume),
        ("PATCH", "/v2/volumes/(?P<fid>[^/]+)", update_volume),
        ("DELETE", "/v2/volumes/(?P<fid>[^/]+)", delete_volume),
        ("GET", "/v2/api-keys", list_api_keys),
        ("POST", "/v2/api-keys", create_api_key),
        ("DELETE", "/v2/api-keys/(?P<fid>[^/]+)", revoke_api_key),
    ]
]
