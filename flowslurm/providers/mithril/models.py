"""The records the Mithril API sends and takes, with the spec's field names (openapi.json).

Records are `FrozenRecord`s rather than dataclasses so that importing the client stays cheap;
`raw` keeps the whole JSON object, so fields this client does not model are not lost. Times stay
ISO-8601 strings as sent. Money stays as the API spells it (dollar strings such as "$25.60" on bids
and auctions, a float on instance types, integer cents on /v2/pricing/current); `dollars_to_cents`
and `cents_to_dollars` convert exactly. Secrets the API returns (a new key's `secret`, a generated
SSH `private_key`) are wrapped in `Secret`, which never shows its value in a repr or a message.
"""

from __future__ import annotations

from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal, TypeVar

    BidStatus = Literal["Open", "Allocated", "Preempting", "Terminated", "Paused"]
    InstanceStatus = Literal[
        "STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING", "STATUS_RUNNING",
        "STATUS_STOPPING", "STATUS_TERMINATED", "STATUS_RELOCATING", "STATUS_PREEMPTING", "STATUS_PREEMPTED",
        "STATUS_REPLACED", "STATUS_PAUSED", "STATUS_ERROR",
    ]
    W = TypeVar("W", bound="Wire")

BID_STATUSES = ("Open", "Allocated", "Preempting", "Terminated", "Paused")
INSTANCE_STATUSES = (
    "STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING", "STATUS_RUNNING",
    "STATUS_STOPPING", "STATUS_TERMINATED", "STATUS_RELOCATING", "STATUS_PREEMPTING", "STATUS_PREEMPTED",
    "STATUS_REPLACED", "STATUS_PAUSED", "STATUS_ERROR",
)


def dollars_to_cents(text: str) -> int:
    """"$25.60" -> 2560. Half a cent or more rounds up; anything not a dollar amount is a ValueError."""
    from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

    cleaned = text.strip().lstrip("$").replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not a dollar amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a dollar amount: {text!r}")
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cents_to_dollars(cents: int) -> str:
    """2560 -> "$25.60", the form CreateBidRequest.limit_price takes."""
    if cents < 0:
        raise ValueError(f"negative price: {cents}")
    return f"${cents // 100}.{cents % 100:02d}"


