"""Everything the emulated Mithril API knows, and how time moves it on.

`State` holds projects, markets, bids, instances, keys and volumes under one lock. Time moves in
one of two ways:
- a manual clock (`advance(steps)`), for tests that want each lifecycle step to be deterministic:
  one step allocates Open bids and moves each instance one status along its boot sequence;
- the real clock (`tick()`, called by a background thread): an Open bid that can be served is
  Allocated `allocate_after` seconds after it became Open, and its instances walk from
  STATUS_NEW to STATUS_RUNNING over `boot_after` seconds.
With sandboxes (see sandbox.py) an instance only reports STATUS_RUNNING once its sshd listens and
its startup script has been started, so a client that sees RUNNING can log in at once.

Faults (`fail`, `drop`, `delay`) apply to the next matching requests, before routing, as a proxy
or load balancer failing would; `drop(after_handling=True)` applies the request and then loses
the answer, the case idempotency keys exist for.
"""

from __future__ import annotations

import random
import string
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from flowslurm.emulator.model import BOOT_SEQUENCE, MAX_LIMIT, ApiError, Json, now_iso, public

if TYPE_CHECKING:
    from flowslurm.emulator.sandbox import Sandboxes

DEFAULT_API_KEY = "fkey_emulatorTestKey0123456789abcdef"
"""The documented test key the emulator accepts when none is given (never a real credential)."""

DEFAULT_GRACE_S = 2.0
RUNNING = "STATUS_RUNNING"
STARTING = "STATUS_STARTING"


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

    def to_json(self) -> Json:
        return asdict(self)


@dataclass
class Logged:
    """One request as the emulator saw it (never its Authorization header)."""

    method: str
    path: str
    query: dict[str, list[str]]
    idempotency_key: str | None
    body: Any = None  # the parsed JSON body, the raw text if it was not JSON, None if empty
    status: int | None = None  # None: the connection was dropped

    def to_json(self) -> Json:
        return asdict(self)


