"""A typed client for the part of the Mithril API flowslurm uses (paths and fields per openapi.json).

    with MithrilClient() as api:                      # key: MITHRIL_API_KEY or config.yaml
        project = api.find_project("research")
        bid = api.create_bid(project=project.fid, region="us-central1-a", instance_type="it_...",
                             limit_price="$12.00", instance_quantity=1, name="flowslurm-42",
                             launch_specification=LaunchSpecification(ssh_keys=["sshkey_..."]),
                             idempotency_key="flowslurm-42-0")
        api.instances_by_bid(project.fid, [bid.fid])

Listings come in two shapes, as the spec says: bare JSON lists (projects, instance types,
availability, ssh keys, volumes, api keys) and `{"data": [...], "next_cursor": ...}` pages (bids,
instances), which the `iter_*` methods follow to the end. Errors are the classes in `errors`.
"""

from __future__ import annotations

from flowslurm.providers.mithril import errors
from flowslurm.providers.mithril.models import (
    ApiKey,
    Auction,
    Bid,
    CurrentPrices,
    Instance,
    InstanceType,
    LaunchSpecification,
    Project,
    SshKey,
    Volume,
    parse_many,
)
from flowslurm.providers.mithril.session import DEFAULT_URL, RetryPolicy, Session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping
    from typing import Any, Literal, TypeVar

    import httpx

    from flowslurm.providers.mithril.models import BidStatus, InstanceStatus, W

    T = TypeVar("T")

__all__ = ["DEFAULT_URL", "MithrilClient", "RetryPolicy", "new_idempotency_key"]

PAGE_SIZE = 100  # the spec's maximum `limit`
MAX_PAGES = 1000


def new_idempotency_key(kind: str) -> str:
    """A fresh key, for callers with nothing stable to derive one from. A caller that may itself be
    restarted should derive the key from what it is creating (job id and restart count), so that a
    second process retrying the same creation replays instead of duplicating."""
    import uuid

    return f"flowslurm-{kind}-{uuid.uuid4().hex}"


def _segment(fid: str) -> str:
    """An id as one path segment: never `..` or a `/` that would reach another endpoint."""
    from urllib.parse import quote

    if not fid or fid in (".", ".."):
        raise ValueError(f"not an id: {fid!r}")
    return quote(fid, safe="")