class Secret:
    """A credential: `reveal()` gives it; repr, str and format never do."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        object.__setattr__(self, "_value", value)

    def reveal(self) -> str:
        return self._value

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            import hmac

            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not pickled: store it where credentials belong")


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value or ())


def _secret(value: Any) -> Secret | None:
    return None if value is None else Secret(str(value))


class Wire(FrozenRecord):
    """A record read from a JSON object. `_required` fields must be present; `_convert` maps a
    field to what turns its JSON value into the Python one. Missing optional fields are None."""

    __slots__ = ()
    _required: tuple[str, ...] = ()
    _convert: dict[str, Callable[[Any], Any]] = {}
    _hidden: tuple[str, ...] = ()  # secret fields, masked in `raw`
    __hash__ = None  # type: ignore[assignment]  # `raw` and lists make records unhashable

    @classmethod
    def from_json(cls: type[W], data: object) -> W:
        """Raises ValueError naming the record and field when `data` is not what the spec says."""
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        missing = [name for name in cls._required if data.get(name) is None]
        if missing:
            raise ValueError(f"{cls.__name__}: missing field(s) {', '.join(missing)}")
        record = cls.__new__(cls)
        fields: tuple[str, ...] = cls.__slots__
        for name in fields:
            if name == "raw":
                value: Any = {k: ("***" if k in cls._hidden and v is not None else v) for k, v in data.items()}
            else:
                value = data.get(name)
                convert = cls._convert.get(name)
                if convert is not None:
                    value = convert(value)
            object.__setattr__(record, name, value)
        return record

    def __repr__(self) -> str:
        fields: tuple[str, ...] = self.__slots__
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in fields if n != "raw")
        return f"{self.__class__.__qualname__}({shown})"


class Project(Wire):
    __slots__ = ("fid", "name", "created_at", "raw")
    _required = ("fid", "name")

    if TYPE_CHECKING:
        fid: str
        name: str
        created_at: str
        raw: dict[str, Any]


class InstanceType(Wire):
    __slots__ = ("fid", "name", "num_cpus", "cpu_type", "ram_gb", "num_gpus", "gpu_type", "gpu_memory_gb",
                 "gpu_socket", "local_storage_gb", "network_type", "ib_count", "bridge_count", "hourly_price", "raw")
    _required = ("fid", "name", "num_cpus", "ram_gb", "num_gpus")

    if TYPE_CHECKING:
        fid: str
        name: str
        num_cpus: int
        cpu_type: str | None
        ram_gb: int
        num_gpus: int
        gpu_type: str | None
        gpu_memory_gb: int | None
        gpu_socket: str | None
        local_storage_gb: int | None
        network_type: str | None
        ib_count: int | None
        bridge_count: int | None
        hourly_price: float | None  # dollars as a JSON number, unlike every other price
        raw: dict[str, Any]


class Auction(Wire):
    """One row of /v2/spot/availability: a market for an instance type in a region."""

    __slots__ = ("fid", "instance_type", "region", "capacity", "last_instance_price", "lowest_allocated_price",
                 "adjustable_memory", "default_image_version", "raw")
    _required = ("fid", "instance_type", "region", "capacity", "last_instance_price")

    if TYPE_CHECKING:
        fid: str
        instance_type: str  # an it_ fid
        region: str
        capacity: int  # instances, not GPUs
        last_instance_price: str
        lowest_allocated_price: str | None
        adjustable_memory: bool | None
        default_image_version: str | None
        raw: dict[str, Any]

    @property
    def last_price_cents(self) -> int:
        return dollars_to_cents(self.last_instance_price)


class CurrentPrices(Wire):
    """/v2/pricing/current: every field optional, all money in integer cents."""

    __slots__ = ("spot_price_cents", "reserved_price_cents", "minimum_price_cents", "lowest_allocated_bid_cents",
                 "dynamic_win_price_cents", "available_capacity", "total_capacity", "raw")

    if TYPE_CHECKING:
        spot_price_cents: int | None
        reserved_price_cents: int | None
        minimum_price_cents: int | None
        lowest_allocated_bid_cents: int | None
        dynamic_win_price_cents: int | None
        available_capacity: int | None
        total_capacity: int | None
        raw: dict[str, Any]


class LaunchSpecification(Wire):
    """What each instance of a bid boots with. `volumes` and `ssh_keys` are required by the spec,
    even when empty."""

    __slots__ = ("volumes", "ssh_keys", "startup_script", "kubernetes_cluster", "image_version", "memory_gb")
    _convert = {"volumes": _tuple, "ssh_keys": _tuple}

    def __init__(self, ssh_keys: tuple[str, ...] | list[str] = (), volumes: tuple[str, ...] | list[str] = (),
                 startup_script: str | None = None, kubernetes_cluster: str | None = None,
                 image_version: str | None = None, memory_gb: int | None = None) -> None:
        init = object.__setattr__
        init(self, "volumes", tuple(volumes))
        init(self, "ssh_keys", tuple(ssh_keys))
        init(self, "startup_script", startup_script)
        init(self, "kubernetes_cluster", kubernetes_cluster)
        init(self, "image_version", image_version)
        init(self, "memory_gb", memory_gb)

    if TYPE_CHECKING:
        volumes: tuple[str, ...]
        ssh_keys: tuple[str, ...]
        startup_script: str | None
        kubernetes_cluster: str | None
        image_version: str | None
        memory_gb: int | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"volumes": list(self.volumes), "ssh_keys": list(self.ssh_keys)}
        for name in ("startup_script", "kubernetes_cluster", "image_version", "memory_gb"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    def __repr__(self) -> str:  # a startup script runs to 10,000 characters: show its size
        script = self.startup_script
        shown = "None" if script is None else f"<{len(script)} chars>"
        return (f"LaunchSpecification(volumes={self.volumes!r}, ssh_keys={self.ssh_keys!r}, startup_script={shown}, "
                f"kubernetes_cluster={self.kubernetes_cluster!r}, image_version={self.image_version!r}, "
                f"memory_gb={self.memory_gb!r})")


class Bid(Wire):
    __slots__ = ("fid", "name", "project", "created_by", "created_at", "deactivated_at", "limit_price",
                 "instance_quantity", "instance_type", "region", "instances", "launch_specification", "status", "raw")
    _required = ("fid", "name", "project", "created_at", "limit_price", "instance_quantity", "instance_type",
                 "instances", "status")
    _convert = {"instances": _tuple,
                "launch_specification": lambda v: None if v is None else LaunchSpecification.from_json(v)}

    if TYPE_CHECKING:
        fid: str
        name: str
        project: str
        created_by: str | None
        created_at: str
        deactivated_at: str | None
        limit_price: str
        instance_quantity: int
        instance_type: str
        region: str | None
        instances: tuple[str, ...]
        launch_specification: LaunchSpecification | None
        status: BidStatus
        raw: dict[str, Any]

    @property
    def limit_price_cents(self) -> int:
        return dollars_to_cents(self.limit_price)


class Instance(Wire):
    __slots__ = ("fid", "name", "project", "created_at", "created_by", "instance_type", "region", "bid",
                 "reservation", "ssh_destination", "private_ip", "status", "raw")
    _required = ("fid", "name", "project", "created_at", "instance_type", "status")

    if TYPE_CHECKING:
        fid: str
        name: str
        project: str
        created_at: str
        created_by: str | None
        instance_type: str
        region: str | None
        bid: str | None
        reservation: str | None
        ssh_destination: str | None  # "host" or "host:port"
        private_ip: str | None
        status: InstanceStatus
        raw: dict[str, Any]


class SshKey(Wire):
    """NewSshKeyModel, or CreatedSshKeyModel with the `private_key` the server generated."""

    __slots__ = ("fid", "name", "project", "public_key", "created_at", "required", "private_key", "raw")
    _required = ("fid", "name", "project", "public_key")
    _convert = {"private_key": _secret}
    _hidden = ("private_key",)

    if TYPE_CHECKING:
        fid: str
        name: str
        project: str
        public_key: str
        created_at: str
        required: bool | None
        private_key: Secret | None
        raw: dict[str, Any]


class Volume(Wire):
    __slots__ = ("fid", "name", "region", "created_at", "deleted_at", "capacity_gb", "project", "interface", "bids",
                 "reservations", "attachments", "raw")
    _required = ("fid", "name", "region", "capacity_gb", "project")
    _convert = {"bids": _tuple, "reservations": _tuple, "attachments": lambda v: dict(v or {})}

    if TYPE_CHECKING:
        fid: str
        name: str
        region: str
        created_at: str
        deleted_at: str | None
        capacity_gb: int
        project: str
        interface: Literal["Block", "File"]
        bids: tuple[str, ...]
        reservations: tuple[str, ...]
        attachments: dict[str, str]
        raw: dict[str, Any]


class ApiKey(Wire):
    """ApiKeyModel; from a create, CreateApiKeyResponse, whose `secret` is the only time the key is shown."""

    __slots__ = ("fid", "name", "created_at", "expires_at", "deactivated_at", "snippet", "secret", "raw")
    _required = ("fid", "name")
    _convert = {"secret": _secret}
    _hidden = ("secret",)

    if TYPE_CHECKING:
        fid: str
        name: str
        created_at: str
        expires_at: str
        deactivated_at: str | None
        snippet: str
        secret: Secret | None
        raw: dict[str, Any]


def parse_many(cls: type[W], data: object) -> list[W]:
    """A bare JSON list of `cls` records (the shape of every unpaginated listing)."""
    if not isinstance(data, list):
        raise ValueError(f"expected a JSON list of {cls.__name__}, got {type(data).__name__}")
    return [cls.from_json(item) for item in data]
