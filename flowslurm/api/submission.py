"""From a TaskConfig to a job in the ledger: the same JobSpec and the same engine call as sbatch.

`build_spec` turns a task into the values sbatch would have parsed (`--job-name`, `--time`,
`--nodes`, `--gpus-per-node`, `--chdir`, `--output`) and lets `flowslurm.slurm.sbatch_spec.build`
check them and make the JobSpec, so a task and `sbatch --wrap` differ only in what they say, never
in how the engine sees them. Flow's own settings ride in `spec.extra`: `flow` (the #FLOW keys:
instance type, price cap, region, image, upload-code, which the Mithril provider reads), and
`flow_task` (what `flow status` shows: the instance type as written, ports, volumes, mounts).

`place_and_submit` is the tail sbatch also runs: placement for a cloud job, the submitter's umask
and host, then `engine.submit.submit`. (sbatch could call it instead of its own copy.)
"""

from __future__ import annotations

import math
import os

from flowslurm.api.cloud import CLOUD, translated
from flowslurm.api.errors import ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from flowslurm.api.config import TaskConfig, VolumeSpec
    from flowslurm.engine.model import Job
    from flowslurm.engine.spec import JobSpec
    from flowslurm.providers.base import Placement
    from flowslurm.providers.mithril.provider import MithrilProvider

__all__ = ["Plan", "build_spec", "log_pattern", "place_and_submit", "submit_config"]


class Plan:
    """What a submission would do (`dry_run=True`): the JobSpec, the backend, and for a cloud task
    the placement's summary lines (instance type, region, prices). Nothing was created."""

    def __init__(self, spec: JobSpec, backend: str, summary: list[str]) -> None:
        self.spec = spec
        self.backend = backend
        self.summary = summary

    def __repr__(self) -> str:
        return f"Plan(backend={self.backend!r}, name={self.spec.name!r}, summary={self.summary!r})"


def log_pattern(backend: str = "local", work_dir: str = "") -> str:
    """Where Flow tasks write their output: one file per task under the flowslurm home, so a task
    leaves nothing in the directory it was started from (sbatch jobs keep slurm-%j.out). A cloud
    task's output is streamed home to the same place."""
    from flowslurm import config

    folder = os.path.join(config.home_dir(), "logs")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return os.path.join(folder, "task-%j.log")


def _minutes(hours: float) -> int:
    return max(1, math.ceil(hours * 60 - 1e-9))


def build_spec(config: TaskConfig, *, cwd: str | None = None, environ: Mapping[str, str] | None = None,
               origin: str = "python", mounts: list[dict[str, str]] | None = None) -> tuple[JobSpec, str]:
    """(JobSpec, backend) for a task; nothing is created. Raises ValidationError."""
    import time

    from flowslurm.api import script
    from flowslurm.slurm import sbatch_spec
    from flowslurm.slurm.jobenv import job_user

    cwd = os.path.abspath(cwd or os.getcwd())
    backend = config.backend
    request = config.instance_request()
    if backend == "local":
        if config.volumes:
            raise ValidationError("volumes need a cloud instance type: a local task sees this machine's files",
                                  ["Give an instance_type (e.g. a100), or drop volumes"])
        if mounts:
            raise ValidationError("mounts need a cloud instance type (gpu=...)",
                                  ["Give gpu= or instance_type=, or read the data from this machine"])
        if config.command is None:
            raise ValidationError("a task on this machine needs a command",
                                  ['e.g. flow run "python train.py"; with an instance type and no command the '
                                   "instance stays up for `flow ssh` (flow run -i h100 --name dev-box)"])
        work_dir = script.local_work_dir(config.working_dir, cwd)
        if not os.path.isdir(work_dir):
            raise ValidationError(f"working_dir {config.working_dir!r} is not a directory here ({work_dir})")
        text = script.task_script(config.command, name=config.name)
    else:
        work_dir = cwd
        text = script.task_script(config.command, name=config.name, cd=script.cloud_cd(config.working_dir))
    v: dict[str, Any] = {"job_name": config.name, "chdir": work_dir, "output": log_pattern(backend, work_dir)}
    if config.max_run_time_hours is not None:
        v["time"] = str(_minutes(config.max_run_time_hours))
    if config.num_instances > 1:
        v["nodes"] = str(config.num_instances)
    directives: dict[str, Any] = {}
    if request is not None:
        if request.api_name:
            directives["instance_type"] = request.api_name
        else:
            v["gpus_per_node"] = request.gpus_per_node
        v["partition"] = CLOUD
    if backend == "local" and config.image:
        v["container_image"] = config.image
    env = dict(os.environ if environ is None else environ)
    env.update(config.env)
    env["FLOW_TASK_NAME"] = config.name
    with translated():
        spec = sbatch_spec.build(v, script=text, argv=[], environ=env, cwd=cwd, command=None, user=job_user(),
                                 now=time.time(), provider=backend)
    if backend != "local":
        if config.max_price_per_hour is not None:
            directives["max_price_per_hour"] = float(config.max_price_per_hour)
        if config.region:
            directives["region"] = config.region
        if config.image:
            directives["image"] = config.image
        if not config.upload_code:
            directives["upload_code"] = False
        spec.extra["flow"] = directives
    spec.extra["flow_task"] = {
        "origin": origin, "instance_type": request.name if request else "local", "ports": list(config.ports),
        "image": config.image, "upload_code": config.upload_code, "ssh_keys": list(config.ssh_keys),
        "max_price_per_hour": config.max_price_per_hour, "max_run_time_hours": config.max_run_time_hours,
        "working_dir": config.working_dir, "env_keys": sorted(config.env), "mounts": list(mounts or []),
        "volumes": [vol.model_dump(exclude_none=True) for vol in config.volumes],
    }
    return spec, backend


