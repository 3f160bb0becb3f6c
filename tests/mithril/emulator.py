"""An HTTP emulator of the Mithril API subset flowslurm uses, for tests over real HTTP.

It follows shared/mithril/openapi.json: paths, query parameter and field names, FID prefixes,
dollar strings ("$12.00") on bids and auctions, integer cents on /v2/pricing/current, bare lists
vs `{"data", "next_cursor"}` pages, `{"detail": "..."}` errors and FastAPI's 422 `detail` lists.
Where the spec is silent (error texts, default page size and order, what cancel does to instances)
it behaves as research/flow-compute.md observed, or as plausibly as it can; those places say so.

It does not share code with the client: a bug there must not be mirrored here. State lives in
`State` (one lock); time moves only when a test calls `advance()`, so lifecycles are deterministic.
Faults (`fail`, `drop`, `delay`) apply to the next matching requests, before routing, as a proxy
or load balancer failing would; `drop(after_handling=True)` applies the request and then loses
the answer, the case idempotency keys exist for. The endpoints themselves are in emulator_routes.py.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import string
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.mithril.emulator_routes import (
    BOOT_SEQUENCE,
    MAX_LIMIT,
    ROUTES,
    ApiError,
    Json,
    Request,
    invalid,
    now_iso,
    public,
)


@dataclass
class Fault:
    kind: str  # "status" | "drop" | "delay"
    times: int
    method: str | None = None
    path: str | None = None  # a prefix of the request path
    status: int = 503
    retry_after: str | None = None
    detail: str = "Service Unavailable"
    after_handling: bool = False
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or path.startswith(self.path))


@dataclass
class Logged:
    """One request as the emulator saw it (never its Authorization header)."""

    method: str
    path: str
    query: dict[str, list[str]]
    idempotency_key: str | None
    status: int | None = None  # None: the connection was dropped


class State:
    """Everything the emulated API knows. Tests read and change it directly, under `lock`."""

    def __init__(self, api_key: str, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.rng = random.Random(seed)
        self.user = self.fid("user")
        self.tokens: dict[str, str | None] = {api_key: None}  # bearer secret -> api key fid (None: the first)
        self.projects: dict[str, Json] = {}
        self.instance_types: dict[str, Json] = {}
        self.markets: dict[tuple[str, str], Json] = {}  # (instance type fid, region) -> market
        self.bids: dict[str, Json] = {}
        self.instances: dict[str, Json] = {}
        self.ssh_keys: dict[str, Json] = {}
        self.volumes: dict[str, Json] = {}
        self.api_keys: dict[str, Json] = {}
        self.idempotency: dict[str, tuple[str, int, Json]] = {}
        self.faults: list[Fault] = []
        self.requests: list[Logged] = []
        self.internal_errors: list[str] = []
        self.honour_idempotency = True  # False: behave as a server that ignores the (undocumented) header
        self.default_limit = MAX_LIMIT
        self.quota_instances: dict[str, int] = {}  # project fid -> live instances allowed
        self.startup_script_limit = 10_000  # Mithril's documented limit; the spec sets no maxLength
        self.ssh_destination = "127.0.0.1:22"
        self._seq = 0
        self._seed()

    # -- identifiers and seed data ----------------------------------------------------------------

    def fid(self, prefix: str) -> str:
        return f"{prefix}_" + "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(16))

    def seq(self) -> int:
        self._seq += 1
        return self._seq

    def _seed(self) -> None:
        self.add_project("default")
        self.add_project("research")
        a100 = self.add_instance_type("a100-80gb.sxm.1x", num_gpus=1, gpu_type="A100", num_cpus=24, ram_gb=120,
                                      hourly_price=1.5)
        a100x8 = self.add_instance_type("a100-80gb.sxm.8x", num_gpus=8, gpu_type="A100", num_cpus=192, ram_gb=960,
                                        hourly_price=12.0)
        h100x8 = self.add_instance_type("h100-80gb.sxm.8x", num_gpus=8, gpu_type="H100", num_cpus=224, ram_gb=1800,
                                        hourly_price=24.0)
        self.add_market(a100, "us-central1-a", capacity=8, price_cents=120, minimum_cents=80)
        self.add_market(a100, "us-central1-b", capacity=4, price_cents=110, minimum_cents=80)
        self.add_market(a100x8, "us-central1-a", capacity=4, price_cents=960, minimum_cents=640)
        self.add_market(h100x8, "eu-central1-a", capacity=2, price_cents=1800, minimum_cents=1200)

    def add_project(self, name: str) -> str:
        fid = self.fid("proj")
        self.projects[fid] = {"fid": fid, "name": name, "created_at": now_iso()}
        return fid

    def add_instance_type(self, name: str, *, num_gpus: int, gpu_type: str, num_cpus: int, ram_gb: int,
                          hourly_price: float) -> str:
        fid = self.fid("it")
        self.instance_types[fid] = {
            "fid": fid, "name": name, "num_cpus": num_cpus, "cpu_type": "AMD", "ram_gb": ram_gb, "num_gpus": num_gpus,
            "gpu_type": gpu_type, "gpu_memory_gb": 80, "gpu_socket": "SXM5", "local_storage_gb": 1500 * num_gpus,
            "network_type": "InfiniBand" if num_gpus == 8 else None, "ib_count": num_gpus if num_gpus == 8 else 0,
            "bridge_count": 4 if num_gpus == 8 else 0, "hourly_price": hourly_price,
        }
        return fid

    def add_market(self, instance_type: str, region: str, *, capacity: int, price_cents: int,
                   minimum_cents: int) -> None:
        self.markets[(instance_type, region)] = {"fid": self.fid("auc"), "capacity": capacity, "free": capacity,
                                                 "price_cents": price_cents, "minimum_cents": minimum_cents}

    def project_fid(self, name: str) -> str:
        return next(fid for fid, p in self.projects.items() if p["name"] == name)

    def instance_type_fid(self, name: str) -> str:
        return next(fid for fid, t in self.instance_types.items() if t["name"] == name)

    # -- faults -----------------------------------------------------------------------------------

    def fail(self, status: int = 503, times: int = 1, *, retry_after: str | None = None, detail: str | None = None,
             method: str | None = None, path: str | None = None) -> None:
        """Answer the next `times` matching requests with `status` (and Retry-After), unprocessed."""
        with self.lock:
            self.faults.append(Fault("status", times, method, path, status, retry_after,
                                     detail or ("Too Many Requests" if status == 429 else "Service Unavailable")))

    def drop(self, times: int = 1, *, after_handling: bool = False, method: str | None = None,
             path: str | None = None) -> None:
        """Close the next `times` matching connections without an answer; `after_handling` applies
        the request first (its effect happens, its answer is lost)."""
        with self.lock:
            self.faults.append(Fault("drop", times, method, path, after_handling=after_handling))

    def delay(self, seconds: float, times: int = 1, *, method: str | None = None, path: str | None = None) -> None:
        """Hold the next `times` matching requests for `seconds` before handling them."""
        with self.lock:
            self.faults.append(Fault("delay", times, method, path, seconds=seconds))

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
            return None

    # -- the market's clock -----------------------------------------------------------------------

    def advance(self, steps: int = 1) -> None:
        """Move time on by `steps`: Open bids that can be served are Allocated, each instance goes one
        step along NEW -> CONFIRMED -> INITIALIZING -> STARTING -> RUNNING, preempting ones end."""
        for _ in range(steps):
            with self.lock:
                waiting = [b for b in sorted(self.bids.values(), key=lambda b: b["_seq"]) if b["status"] == "Open"]
                for inst in self.instances.values():
                    status = inst["status"]
                    if status == "STATUS_PREEMPTING":
                        self._end_preemption(inst)
                    elif status in BOOT_SEQUENCE[:-1]:
                        inst["status"] = BOOT_SEQUENCE[BOOT_SEQUENCE.index(status) + 1]
                        if inst["status"] == "STATUS_RUNNING":
                            inst["ssh_destination"] = self.ssh_destination
                for bid in waiting:  # a bid reopened by this step's preemption waits for the next
                    if bid["status"] == "Open":
                        self._try_allocate(bid)

    def _try_allocate(self, bid: Json) -> None:
        market = self.markets[(bid["instance_type"], bid["region"])]
        if bid["_limit_cents"] < market["price_cents"] or market["free"] < bid["instance_quantity"]:
            return  # stays Open: outbid, or no capacity yet
        market["free"] -= bid["instance_quantity"]
        bid["status"] = "Allocated"
        bid["instances"] = []
        for index in range(bid["instance_quantity"]):
            fid = self.fid("inst")
            self.instances[fid] = {
                "fid": fid, "name": f"{bid['name']}-{index}", "project": bid["project"], "created_at": now_iso(),
                "created_by": self.user, "instance_type": bid["instance_type"], "region": bid["region"],
                "bid": bid["fid"], "reservation": None, "ssh_destination": None,
                "private_ip": f"10.0.{len(self.instances) // 250}.{len(self.instances) % 250 + 2}",
                "status": "STATUS_NEW", "_seq": self.seq(),
            }
            bid["instances"].append(fid)

    def preempt(self, bid_fid: str) -> None:
        """Start preempting an Allocated bid: instances STATUS_PREEMPTING now; on the next advance
        they are STATUS_PREEMPTED and the bid is Open again (research notes a 5-minute grace)."""
        with self.lock:
            bid = self.bids[bid_fid]
            bid["status"] = "Preempting"
            for fid in bid["instances"]:
                self.instances[fid]["status"] = "STATUS_PREEMPTING"

    def _end_preemption(self, inst: Json) -> None:
        inst["status"] = "STATUS_PREEMPTED"
        bid = self.bids[inst["bid"]]
        self.release(bid, keep_status=True)
        if bid["status"] == "Preempting":
            bid["status"] = "Open"

    def release(self, bid: Json, keep_status: bool = False, final: str = "STATUS_TERMINATED") -> None:
        """Give a bid's instances back to the market."""
        if bid["instances"]:
            self.markets[(bid["instance_type"], bid["region"])]["free"] += len(bid["instances"])
        for fid in bid["instances"]:
            if not keep_status:
                self.instances[fid]["status"] = final
        bid["instances"] = []

    def live_bids(self) -> list[Json]:
        with self.lock:
            return [public(b) for b in self.bids.values() if b["status"] != "Terminated"]

    def requests_to(self, method: str, path: str) -> list[Logged]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]



