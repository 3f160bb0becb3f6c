"""Task: a handle on one job in the ledger, whichever front door submitted it.

A Task reads the ledger (and, for a cloud job, its `cloud` row: bid, instance, address, price) and
never caches more than one snapshot: `refresh()` reads again, `wait()` polls. It holds the job id,
not a connection, so a Task can be kept, pickled or passed between threads. Methods that reach a
machine (`shell`, `get_instances`) live in flowslurm.api.remote_access and are imported only when
called; this module is what `flow status` imports, so it stays free of pydantic and the network.
"""

from __future__ import annotations

import os
import time

from flowslurm.api import lookup
from flowslurm.api.errors import TaskFailedError, TaskNotFoundError, TimeoutError
from flowslurm.api.status import TERMINAL, TaskStatus, from_slurm
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime
    from typing import Any

    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job

__all__ = ["Instance", "Task", "User", "load_task", "load_tasks"]

# Columns of the cloud row a Task shows.
_CLOUD = ("bid", "bid_live", "instance", "instance_status", "ssh_destination", "instance_type", "region",
          "price_per_hour")
WELL_KNOWN_PORTS = {8888: "jupyter", 6006: "tensorboard", 8265: "ray", 7860: "gradio", 8501: "streamlit",
                    8000: "http", 8080: "http", 5000: "http", 22: "ssh"}
WAIT_POLL_FIRST_S = 0.02
WAIT_POLL_MAX_S = 1.0
ENDPOINT_WAIT_S = 900.0


class Instance(FrozenRecord):
    """One machine a task runs on (`get_instances()`)."""

    __slots__ = ("instance_id", "public_ip", "private_ip", "status", "ssh_port", "node")

    def __init__(self, instance_id: str, public_ip: str | None, private_ip: str | None, status: str,
                 ssh_port: int | None = None, node: int = 0) -> None:
        for name, value in zip(self.__slots__, (instance_id, public_ip, private_ip, status, ssh_port, node)):
            object.__setattr__(self, name, value)

    if TYPE_CHECKING:
        instance_id: str
        public_ip: str | None
        private_ip: str | None
        status: str
        ssh_port: int | None
        node: int


class User(FrozenRecord):
    """Who submitted a task (`get_user()`)."""

    __slots__ = ("user_id", "username", "email")

    def __init__(self, user_id: str, username: str, email: str | None) -> None:
        object.__setattr__(self, "user_id", user_id)
        object.__setattr__(self, "username", username)
        object.__setattr__(self, "email", email)

    if TYPE_CHECKING:
        user_id: str
        username: str
        email: str | None


def _cloud_rows(ledger: Ledger, job_ids: list[int]) -> dict[int, dict[str, Any]]:
    from flowslurm.engine.ledger import CLOUD_COST_SQL

    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(job_ids), 900):
        chunk = job_ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        try:
            rows = ledger.conn.execute(
                f"SELECT job_id, {', '.join(_CLOUD)}, {CLOUD_COST_SQL} FROM cloud WHERE job_id IN ({marks})",
                chunk).fetchall()
        except Exception:  # a ledger from before cloud jobs existed: no cloud rows
            return out
        for row in rows:
            out[row[0]] = dict(zip((*_CLOUD, "cost"), row[1:]))
    return out