class State:
    """The emulated API's data. Tests in the same process may read and change it, under `lock`."""

    def __init__(self, api_key: str = DEFAULT_API_KEY, seed: int = 0, *, manual_clock: bool = True,
                 allocate_after: float = 1.0, boot_after: float = 1.0, sandboxes: Sandboxes | None = None) -> None:
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
        self.ssh_destination = "127.0.0.1:22"  # what instances report when there are no sandboxes
        self.manual_clock = manual_clock
        self.allocate_after = allocate_after
        self.boot_after = boot_after
        self.allocation_paused = False
        self.sandboxes = sandboxes
        self.clock = time.monotonic
        self._boot_threads: list[threading.Thread] = []
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
        """`capacity`: instances the market can run now; `limit`: the most one bid may ask for
        (the region's size, which a temporary shortage set through `set_capacity` does not shrink)."""
        self.markets[(instance_type, region)] = {
            "fid": self.fid("auc"), "instance_type": instance_type, "region": region, "capacity": capacity,
            "limit": capacity, "used": 0, "price_cents": price_cents, "minimum_cents": minimum_cents,
        }

    def free(self, market: Json) -> int:
        return max(0, int(market["capacity"]) - int(market["used"]))

    def project_fid(self, name: str) -> str:
        return next(fid for fid, p in self.projects.items() if p["name"] == name)

    def instance_type_fid(self, name: str) -> str:
        return next(fid for fid, t in self.instance_types.items() if name in (fid, t["name"]))

    def set_capacity(self, instance_type: str, region: str, capacity: int, *, price_cents: int | None = None,
                     minimum_cents: int | None = None) -> Json:
        """Change what a market can run from now on (0: no bid is allocated there until raised)."""
        with self.lock:
            fids = [fid for fid, t in self.instance_types.items() if instance_type in (fid, t["name"])]
            market = self.markets.get((fids[0], region)) if fids else None
            if market is None:
                raise ApiError(404, f"No spot market for instance type {instance_type} in region {region}")
            market["capacity"] = capacity
            market["limit"] = max(market["limit"], capacity)
            if price_cents is not None:
                market["price_cents"] = price_cents
            if minimum_cents is not None:
                market["minimum_cents"] = minimum_cents
            return {**market, "free": self.free(market)}

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

    # -- the manual clock -------------------------------------------------------------------------

    def advance(self, steps: int = 1) -> None:
        """Move time on by `steps`: Open bids that can be served are Allocated, each instance goes one
        step along NEW -> CONFIRMED -> INITIALIZING -> STARTING -> RUNNING, preempting bids end
        (whatever their grace). With sandboxes, a step that reaches RUNNING boots them before returning."""
        for _ in range(steps):
            booting: list[str] = []
            with self.lock:
                waiting = [b for b in sorted(self.bids.values(), key=lambda b: b["_seq"]) if b["status"] == "Open"]
                for bid in list(self.bids.values()):
                    if bid["status"] == "Preempting":
                        self._end_preemption(bid)
                for inst in self.instances.values():
                    status = inst["status"]
                    if status in BOOT_SEQUENCE[:-1] and not inst.get("_starting"):
                        following = BOOT_SEQUENCE[BOOT_SEQUENCE.index(status) + 1]
                        if following != RUNNING:
                            inst["status"] = following
                        elif self._reach_running(inst):
                            booting.append(inst["fid"])
                if not self.allocation_paused:
                    for bid in waiting:  # a bid reopened by this step's preemption waits for the next
                        if bid["status"] == "Open":
                            self._try_allocate(bid)
            for fid in booting:
                self.boot_instance(fid)

    # -- the real clock ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply what the real clock says is due: preemptions whose grace ran out, boot progress,
        allocation of bids that have waited `allocate_after`. Sandboxes boot in their own threads."""
        now = self.clock()
        booting: list[str] = []
        with self.lock:
            for bid in list(self.bids.values()):
                if bid["status"] == "Preempting" and now >= bid["_preempt_end"]:
                    self._end_preemption(bid)
            for inst in self.instances.values():
                status = inst["status"]
                if status not in BOOT_SEQUENCE[:-1] or inst.get("_starting"):
                    continue
                last = len(BOOT_SEQUENCE) - 1
                progress = 1.0 if self.boot_after <= 0 else (now - inst["_created"]) / self.boot_after
                stage = min(last, int(last * progress))
                if stage < last:
                    inst["status"] = BOOT_SEQUENCE[max(stage, BOOT_SEQUENCE.index(status))]
                elif self._reach_running(inst):
                    booting.append(inst["fid"])
            if not self.allocation_paused:
                for bid in sorted(self.bids.values(), key=lambda b: b["_seq"]):
                    if bid["status"] == "Open" and now - bid["_open_since"] >= self.allocate_after:
                        self._try_allocate(bid)
        if self.sandboxes is not None:
            self.sandboxes.reap()
        for fid in booting:
            thread = threading.Thread(target=self.boot_instance, args=(fid,), name=f"boot-{fid}", daemon=True)
            thread.start()
            self._boot_threads = [t for t in self._boot_threads if t.is_alive()] + [thread]

    def join_boots(self, timeout: float = 30.0) -> None:
        """Wait (bounded) for sandboxes being booted, so a shutdown can stop what they start."""
        deadline = time.monotonic() + timeout
        for thread in list(self._boot_threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- lifecycle steps (under the lock) -----------------------------------------------------------

    def _try_allocate(self, bid: Json) -> None:
        market = self.markets[(bid["instance_type"], bid["region"])]
        if bid["_limit_cents"] < market["price_cents"] or self.free(market) < bid["instance_quantity"]:
            return  # stays Open: outbid, or no capacity yet
        market["used"] += bid["instance_quantity"]
        bid["status"] = "Allocated"
        bid["instances"] = []
        for index in range(bid["instance_quantity"]):
            fid = self.fid("inst")
            self.instances[fid] = {
                "fid": fid, "name": f"{bid['name']}-{index}", "project": bid["project"], "created_at": now_iso(),
                "created_by": self.user, "instance_type": bid["instance_type"], "region": bid["region"],
                "bid": bid["fid"], "reservation": None, "ssh_destination": None,
                "private_ip": f"10.0.{len(self.instances) // 250}.{len(self.instances) % 250 + 2}",
                "status": "STATUS_NEW", "_seq": self.seq(), "_created": self.clock(),
            }
            if self.sandboxes is not None:
                self.instances[fid]["_sandbox"] = str(self.sandboxes.create(fid).dir)
            bid["instances"].append(fid)

    def _reach_running(self, inst: Json) -> bool:
        """An instance whose boot time is over: RUNNING at once without sandboxes; with them it stays
        STARTING until its sandbox is up (True: the caller must call `boot_instance`)."""
        if self.sandboxes is None:
            inst["status"], inst["ssh_destination"] = RUNNING, self.ssh_destination
            return False
        inst["status"], inst["_starting"] = STARTING, True
        return True

    def boot_instance(self, fid: str) -> None:
        """Start an instance's sandbox (outside the lock: sshd and ssh-keygen take a while), then
        report it RUNNING, unless it was cancelled or preempted meanwhile: then stop what started."""
        from flowslurm.emulator.sandbox import SandboxStopped

        assert self.sandboxes is not None
        with self.lock:
            inst = self.instances[fid]
            bid = self.bids[inst["bid"]]
            keys = self.authorized_keys(bid)
            script = bid["launch_specification"]["startup_script"]
        try:
            box = self.sandboxes.start(fid, keys, script)
        except SandboxStopped:
            box = None
        except Exception:
            self.internal_errors.append(traceback.format_exc())
            box = None
        with self.lock:
            inst["_starting"] = False
            if box is not None and inst["status"] == STARTING and not self.stopping.is_set():
                inst.update(status=RUNNING, ssh_destination=f"127.0.0.1:{box.port}", _ssh_port=box.port,
                            _sshd_pid=box.sshd_pid, _script_pid=box.script_pid)
                return
            if box is None and inst["status"] == STARTING:
                inst["status"] = "STATUS_ERROR"
        self.sandboxes.stop_later(fid)

    def authorized_keys(self, bid: Json) -> list[str]:
        """The bid's SSH keys, plus the project's required keys (Mithril adds those to every instance)."""
        wanted = list(bid["launch_specification"]["ssh_keys"])
        wanted += [fid for fid, k in self.ssh_keys.items() if k["required"] and k["project"] == bid["project"]]
        return [self.ssh_keys[fid]["public_key"] for fid in dict.fromkeys(wanted) if fid in self.ssh_keys]

    def preempt(self, bid_fid: str, grace_s: float | None = None) -> Json:
        """Start preempting an Allocated bid: its instances are STATUS_PREEMPTING now, each sandbox
        gets /opt/mithril/MITHRIL_SIGNAL.yml; after `grace_s` (real clock) or on the next `advance`
        (manual clock) they are STATUS_PREEMPTED, their sandboxes are killed and the bid is Open again.
        A multi-instance bid is all or nothing, so it is always preempted whole."""
        grace = DEFAULT_GRACE_S if grace_s is None else grace_s
        with self.lock:
            bid = self.bids.get(bid_fid)
            if bid is None:
                raise ApiError(404, "Bid not found")
            if bid["status"] != "Allocated":
                raise ApiError(409, f"Bid {bid_fid} is {bid['status']}; only an Allocated bid can be preempted")
            end = datetime.now(timezone.utc) + timedelta(seconds=grace)
            bid["status"], bid["_preempt_end"] = "Preempting", self.clock() + grace
            for fid in bid["instances"]:
                self.instances[fid]["status"] = "STATUS_PREEMPTING"
                if self.sandboxes is not None:
                    self.sandboxes.signal_preemption(fid, end.strftime("%Y-%m-%dT%H:%M:%SZ"))
            return {"bid": bid_fid, "instances": list(bid["instances"]), "end_time": end.isoformat()}

    def _end_preemption(self, bid: Json) -> None:
        for fid in bid["instances"]:
            self.instances[fid]["status"] = "STATUS_PREEMPTED"
        self.release(bid, keep_status=True)
        bid["status"], bid["_open_since"] = "Open", self.clock()

    def release(self, bid: Json, keep_status: bool = False, final: str = "STATUS_TERMINATED") -> None:
        """Give a bid's instances back to the market and stop their sandboxes."""
        if bid["instances"]:
            self.markets[(bid["instance_type"], bid["region"])]["used"] -= len(bid["instances"])
        for fid in bid["instances"]:
            if not keep_status:
                self.instances[fid]["status"] = final
            if self.sandboxes is not None:
                self.sandboxes.stop_later(fid)
        bid["instances"] = []

    # -- views ------------------------------------------------------------------------------------

    def live_bids(self) -> list[Json]:
        with self.lock:
            return [public(b) for b in self.bids.values() if b["status"] != "Terminated"]

    def requests_to(self, method: str, path: str) -> list[Logged]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def snapshot(self) -> Json:
        """Bids, instances and markets with their internal fields, for /_emulator/state."""
        with self.lock:
            instances = []
            for inst in self.instances.values():
                extra = self.sandboxes.describe(inst["fid"]) if self.sandboxes is not None else {}
                instances.append({**inst, **extra})
            return {
                "bids": [dict(b) for b in self.bids.values()],
                "instances": instances,
                "markets": [{**m, "free": self.free(m)} for m in self.markets.values()],
                "allocation_paused": self.allocation_paused,
                "manual_clock": self.manual_clock,
                "allocate_after": self.allocate_after,
                "boot_after": self.boot_after,
                "ssh_user": self.sandboxes.ssh_user if self.sandboxes is not None else None,
                "instances_dir": str(self.sandboxes.dir) if self.sandboxes is not None else None,
                "faults": [f.to_json() for f in self.faults if f.times > 0],
                "internal_errors": list(self.internal_errors),
            }