def dispatch(state: State, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Any, dict[str, str]]:
    """Route one request under the state lock: (status, JSON or None, extra headers)."""
    split = urlsplit(target)
    path, query = unquote(split.path), parse_qs(split.query, keep_blank_values=True)
    allowed = [(m, match, handler) for m, pattern, handler in ROUTES if (match := pattern.match(path))]
    if not allowed:
        raise ApiError(404, "Not Found")
    found = [(match, handler) for m, match, handler in allowed if m == method]
    if not found:
        raise ApiError(405, "Method Not Allowed")
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
    if token not in state.tokens:
        raise ApiError(401, "Invalid credentials", {"WWW-Authenticate": "Bearer"})
    try:
        body = json.loads(raw_body) if raw_body else None
    except ValueError:
        raise invalid(["body"], "JSON decode error", "json_invalid") from None
    key = headers.get("idempotency-key")
    match, handler = found[0]
    req = Request(state, method, path, query, body, match.groupdict(), key)
    if key is None or method != "POST" or not state.honour_idempotency:
        status, data = handler(req)
        return status, data, {}
    fingerprint = hashlib.sha256(f"{method} {path} ".encode() + json.dumps(body, sort_keys=True).encode()).hexdigest()
    scoped = f"{state.tokens[token] or 'root'}:{key}"
    if scoped in state.idempotency:
        seen, status, data = state.idempotency[scoped]
        if seen != fingerprint:
            raise ApiError(409, "Idempotency-Key was already used with a different request")
        return status, data, {"Idempotent-Replayed": "true"}
    status, data = handler(req)
    if 200 <= status < 300:
        state.idempotency[scoped] = (fingerprint, status, data)
    return status, data, {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    state: State  # set on the subclass each Emulator makes

    def log_message(self, format: str, *args: Any) -> None:  # tests read state.requests instead
        pass

    def _serve(self) -> None:
        state = self.state
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        split = urlsplit(self.path)
        logged = Logged(self.command, unquote(split.path), parse_qs(split.query, keep_blank_values=True),
                        headers.get("idempotency-key"))
        with state.lock:
            state.requests.append(logged)
            request_id = f"req_{len(state.requests)}"
        fault = state.take_fault(self.command, logged.path)
        if fault is not None and fault.kind == "delay":
            state.stopping.wait(fault.seconds)
        if fault is not None and fault.kind == "drop" and not fault.after_handling:
            return self._hang_up()
        extra: dict[str, str] = {"X-Request-Id": request_id}
        data: Any
        if fault is not None and fault.kind == "status":
            status, data = fault.status, {"detail": fault.detail}
            if fault.retry_after is not None:
                extra["Retry-After"] = fault.retry_after
        else:
            try:
                with state.lock:
                    status, data, more = dispatch(state, self.command, self.path, headers, raw_body)
                extra.update(more)
            except ApiError as err:
                status, data = err.status, {"detail": err.detail}
                extra.update(err.headers)
            except Exception:
                import traceback

                state.internal_errors.append(traceback.format_exc())
                status, data = 500, {"detail": "Internal Server Error"}
        if fault is not None and fault.kind == "drop":
            return self._hang_up()
        logged.status = status
        payload = b"" if data is None else json.dumps(data).encode()
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve


class Emulator:
    """The emulated API served from a thread on 127.0.0.1 at an ephemeral port."""

    def __init__(self, api_key: str = "fkey_emulatorTestKey0123456789abcdef", seed: int = 0) -> None:
        self.api_key = api_key
        self.state = State(api_key, seed)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="mithril-emulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> Emulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