class Task:
    """A submitted task: its identity, status and costs as last read, and what can be done to it.

    `task_id` is "task-12" (`job_id` 12 is what squeue and sacct show); both forms, and the task's
    name, are accepted wherever a task is named."""

    def __init__(self, job: Job, cloud: dict[str, Any] | None = None, home: str | None = None) -> None:
        self._home = home
        self._set(job, cloud)

    def _set(self, job: Job, cloud: dict[str, Any] | None) -> None:
        self._job = job
        self._cloud = cloud or {}

    # ---- identity -----------------------------------------------------------------------------

    @property
    def job_id(self) -> int:
        """The SLURM job id (an array task not started yet: its array's id)."""
        from flowslurm.engine.model import raw_id

        return raw_id(self._job.job_id, self._job.array_job_id)

    @property
    def slurm_job_id(self) -> str:
        """The id as squeue shows it: "12" or "12_3"."""
        return self._job.display_id

    @property
    def task_id(self) -> str:
        return lookup.task_id_of(self.job_id, self._job.array_job_id, self._job.array_task_id)

    @property
    def name(self) -> str:
        return self._job.name

    @property
    def backend(self) -> str:
        """"local" or the cloud provider's name ("mithril")."""
        return self._job.provider

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self._job.spec or {})

    @property
    def _flow(self) -> dict[str, Any]:
        value = (self._job.spec or {}).get("flow_task")
        return value if isinstance(value, dict) else {}

    # ---- state --------------------------------------------------------------------------------

    @property
    def slurm_state(self) -> str:
        return self._job.state

    @property
    def status(self) -> str:
        """One of TaskStatus's strings: pending, provisioning, running, paused, preempted,
        completed, failed, cancelled."""
        return from_slurm(self._job.state)

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def message(self) -> str:
        """Why the task is where it is: SLURM's pending reason, or how it ended."""
        job = self._job
        if job.state == "PENDING":
            return job.reason if job.reason != "None" else "waiting to start"
        if job.state == "TIMEOUT":
            return "time limit reached (max_run_time_hours)"
        if job.state in ("COMPLETED", "FAILED") and job.exit_code is not None:
            return f"exit code {job.exit_code}" + (f", signal {job.exit_signal}" if job.exit_signal else "")
        if job.state == "NODE_FAIL":
            return "the instance ended before the task did"
        if job.state == "CONFIGURING":
            return "instance booting"
        if job.state in ("RUNNING", "COMPLETING"):
            return f"on {job.node_list}" if job.node_list else "running"
        return job.state.lower()

    @property
    def exit_code(self) -> int | None:
        return self._job.exit_code

    # ---- times --------------------------------------------------------------------------------

    @staticmethod
    def _when(stamp: float | None) -> datetime | None:
        if stamp is None:
            return None
        from datetime import datetime, timezone

        return datetime.fromtimestamp(stamp, tz=timezone.utc)

    @property
    def submitted(self) -> float:
        """Submission time as POSIX seconds (created_at as a number)."""
        return float(self._job.submit_time)

    @property
    def created_at(self) -> datetime:
        return self._when(self._job.submit_time)  # type: ignore[return-value]

    @property
    def started_at(self) -> datetime | None:
        return self._when(self._job.start_time)

    @property
    def completed_at(self) -> datetime | None:
        return self._when(self._job.end_time) if self.is_terminal else None

    # ---- resources and cost -------------------------------------------------------------------

    @property
    def instance_type(self) -> str:
        """What the task asked for ("a100", "8xh100"; "local" on this machine); the cloud's own
        instance type name is `instance_type_name`."""
        if self.backend == "local":  # without reading the spec: `flow status` lists many
            return "local"
        placed = (self._job.spec or {}).get("placement") or {}
        return str(self._flow.get("instance_type") or self._cloud.get("instance_type")
                   or placed.get("instance_type_name") or "")

    @property
    def instance_type_name(self) -> str | None:
        placed = (self._job.spec or {}).get("placement") or {}
        return self._cloud.get("instance_type") or placed.get("instance_type_name")

    @property
    def num_instances(self) -> int:
        return int(self._job.nodes or 1)

    @property
    def region(self) -> str | None:
        placed = (self._job.spec or {}).get("placement") or {}
        return self._cloud.get("region") or placed.get("region")

    @property
    def cost_per_hour(self) -> float:
        """Dollars per hour the task's machines cost now (0.0 on this machine, or before a bid)."""
        price = self._cloud.get("price_per_hour")
        if price is not None:
            return float(price)
        placed = (self._job.spec or {}).get("placement") or {}
        cents = placed.get("spot_price_cents")
        return round(cents * int(placed.get("instance_quantity") or 1) / 100.0, 2) if cents else 0.0

    @property
    def total_cost(self) -> float:
        return round(float(self._cloud.get("cost") or 0.0), 2)

    @property
    def log_path(self) -> str:
        return self._job.stdout

    @property
    def work_dir(self) -> str:
        return self._job.work_dir

    # ---- access -------------------------------------------------------------------------------

    @property
    def ssh_destination(self) -> str | None:
        """"host:port" of the (first) instance, once it has one."""
        return self._cloud.get("ssh_destination") or None

    @property
    def shell_command(self) -> str | None:
        """A command line that opens a shell where the task runs (None until a cloud task's
        instance has an address)."""
        from flowslurm.api import remote_access

        return remote_access.shell_command(self)

    @property
    def endpoints(self) -> dict[str, str]:
        """URLs of the task's `ports`, by port number and by the usual service on it
        (`endpoints["jupyter"]` for 8888). For a cloud task still booting this waits (bounded)
        until its instance has an address."""
        return self._endpoints(wait=True)

    def _endpoints(self, wait: bool) -> dict[str, str]:
        ports = [int(p) for p in self._flow.get("ports") or []]
        if not ports:
            return {}
        host = "localhost"
        if self.backend != "local":
            if wait and not self.ssh_destination and not self.is_terminal:
                self._await_address()
            dest = self.ssh_destination
            if not dest:
                return {}
            host = dest.rsplit(":", 1)[0] if dest.count(":") == 1 else dest
        out: dict[str, str] = {}
        for port in ports:
            url = f"http://{host}:{port}"
            out[str(port)] = url
            service = WELL_KNOWN_PORTS.get(port)
            if service and service not in out:
                out[service] = url
        return out

    def _await_address(self, timeout: float = ENDPOINT_WAIT_S) -> None:
        """Wait (bounded) until a cloud task's instance has an address: its endpoints are URLs one
        can open, so asking for them waits for the machine, as `flow run` waits for it to start."""
        deadline = time.monotonic() + timeout
        delay = WAIT_POLL_FIRST_S
        while not self.ssh_destination and not self.is_terminal:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {self.task_id} has no address after {timeout:g} s (it is {self.status})",
                                   [f"`flow status {self.task_id}` shows where it is"])
            time.sleep(delay)
            delay = min(delay * 1.5, WAIT_POLL_MAX_S)
            self.refresh()

    # ---- reading again ------------------------------------------------------------------------

    def _ledger(self) -> Ledger:
        from flowslurm.engine.ledger import Ledger

        return Ledger.open(self._home)

    def refresh(self) -> Task:
        """Read the task's row again; returns the task."""
        ledger = self._ledger()
        try:
            job = ledger.job(self._job.job_id)
            if job is None and self._job.array_job_id is not None:  # a task that started has a new id
                row = ledger.conn.execute("SELECT job_id FROM jobs WHERE array_job_id = ? AND array_task_id = ?",
                                          (self._job.array_job_id, self._job.array_task_id)).fetchone()
                job = ledger.job(row[0]) if row else None
            if job is None:
                raise TaskNotFoundError(f"task {self.task_id} is no longer in the ledger")
            self._set(job, _cloud_rows(ledger, [job.job_id]).get(job.job_id))
        finally:
            ledger.close()
        return self

    def wait(self, timeout: float | None = None, *, check: bool = False) -> str:
        """Block until the task ends (or `timeout` seconds pass: flow.errors.TimeoutError, the task
        keeps running). Returns the final status; with `check`, a task that did not complete
        raises TaskFailedError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = WAIT_POLL_FIRST_S
        while True:
            self.refresh()
            if self.is_terminal:
                break
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {self.task_id} is still {self.status} after {timeout:g} s",
                                   [f"It keeps running: `flow status {self.task_id}`, or task.cancel() to stop it"])
            pause = delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic()))
            time.sleep(pause)
            delay = min(delay * 1.5, WAIT_POLL_MAX_S)
        if check and self.status != TaskStatus.COMPLETED:
            raise TaskFailedError(f"task {self.task_id} ({self.name}) ended {self.status}: {self.message}",
                                  [f"`flow logs {self.task_id}` shows its output"])
        return self.status

    def cancel(self) -> bool:
        """Stop the task (idempotent). True if it was still live and is now being cancelled."""
        from flowslurm.engine.submit import cancel

        ledger = self._ledger()
        try:
            touched = cancel(ledger, [self._job.job_id], os.getuid(), home=self._home)
        finally:
            ledger.close()
        self.refresh()
        return bool(touched)

    # ---- output -------------------------------------------------------------------------------

    def logs(self, tail: int | None = None, follow: bool = False, *, poll_s: float = 0.2) -> Any:
        """The task's output (stdout and stderr together, as SLURM writes them by default).

        `logs()` is all of it as a string, `logs(tail=100)` the last 100 lines. `logs(follow=True)`
        is an iterator of lines (without newlines) that keeps reading as the task writes and ends
        when the task has ended and everything is read."""
        from flowslurm.api import logs

        if follow:
            return logs.follow(self, tail=tail, poll_s=poll_s)
        return logs.read(self._job.stdout, tail=tail, other=self._job.stderr)

    def stream_logs(self, tail: int | None = None) -> Iterator[str]:
        return self.logs(tail=tail, follow=True)  # type: ignore[no-any-return]

    # ---- machines -----------------------------------------------------------------------------

    def shell(self, command: str | None = None, node: int | None = None, *, capture: bool = False) -> Any:
        """Run `command` where the task runs (its working directory; on its instance for a cloud
        task) and return its exit status, or open an interactive shell there when `command` is
        None. With `capture`, return (status, stdout, stderr) instead of printing."""
        from flowslurm.api import remote_access

        return remote_access.shell(self, command, node=node, capture=capture)

    def get_instances(self) -> list[Instance]:
        from flowslurm.api import remote_access

        return remote_access.instances(self)

    def get_user(self) -> User:
        from flowslurm.api import remote_access

        return remote_access.user(self)

    # ---- presentation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (what `flow status --json` prints per task)."""
        def stamp(value: float | None) -> str | None:
            return None if value is None else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(value))

        job = self._job
        return {
            "task_id": self.task_id, "job_id": self.slurm_job_id, "name": self.name, "status": self.status,
            "slurm_state": job.state, "message": self.message, "backend": self.backend,
            "instance_type": self.instance_type, "num_instances": self.num_instances, "region": self.region,
            "created_at": stamp(job.submit_time), "started_at": stamp(job.start_time),
            "completed_at": stamp(job.end_time) if self.is_terminal else None, "exit_code": job.exit_code,
            "cost_per_hour": self.cost_per_hour, "total_cost": self.total_cost, "log_path": job.stdout,
            "work_dir": job.work_dir, "ssh_destination": self.ssh_destination, "endpoints": self._endpoints(wait=False),
        }

    def __repr__(self) -> str:
        return f"Task(task_id={self.task_id!r}, name={self.name!r}, status={self.status!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other._job.job_id == self._job.job_id and other._home == self._home

    def __hash__(self) -> int:
        return hash((self._job.job_id, self._home))