class MithrilClient:
    """Typed calls to the Mithril API. Every failure raises a `errors.MithrilError` subclass.

    `api_key` defaults to MITHRIL_API_KEY, then `mithril: api_key:` in config.yaml; `base_url` to
    MITHRIL_API_URL, then `mithril: api_url:`, then the production URL. `retry`, `sleep` and `rand`
    shape the retries (tests make them instant); `transport` replaces httpx's network layer."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, timeout_s: float = 30.0,
                 connect_timeout_s: float = 10.0, retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] | None = None,
                 rand: Callable[[], float] | None = None) -> None:
        from flowslurm.config import setting

        key = api_key if api_key is not None else setting("mithril", "api_key", "MITHRIL_API_KEY", None)
        url = base_url or setting("mithril", "api_url", "MITHRIL_API_URL", None) or DEFAULT_URL
        self._session = Session(str(key or ""), str(url), timeout_s=timeout_s, connect_timeout_s=connect_timeout_s,
                                retry=retry, transport=transport, sleep=sleep, rand=rand)

    @property
    def base_url(self) -> str:
        return self._session.base_url

    def __repr__(self) -> str:
        return f"MithrilClient(base_url={self.base_url!r}, api_key=<hidden>)"

    def __enter__(self) -> MithrilClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- plumbing ---------------------------------------------------------------------------------

    def _call(self, method: str, path: str, operation: str, **kw: Any) -> Any:
        return self._session.request(method, path, operation=operation, **kw)

    def _parse(self, operation: str, parse: Callable[[Any], T], data: Any) -> T:
        try:
            return parse(data)
        except (ValueError, TypeError) as exc:
            raise errors.ProtocolError(
                f"could not {operation}: the answer does not match the API spec ({exc})",
                ["The Mithril API may have changed: update flowslurm, or report this",
                 f"Check MITHRIL_API_URL points at the Mithril API (now {self.base_url})"],
                operation=operation) from None

    def _list(self, cls: type[W], path: str, operation: str, params: Mapping[str, Any] | None = None) -> list[W]:
        data = self._call("GET", path, operation, params=params)
        return self._parse(operation, lambda d: parse_many(cls, d), data)

    def _one(self, cls: type[W], method: str, path: str, operation: str, **kw: Any) -> W:
        data = self._call(method, path, operation, **kw)
        return self._parse(operation, cls.from_json, data)

    def _pages(self, cls: type[W], path: str, operation: str, params: dict[str, Any],
               page_size: int) -> Iterator[W]:
        """Every record of a cursor-paginated listing, page by page; a cursor seen twice is an error
        (a server bug would otherwise loop forever)."""
        if not 1 <= page_size <= PAGE_SIZE:
            raise ValueError(f"page_size must be within 1..{PAGE_SIZE}")
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            data = self._call("GET", path, operation, params={**params, "limit": page_size, "next_cursor": cursor})
            if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                self._parse(operation, _page_shape, data)
            for item in data["data"]:
                yield self._parse(operation, cls.from_json, item)
            cursor = data.get("next_cursor")
            if not cursor:
                return
            if cursor in seen:
                break
            seen.add(cursor)
        raise errors.ProtocolError(f"could not {operation}: the API's pages do not end (cursor repeated or over "
                                   f"{MAX_PAGES} pages)", ["Report this: the listing's cursor loops"],
                                   operation=operation)

    # -- projects, catalog, market ----------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        return self._list(Project, "/v2/projects", "list projects")

    def find_project(self, name_or_fid: str) -> Project:
        """The project with this fid or (exact) name; config names projects by name."""
        projects = self.list_projects()
        for project in projects:
            if name_or_fid in (project.fid, project.name):
                return project
        names = ", ".join(sorted(p.name for p in projects)) or "none"
        raise errors.NotFoundError(
            f"could not find Mithril project {name_or_fid!r}: the API key's projects are: {names}",
            ["Name one of these projects in flowslurm's Mithril settings (`mithril: project:` in config.yaml)"],
            operation="find project")

    def list_instance_types(self) -> list[InstanceType]:
        return self._list(InstanceType, "/v2/instance-types", "list instance types")

    def spot_availability(self) -> list[Auction]:
        """Every spot market (instance type x region) with its capacity and last price."""
        return self._list(Auction, "/v2/spot/availability", "read spot availability")

    def current_prices(self, instance_type: str, region: str | None = None, instance_quantity: int = 1) -> CurrentPrices:
        """Spot, minimum and winning prices in cents for one instance type."""
        return self._one(CurrentPrices, "GET", "/v2/pricing/current", f"read prices of {instance_type}",
                         params={"instance_type": instance_type, "region": region,
                                 "instance_quantity": instance_quantity})

    # -- spot bids --------------------------------------------------------------------------------

    def create_bid(self, *, project: str, region: str, instance_type: str, limit_price: str, instance_quantity: int,
                   name: str, launch_specification: LaunchSpecification, notification_email: str | None = None,
                   idempotency_key: str | None = None) -> Bid:
        """Place a spot bid; retried safely under `idempotency_key` (a fresh one when None).

        If an attempt may have reached the server, the live bids of the project are searched by
        name and terms before the next attempt, and a match is returned instead of posting again."""
        body: dict[str, Any] = {
            "project": project, "region": region, "instance_type": instance_type, "limit_price": limit_price,
            "instance_quantity": instance_quantity, "name": name,
            "launch_specification": launch_specification.to_json(),
        }
        if notification_email is not None:
            body["notification_email"] = notification_email
        operation = f"create spot bid {name!r}"
        data = self._call("POST", "/v2/spot/bids", operation, json=body,
                          idempotency_key=idempotency_key or new_idempotency_key("bid"),
                          recover=lambda: self._find_created_bid(body))
        if isinstance(data, Bid):
            return data
        return self._parse(operation, Bid.from_json, data)

    def _find_created_bid(self, body: Mapping[str, Any]) -> Bid | None:
        try:
            for bid in self.iter_bids(project=body["project"], name=body["name"]):
                if (bid.status != "Terminated" and bid.instance_type == body["instance_type"]
                        and bid.region == body["region"] and bid.instance_quantity == body["instance_quantity"]
                        and bid.limit_price == body["limit_price"]):
                    return bid
        except errors.MithrilError:
            pass  # cannot tell: the retry's idempotency key is the remaining guard
        return None

    def iter_bids(self, *, project: str | None = None, instance_type: str | None = None, region: str | None = None,
                  status: BidStatus | None = None, name: str | None = None,
                  sort_by: Literal["created_at", "status"] | None = None,
                  sort_dir: Literal["asc", "desc"] | None = None, page_size: int = PAGE_SIZE) -> Iterator[Bid]:
        params = {"project": project, "instance_type": instance_type, "region": region, "status": status,
                  "name": name, "sort_by": sort_by, "sort_dir": sort_dir}
        return self._pages(Bid, "/v2/spot/bids", "list spot bids", params, page_size)

    def list_bids(self, *, project: str | None = None, instance_type: str | None = None, region: str | None = None,
                  status: BidStatus | None = None, name: str | None = None,
                  sort_by: Literal["created_at", "status"] | None = None,
                  sort_dir: Literal["asc", "desc"] | None = None, page_size: int = PAGE_SIZE) -> list[Bid]:
        """`iter_bids` as a list."""
        return list(self.iter_bids(project=project, instance_type=instance_type, region=region, status=status,
                                   name=name, sort_by=sort_by, sort_dir=sort_dir, page_size=page_size))

    def get_bid(self, bid_fid: str) -> Bid:
        return self._one(Bid, "GET", f"/v2/spot/bids/{_segment(bid_fid)}", f"get spot bid {bid_fid}")

    def update_bid(self, bid_fid: str, *, limit_price: str | None = None, paused: bool | None = None,
                   volumes: Iterable[str] | None = None, memory_gb: int | None = None) -> Bid:
        """Change a bid's price, pause or resume it, or set its volumes. Not retried (PATCH)."""
        body: dict[str, Any] = {"limit_price": limit_price, "paused": paused,
                                "volumes": None if volumes is None else list(volumes), "memory_gb": memory_gb}
        return self._one(Bid, "PATCH", f"/v2/spot/bids/{_segment(bid_fid)}", f"update spot bid {bid_fid}",
                         json={k: v for k, v in body.items() if v is not None})

    def cancel_bid(self, bid_fid: str) -> None:
        """Cancel a bid: it becomes Terminated and its instances stop billing."""
        self._call("DELETE", f"/v2/spot/bids/{_segment(bid_fid)}", f"cancel spot bid {bid_fid}")

    # -- instances --------------------------------------------------------------------------------

    def iter_instances(self, project: str, *, bid_fids: Iterable[str] | None = None,
                       status_in: Iterable[InstanceStatus] | None = None, instance_type: str | None = None,
                       region: str | None = None, order_type_in: Iterable[Literal["Bid", "Reservation"]] | None = None,
                       sort_by: Literal["created_at", "instance_status", "instance_type_fid"] | None = None,
                       sort_dir: Literal["asc", "desc"] | None = None, page_size: int = PAGE_SIZE,
                       bids_per_request: int = PAGE_SIZE) -> Iterator[Instance]:
        """Instances of a project; with `bid_fids`, only those bids', asked `bids_per_request` bids
        at a time (`bid_fid_in`, comma-joined). An empty `bid_fids` asks nothing: the API would
        read a missing filter as "every instance"."""
        params: dict[str, Any] = {"project": project, "status_in": _listed(status_in), "instance_type": instance_type,
                                  "region": region, "order_type_in": _listed(order_type_in), "sort_by": sort_by,
                                  "sort_dir": sort_dir}
        if status_in is not None and not params["status_in"]:
            return  # no status allowed: nothing matches
        if bid_fids is None:
            yield from self._pages(Instance, "/v2/instances", "list instances", params, page_size)
            return
        fids = list(dict.fromkeys(bid_fids))
        for start in range(0, len(fids), bids_per_request):
            chunk = fids[start:start + bids_per_request]
            yield from self._pages(Instance, "/v2/instances", f"list instances of {len(chunk)} bid(s)",
                                   {**params, "bid_fid_in": chunk}, page_size)

    def list_instances(self, project: str, *, bid_fids: Iterable[str] | None = None,
                       status_in: Iterable[InstanceStatus] | None = None, instance_type: str | None = None,
                       region: str | None = None, order_type_in: Iterable[Literal["Bid", "Reservation"]] | None = None,
                       sort_by: Literal["created_at", "instance_status", "instance_type_fid"] | None = None,
                       sort_dir: Literal["asc", "desc"] | None = None, page_size: int = PAGE_SIZE,
                       bids_per_request: int = PAGE_SIZE) -> list[Instance]:
        """`iter_instances` as a list."""
        return list(self.iter_instances(project, bid_fids=bid_fids, status_in=status_in, instance_type=instance_type,
                                        region=region, order_type_in=order_type_in, sort_by=sort_by,
                                        sort_dir=sort_dir, page_size=page_size, bids_per_request=bids_per_request))

    def instances_by_bid(self, project: str, bid_fids: Iterable[str]) -> dict[str, list[Instance]]:
        """Each bid's instances, from ceil(len(bid_fids)/100) listing requests when each page holds them all."""
        fids = list(dict.fromkeys(bid_fids))
        found: dict[str, list[Instance]] = {fid: [] for fid in fids}
        for instance in self.iter_instances(project, bid_fids=fids):
            if instance.bid in found:
                found[instance.bid].append(instance)
        return found

    # -- ssh keys ---------------------------------------------------------------------------------

    def list_ssh_keys(self, project: str) -> list[SshKey]:
        return self._list(SshKey, "/v2/ssh-keys", "list ssh keys", {"project": project})

    def create_ssh_key(self, project: str, name: str, public_key: str | None = None, required: bool = False) -> SshKey:
        """Register `public_key`; without one the server generates a pair and returns `private_key`
        (a Secret). Not retried: the spec gives ssh keys no idempotency."""
        body: dict[str, Any] = {"project": project, "name": name, "required": required}
        if public_key is not None:
            body["public_key"] = public_key
        return self._one(SshKey, "POST", "/v2/ssh-keys", f"create ssh key {name!r}", json=body)

    def update_ssh_key(self, ssh_key_fid: str, required: bool) -> SshKey:
        return self._one(SshKey, "PATCH", f"/v2/ssh-keys/{_segment(ssh_key_fid)}", f"update ssh key {ssh_key_fid}",
                         json={"required": required})

    def delete_ssh_key(self, ssh_key_fid: str) -> None:
        self._call("DELETE", f"/v2/ssh-keys/{_segment(ssh_key_fid)}", f"delete ssh key {ssh_key_fid}")

    # -- volumes ----------------------------------------------------------------------------------

    def list_volumes(self, project: str, region: str | None = None, include_deleted: bool = False) -> list[Volume]:
        return self._list(Volume, "/v2/volumes", "list volumes",
                          {"project": project, "region": region, "include_deleted": include_deleted or None})

    def create_volume(self, project: str, name: str, region: str, size_gb: int,
                      disk_interface: Literal["Block", "File"] = "Block", idempotency_key: str | None = None) -> Volume:
        return self._one(Volume, "POST", "/v2/volumes", f"create volume {name!r}",
                         json={"name": name, "project": project, "disk_interface": disk_interface, "region": region,
                               "size_gb": size_gb},
                         idempotency_key=idempotency_key or new_idempotency_key("volume"))

    def update_volume(self, volume_fid: str, name: str) -> Volume:
        return self._one(Volume, "PATCH", f"/v2/volumes/{_segment(volume_fid)}", f"rename volume {volume_fid}",
                         json={"name": name})

    def delete_volume(self, volume_fid: str) -> None:
        self._call("DELETE", f"/v2/volumes/{_segment(volume_fid)}", f"delete volume {volume_fid}")

    # -- api keys ---------------------------------------------------------------------------------

    def list_api_keys(self) -> list[ApiKey]:
        return self._list(ApiKey, "/v2/api-keys", "list api keys")

    def create_api_key(self, name: str, expires_at: str) -> ApiKey:
        """A new key; its `secret` (a Secret) is shown this once. `expires_at` is ISO-8601. Not retried."""
        return self._one(ApiKey, "POST", "/v2/api-keys", f"create api key {name!r}",
                         json={"name": name, "expires_at": expires_at})

    def revoke_api_key(self, key_fid: str) -> None:
        self._call("DELETE", f"/v2/api-keys/{_segment(key_fid)}", f"revoke api key {key_fid}")


def _listed(values: Iterable[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def _page_shape(data: Any) -> None:
    raise ValueError(f"expected {{'data': [...], 'next_cursor': ...}}, got {type(data).__name__}")
