"""The Flow SDK's entry points: `run`, `get_task`, `list_tasks`, and the `Flow` client.

    task = flow.run("python train.py")                      # this machine (no instance type)
    task = flow.run("python train.py", instance_type="a100")  # a Mithril A100
    task = flow.run(TaskConfig(...)) / flow.run("job.yaml") / flow.run("job.slurm")

Whatever the form, the result is a job in the engine's ledger (see flowslurm.api.submission), so
`squeue` shows it with its SLURM id and `flow.get_task("12")` finds jobs `sbatch` submitted.
"""

from __future__ import annotations

import os

from flowslurm.api.errors import ValidationError
from flowslurm.api.tasks import Task, load_task, load_tasks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Union

    from flowslurm.api.config import TaskConfig
    from flowslurm.api.submission import Plan
    from flowslurm.api.volumes import Volume

    Mounts = Union[str, Mapping[str, str], None]

__all__ = ["Flow", "get_task", "list_tasks", "run"]

DEFAULT_MOUNT = "/data"
YAML_SUFFIXES = (".yaml", ".yml")


def _mounts(mounts: Mounts) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(volume specs, other mounts) from `mounts=`: a source, or {target: source}."""
    if mounts is None:
        return [], []
    table = {DEFAULT_MOUNT: mounts} if isinstance(mounts, str) else dict(mounts)
    volumes: list[dict[str, Any]] = []
    others: list[dict[str, str]] = []
    for target, source in table.items():
        if not isinstance(target, str) or not target.startswith("/"):
            raise ValidationError(f"mount target {target!r} is not an absolute path",
                                  ['Write mounts={"/data": "s3://bucket/path"}'])
        if not isinstance(source, str):
            raise ValidationError(f"mount source for {target} is not a string")
        if source.startswith("volume://"):
            name = source[len("volume://"):].strip("/")
            volumes.append({"name": name, "mount_path": target})
        elif source.startswith("s3://"):
            if len(source) <= len("s3://"):
                raise ValidationError(f"mount source {source!r} names no bucket")
            others.append({"target": target, "source": source, "kind": "s3", "mode": "ro"})
        else:
            raise ValidationError(f"mount source {source!r} is not supported",
                                  ["Use s3://bucket/path (read-only) or volume://name (made with 100 GB if missing)"])
    return volumes, others


def _config(task: str | TaskConfig | None, options: dict[str, Any]) -> TaskConfig:
    from flowslurm.api.config import TaskConfig

    gpu = options.pop("gpu", None)
    if gpu is not None:
        if options.get("instance_type") is not None:
            raise ValidationError("give gpu= or instance_type=, not both")
        options["instance_type"] = gpu
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(task, TaskConfig):
        data = task.model_dump(exclude_unset=True)
        data.update(options)
        return TaskConfig(**data)
    if task is not None:
        options["command"] = task
    return TaskConfig(**options)


def _submit(task: Any, *, wait: bool, dry_run: bool, mounts: Mounts, cwd: str | None, origin: str,
            options: dict[str, Any]) -> Task | Plan:
    from flowslurm.api.submission import submit_config

    if isinstance(task, os.PathLike):
        task = os.fspath(task)
    if isinstance(task, str) and "\n" not in task and task.strip().endswith(YAML_SUFFIXES) \
            and os.path.isfile(os.path.join(cwd or "", task.strip())):
        from flowslurm.api.yamlspec import load_task_file

        task = load_task_file(os.path.join(cwd or "", task.strip()))
    elif isinstance(task, str) and "\n" not in task and task.strip().endswith((".slurm", ".sbatch")) \
            and os.path.isfile(os.path.join(cwd or "", task.strip())):
        from flowslurm.api.slurmfile import submit_slurm

        if mounts is not None:
            raise ValidationError("mounts= does not apply to a SLURM script")
        for key in ("volumes", "ports", "ssh_keys", "num_instances", "working_dir", "command", "region", "gpu"):
            if options.get(key) is not None:
                raise ValidationError(f"{key}= does not apply to a SLURM script: write it as #SBATCH/#FLOW lines")
        job_id, messages = submit_slurm(task.strip(), instance_type=options.get("instance_type"), name=options.get("name"),
                                 env=options.get("env"), max_run_time_hours=options.get("max_run_time_hours"),
                                 max_price_per_hour=options.get("max_price_per_hour"), image=options.get("image"),
                                 upload_code=options.get("upload_code"), dry_run=dry_run, cwd=cwd)
        if job_id is None:
            from flowslurm.api.submission import Plan
            from flowslurm.engine.spec import JobSpec

            return Plan(JobSpec(script=""), "sbatch", messages.splitlines())  # sbatch --test-only's report
        result = load_task(job_id)
        if wait:
            result.wait()
        return result
    if isinstance(task, str) and task.strip().endswith(".py") and not any(c.isspace() for c in task.strip()) \
            and os.path.isfile(os.path.join(cwd or "", task.strip())):
        import shlex

        task = f"python {shlex.quote(task.strip())}"  # the seed's flow.run("train.py", ...): run the script
    volumes, others = _mounts(mounts)
    config = _config(task, options)
    if volumes:
        config = _config(config, {"volumes": [*[v.model_dump(exclude_none=True) for v in config.volumes], *volumes]})
    jobs, plan = submit_config(config, cwd=cwd, dry_run=dry_run, origin=origin, mounts=others)
    if dry_run:
        return plan
    result = load_task(jobs[0].job_id)
    if wait:
        result.wait()
    return result


def run(task: str | TaskConfig | os.PathLike[str] | None = None, *, wait: bool = False, dry_run: bool = False,
        mounts: Mounts = None, cwd: str | None = None, **options: Any) -> Any:
    """Submit a task and return its Task (a Plan with `dry_run=True`).

    `task` is a shell command, a TaskConfig, or the path of a YAML task file or SLURM script.
    `options` are TaskConfig fields (instance_type, name, env, image, volumes, max_price_per_hour,
    max_run_time_hours, upload_code, ports, ...) and override the config's; `gpu="a100:4"` is the
    same as `instance_type="4xa100"`. `wait=True` blocks until the task ends."""
    return _submit(task, wait=wait, dry_run=dry_run, mounts=mounts, cwd=cwd, origin="python", options=options)


def get_task(task_id: str | int) -> Task:
    """The task with this id ("task-12" or 12), name, or `:N` index; jobs from sbatch included."""
    return load_task(task_id)


def list_tasks(status: str | list[str] | None = None, limit: int | None = None, name: str | None = None) -> list[Task]:
    """Tasks, newest first; `status` filters by Flow status ("running", ["failed", "cancelled"]),
    `name` by a shell pattern ("exp-*")."""
    from flowslurm.api.status import TaskStatus

    statuses = [status] if isinstance(status, str) else list(status) if status else None
    for s in statuses or []:
        if s not in TaskStatus.ALL:
            raise ValidationError(f"unknown task status {s!r}", [f"Statuses: {', '.join(TaskStatus.ALL)}"])
    return load_tasks(statuses=statuses, limit=limit, name=name)


class Flow:
    """A client for tasks and volumes; use it as a context manager (`with Flow() as client:`).

    It holds no connection of its own between calls (each cloud call opens and closes one), so it
    is cheap to make and safe to keep."""

    def __init__(self, cwd: str | None = None) -> None:
        self.cwd = cwd
        self._closed = False

    def __enter__(self) -> Flow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"Flow(cwd={self.cwd!r})"

    # ---- tasks --------------------------------------------------------------------------------

    def run(self, task: str | TaskConfig | os.PathLike[str] | None = None, **options: Any) -> Any:
        """`flow.run` (see there), relative to this client's cwd."""
        return run(task, cwd=options.pop("cwd", self.cwd), **options)

    def submit(self, command: str | TaskConfig | None = None, *, gpu: str | None = None, mounts: Mounts = None,
               wait: bool = False, dry_run: bool = False, **options: Any) -> Any:
        """Submit a command (or TaskConfig). `gpu` is "a100", "a100:4", "h100:8"...; `mounts` a
        source ("s3://bucket/path", "volume://name": mounted at /data) or {"/target": source, ...}."""
        if isinstance(command, str):
            command = command.strip("\n")
            if "\n" in command:  # the seed's triple-quoted commands: one shell script
                import textwrap

                command = textwrap.dedent(command).strip()
        return _submit(command, wait=wait, dry_run=dry_run, mounts=mounts, cwd=self.cwd, origin="python",
                       options={**options, "gpu": gpu})

    def get_task(self, task_id: str | int) -> Task:
        return get_task(task_id)

    def list_tasks(self, status: str | list[str] | None = None, limit: int | None = None,
                   name: str | None = None) -> list[Task]:
        return list_tasks(status=status, limit=limit, name=name)

    def cancel(self, task_id: str | int) -> bool:
        return get_task(task_id).cancel()

    def logs(self, task_id: str | int, tail: int | None = None, follow: bool = False) -> Any:
        return get_task(task_id).logs(tail=tail, follow=follow)

    # ---- volumes ------------------------------------------------------------------------------

    def create_volume(self, size_gb: int, name: str | None = None, region: str | None = None,
                      interface: str = "block") -> Volume:
        from flowslurm.api.volumes import create_volume

        return create_volume(size_gb, name, region, interface)

    def list_volumes(self) -> list[Volume]:
        from flowslurm.api.volumes import list_volumes

        return list_volumes()

    def delete_volume(self, volume: str) -> Volume:
        from flowslurm.api.volumes import delete_volume

        return delete_volume(volume)

    def mount_volume(self, volume: str, task_id: str, mount_path: str | None = None) -> str:
        from flowslurm.api.volumes import mount_volume

        return mount_volume(volume, task_id, mount_path)