def load_task(ref: str | int, home: str | None = None, ledger: Ledger | None = None) -> Task:
    """The task `ref` names (see flowslurm.api.lookup)."""
    from flowslurm.engine.ledger import Ledger

    own = ledger is None
    ledger = ledger or Ledger.open(home)
    try:
        job_id = lookup.resolve(ledger, str(ref))
        job = ledger.job(job_id)
        if job is None:
            raise TaskNotFoundError(f"no task {ref!r}")
        return Task(job, _cloud_rows(ledger, [job_id]).get(job_id), home)
    finally:
        if own:
            ledger.close()


def load_tasks(home: str | None = None, *, statuses: list[str] | None = None, name: str | None = None,
               limit: int | None = None, ledger: Ledger | None = None) -> list[Task]:
    """Tasks newest first, optionally only those with a Flow status in `statuses`, or named `name`
    (a shell glob: "dev-*")."""
    from flowslurm.api.status import SLURM_STATES
    from flowslurm.engine.ledger import Ledger

    own = ledger is None
    ledger = ledger or Ledger.open(home)
    try:
        where, params = ["1"], []
        if statuses:
            states = [s for status in statuses for s in SLURM_STATES.get(status, ())]
            where.append(f"state IN ({','.join('?' * len(states)) or 'NULL'})")
            params += states
        if name:
            where.append("name GLOB ?")
            params.append(name)
        order = lookup.LIST_ORDER + ("" if limit is None else f" LIMIT {int(limit)}")
        jobs = ledger.jobs(" AND ".join(where), params, with_spec=True, order=order)
        cloud = _cloud_rows(ledger, [j.job_id for j in jobs if j.provider != "local"])
        return [Task(job, cloud.get(job.job_id), home) for job in jobs]
    finally:
        if own:
            ledger.close()