def _stamp(spec: JobSpec) -> None:
    """What sbatch records of the submitter: its umask and host."""
    mask = os.umask(0o022)
    os.umask(mask)
    spec.extra["umask"] = f"{mask:04o}"
    spec.extra["submit_host"] = os.uname().nodename.split(".")[0]


def place_and_submit(spec: JobSpec, backend: str, *, dry_run: bool = False,
                     provider: MithrilProvider | None = None) -> tuple[list[Job], Placement | None]:
    """Place a cloud job (its provider's `place`), stamp the submitter, and submit. With `dry_run`
    nothing is submitted and the jobs list is empty."""
    from flowslurm.providers import base

    placement = None
    if backend != "local":
        own = provider is None
        p = provider if provider is not None else base.remote(backend)
        try:
            with translated():
                placement = p.place(spec)
        finally:
            if own:
                p.close()
        spec.extra["placement"] = placement.details
        spec.partition = placement.partition
    _stamp(spec)
    if dry_run:
        return [], placement
    from flowslurm.engine.submit import submit

    with translated():
        return submit(spec), placement


def _resolve_volumes(p: MithrilProvider, wanted: list[VolumeSpec], spec: JobSpec) -> list[tuple[VolumeSpec, Any]]:
    """Each volume the task names, found (or None: to be made); pins the task to their region."""
    from flowslurm.api import volumes

    existing = volumes._list(p)
    found: list[tuple[VolumeSpec, Any]] = []
    regions = set()
    for want in wanted:
        match = None
        if want.volume_id is not None:
            match = next((v for v in existing if v.volume_id == want.volume_id), None)
            if match is None:
                raise volumes._not_found(existing, want.volume_id)
        elif want.name is not None:
            match = next((v for v in existing if v.name == want.name), None)  # None: made, as volume:// is
        if match is not None:
            regions.add(match.region)
        found.append((want, match))
    if len(regions) > 1:
        raise ValidationError(f"the task's volumes are in different regions ({', '.join(sorted(regions))})",
                              ["A task's instances and volumes must share one region"])
    if regions:
        region = regions.pop()
        pinned = spec.extra.setdefault("flow", {}).get("region")
        if pinned and pinned != region:
            raise ValidationError(f"the task asks for region {pinned}, its volumes are in {region}")
        spec.extra["flow"]["region"] = region
    return found


def submit_config(config: TaskConfig, *, cwd: str | None = None, environ: Mapping[str, str] | None = None,
                  dry_run: bool = False, origin: str = "python",
                  mounts: list[dict[str, str]] | None = None) -> tuple[list[Job], Plan]:
    """Submit a task; returns the ledger jobs (empty for a dry run) and the plan."""
    spec, backend = build_spec(config, cwd=cwd, environ=environ, origin=origin, mounts=mounts)
    if backend == "local":
        jobs, _ = place_and_submit(spec, backend, dry_run=dry_run)
        return jobs, Plan(spec, backend, [])
    from flowslurm.api import volumes as vols
    from flowslurm.api.cloud import provider, require_key

    with provider() as p:
        require_key(p)
        found = _resolve_volumes(p, list(config.volumes), spec) if config.volumes else []
        jobs, placement = place_and_submit(spec, backend, dry_run=True, provider=p)
        assert placement is not None
        summary = list(placement.summary)
        region = str(placement.details.get("region") or "")
        attached = []
        for want, match in found:
            if match is None:
                summary.append(f"volume {want.name or '(new)'}: {want.size_gb or vols.DEFAULT_SIZE_GB} GB, made in "
                               f"{region} at submit, mounted at {want.mount_path}")
                if not dry_run:
                    match = vols.create_in(p, want.size_gb or vols.DEFAULT_SIZE_GB, want.name, region,
                                           want.interface)
            else:
                summary.append(f"volume {match.name} ({match.volume_id}) mounted at {want.mount_path}")
            if match is not None:
                attached.append({"volume_id": match.volume_id, "name": match.name, "mount_path": want.mount_path,
                                 "interface": match.interface})
        spec.extra["volumes"] = attached
        spec.extra["flow_task"]["volumes"] = attached or spec.extra["flow_task"]["volumes"]
        if dry_run:
            return [], Plan(spec, backend, summary)
        from flowslurm.engine.submit import submit

        with translated():
            jobs = submit(spec)
        return jobs, Plan(spec, backend, summary)
