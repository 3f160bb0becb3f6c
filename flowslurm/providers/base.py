"""The contract between the engine and a remote provider (a cloud that runs jobs elsewhere).

The local provider is the engine's own (processes on this machine, driven by shepherds). A remote
provider runs a job on machines it rents; the engine keeps the job's SLURM life (ids, states,
dependencies, throttles, requeue) in the ledger and asks the provider, through this contract only:

- `place(spec)` at submit time: choose where the job would run, or refuse it with SLURM's message
  (a `SubmitError`). May use the network (through a short-lived cache); never creates anything.
- `start(job)` when the job may run: ask for machines (a spot bid); returns a `Handle` at once,
  without waiting for them. Idempotent by `job.start_key`: a retry after a crash finds what the first
  call created, never creates a second.
- `poll(handles)` in batches: what became of each; the cost of one call does not grow per job.
- `cancel(handle)`: give the machines back. Idempotent; safe on something already gone.
- `shepherd_module`: the module the engine starts (`python -m MODULE JOB_ID TOKEN LOCK_FD`, as for
  local jobs) once `poll` says the machines are ready; it moves the job there, runs it, streams its
  output files home and records how it ended.

Each call may raise `flowslurm.errors.ProviderError` (the provider's own errors translated); the
engine then leaves the job as it was and tries again on a later pass.
"""

from __future__ import annotations

import os

from flowslurm.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, Protocol

    from flowslurm.engine.model import Job
    from flowslurm.engine.spec import JobSpec

# Where a job's machines are, as `poll` reports it.
WAITING = "waiting"  # asked for, none granted yet (a spot bid still Open)
BOOTING = "booting"  # granted, starting up
READY = "ready"  # up and reachable: time to start the shepherd
PREEMPTED = "preempted"  # taken back by the provider (spot preemption) while the job held them
GONE = "gone"  # ended without us (cancelled elsewhere, failed, terminated)


class Handle(Record):
    """What a provider holds for one run of a job; the engine keeps it in the ledger's `cloud` row."""

    __slots__ = ("job_id", "ref", "name", "instance", "destination", "price_per_hour", "instance_type", "region",
                 "key_ref")

    def __init__(self, job_id: int, ref: str | None, name: str, instance: str | None = None,
                 destination: str | None = None, price_per_hour: float | None = None,
                 instance_type: str | None = None, region: str | None = None, key_ref: str | None = None) -> None:
        self.job_id = job_id
        self.ref = ref  # the provider's id for what it created (a bid fid)
        self.name = name  # the name it was created under (the idempotency key)
        self.instance = instance
        self.destination = destination  # where to reach it (host:port for SSH)
        self.price_per_hour = price_per_hour
        self.instance_type = instance_type
        self.region = region
        self.key_ref = key_ref  # a credential made for this run (revoked by cancel)


class Observation(Record):
    """One handle's state after a poll."""

    __slots__ = ("phase", "instance", "destination", "status", "price_per_hour")

    def __init__(self, phase: str, instance: str | None = None, destination: str | None = None, status: str = "",
                 price_per_hour: float | None = None) -> None:
        self.phase = phase
        self.instance = instance
        self.destination = destination
        self.status = status  # the provider's own word, for `scontrol show job` and logs
        self.price_per_hour = price_per_hour


class Placement(Record):
    """Where a job would run and what it would cost; kept in the job's spec at submit."""

    __slots__ = ("partition", "summary", "details")

    def __init__(self, partition: str, summary: list[str], details: Mapping[str, Any]) -> None:
        self.partition = partition  # the partition squeue shows
        self.summary = summary  # lines `sbatch --test-only` prints
        self.details = dict(details)  # JSON-able: what `start` needs (instance type, region, limit price...)


class StartJob(Record):
    """What `start` gets: the job's ledger row, its script snapshot, and the key that makes a
    repeated start find the first one's result."""

    __slots__ = ("job", "script", "argv", "environ", "start_key")

    def __init__(self, job: Job, script: str, argv: list[str], environ: dict[str, str], start_key: str) -> None:
        self.job = job
        self.script = script
        self.argv = argv
        self.environ = environ
        self.start_key = start_key


if TYPE_CHECKING:
    class RemoteProvider(Protocol):
        name: str
        shepherd_module: str

        def place(self, spec: JobSpec) -> Placement: ...
        def start(self, job: StartJob) -> Handle: ...
        def poll(self, handles: Sequence[Handle]) -> dict[int, Observation]: ...
        def cancel(self, handle: Handle) -> None: ...
        def close(self) -> None: ...


# Remote providers by name, imported only when a job needs one.
REMOTE = {"mithril": "flowslurm.providers.mithril.provider"}


def remote(name: str) -> RemoteProvider:
    """The remote provider called `name` (its module's `provider()`), configured from the settings."""
    import importlib

    module = importlib.import_module(REMOTE[name])
    return module.provider()  # type: ignore[no-any-return]


def choose_backend(script: str, partition: str | None, environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The backend a batch job runs on ("local" or a remote provider's name) and its `#FLOW`
    settings. Without a #FLOW line, a partition, FLOWSLURM_BACKEND or a config file, it is the
    local backend, decided without reading anything."""
    from flowslurm import config

    if ("#FLOW" not in script and not partition and not environ.get("FLOWSLURM_BACKEND")
            and not os.path.exists(config.config_path(environ))):
        return "local", {}
    from flowslurm.providers.mithril import settings

    directives = settings.flow_directives(script)
    return settings.choose_backend(partition, directives, settings.load_settings(environ)), directives
