"""The dev environment behind `flow dev`: one long-lived allocation, and fresh containers in it.

Why an allocation and not a bare machine: the dev environment is an ordinary job in the ledger
(named "flow-dev", no time limit unless asked), so `squeue`, `sacct`, `flow status` and `scancel`
see it like everything else, and each `flow dev -c CMD` is a step of that job (`srun --jobid`)
whose task runs in a new container (`--container-image`, pyxis-style) with the code directory
bind-mounted at /workspace. The step machinery already streams output, forwards signals, passes
GPUs, labels the container with the flowslurm home and job, and removes it (`--rm`) afterwards;
reusing it keeps the client's own overhead to one in-process `srun`.

On the local backend "the VM" is this machine and the code is the directory `flow dev -c` is run
from (mounted, nothing copied). With an instance type the allocation is a Mithril bid that stays
up (no command, no time limit); see `run_remote` for how commands reach it.

This module is imported by `flow dev` on every call: the warm path (find the job, run a step)
reads only the ledger; pydantic, the network and the container runtime's listing are imported
only where they are needed.
"""

from __future__ import annotations

import os
import time

from flowslurm.api.errors import TaskNotFoundError, TimeoutError, ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, TextIO

    from flowslurm.api.tasks import Task

__all__ = ["DEFAULT_NAME", "WORKSPACE", "containers", "default_image", "find", "reset", "run_command", "start",
           "stop", "wait_running"]

DEFAULT_NAME = "flow-dev"
WORKSPACE = "/workspace"
ORIGIN = "dev"  # spec.extra["flow_task"]["origin"] of a dev environment's job
HOLD_SCRIPT = "exec sleep infinity"  # what the local allocation's batch step does: hold it, nothing else
START_WAIT_S = 120.0
NO_IMAGE = ("flow dev -c needs a container image, and none is configured",
            ["Give one: flow dev -c CMD --image IMAGE",
             "or set a default: FLOW_DEV_IMAGE=IMAGE, or `dev: image: IMAGE` in the flowslurm config file",
             "or start the dev environment with one: flow dev --image IMAGE"])


def _active_statuses() -> list[str]:
    return ["pending", "provisioning", "running", "paused", "preempted"]


def find(name: str = DEFAULT_NAME, home: str | None = None) -> Task | None:
    """The live dev environment called `name` (newest first), or None. Reads the ledger only."""
    from flowslurm.api.tasks import load_tasks

    for task in load_tasks(home, statuses=_active_statuses(), name=name):
        if task.spec.get("flow_task", {}).get("origin") == ORIGIN:
            return task
    return None


def recorded_image(task: Task) -> str | None:
    """The image the dev environment was started with (`flow dev --image`), if any."""
    value = task.spec.get("flow_task", {}).get("dev_image")
    return str(value) if value else None


def default_image(task: Task | None = None) -> str | None:
    """The image `flow dev -c` uses without --image: the dev environment's own, else FLOW_DEV_IMAGE,
    else the config file's `dev: image:`."""
    if task is not None and recorded_image(task):
        return recorded_image(task)
    from flowslurm import config

    value = str(config.setting("dev", "image", "FLOW_DEV_IMAGE", "") or "").strip()
    return value or None


def start(*, name: str = DEFAULT_NAME, instance_type: str | None = None, image: str | None = None,
          max_run_time_hours: float | None = None, cwd: str | None = None,
          environ: Mapping[str, str] | None = None, upload_code: bool = True) -> tuple[Task, bool]:
    """(the dev environment, whether it was made now): the live one if there is one, else a new
    allocation. An instance type that differs from the live one's is an error, not a second VM."""
    existing = find(name)
    if existing is not None:
        wanted = instance_type or "local"
        have = existing.instance_type if existing.backend != "local" else "local"
        if instance_type is not None and wanted != have:
            raise ValidationError(f"the dev environment {existing.task_id} runs on {have}, not {wanted}",
                                  ["`flow dev --stop` ends it; then start one with the instance type you want"])
        return existing, False
    from flowslurm.api.config import TaskConfig
    from flowslurm.api.submission import build_spec, place_and_submit
    from flowslurm.api.tasks import load_task

    command = HOLD_SCRIPT if instance_type is None else None  # a cloud bid with no command stays up
    config = TaskConfig(name=name, instance_type=instance_type, command=command,
                        max_run_time_hours=max_run_time_hours, upload_code=upload_code)
    spec, backend = build_spec(config, cwd=cwd, environ=environ, origin=ORIGIN)
    if image:
        spec.extra["flow_task"]["dev_image"] = image
    jobs, _ = place_and_submit(spec, backend)
    return load_task(jobs[0].job_id), True


def wait_running(task: Task, timeout: float = START_WAIT_S) -> Task:
    """Wait (bounded) until the dev environment's job runs: steps can only start in a running job."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while task.slurm_state != "RUNNING" or (task.backend != "local" and not task.ssh_destination):
        if task.is_terminal:
            raise TaskNotFoundError(f"the dev environment {task.task_id} ended ({task.status}: {task.message})",
                                    ["`flow dev` starts a new one"])
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the dev environment {task.task_id} is still {task.status} after {timeout:g} s "
                               f"({task.message})", [f"`flow status {task.task_id}` shows where it is"])
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
        task.refresh()
    return task


def stop(name: str = DEFAULT_NAME) -> Task | None:
    """End the dev environment (its containers go with it); the task that was stopped, or None."""
    task = find(name)
    if task is None:
        return None
    if task.backend == "local":
        reset(task)
    task.cancel()
    return task


# ---- containers ---------------------------------------------------------------------------------


def _runtime() -> str:
    from flowslurm.providers.local import container

    path = container.runtime()
    if path is None:
        raise ValidationError(container.NO_RUNTIME.replace("--container-image", "flow dev -c"))
    return path


def containers(task: Task) -> list[str]:
    """Names of the containers (running or left over) of a local dev environment."""
    import subprocess

    from flowslurm import config

    runtime = _runtime()
    labels = [f"label=flowslurm.home={config.home_dir()}", f"label=flowslurm.job={task.job_id}"]
    res = subprocess.run([runtime, "ps", "-a", "--format", "{{.Names}}", "--filter", labels[0], "--filter", labels[1]],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise ValidationError(f"{os.path.basename(runtime)} ps failed: {res.stderr.strip()[-300:]}")
    return res.stdout.split()


def reset(task: Task) -> list[str]:
    """Remove every container of the dev environment (the allocation stays); the names removed."""
    import subprocess

    from flowslurm.providers.local.container import is_docker

    if task.backend != "local":
        return _remote_reset(task)
    names = containers(task)
    if names:
        runtime = _runtime()
        argv = [runtime, "rm", "-f", *names] if is_docker(runtime) else [runtime, "rm", "-f", "-t", "0", "--ignore",
                                                                          *names]
        subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return names


class _QuietSteps:
    """srun's stderr, less its "task 0: Exited with exit code N" line: `flow dev -c` returns that
    code as its own, so the line would only repeat it."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.partial = ""

    def write(self, text: str) -> int:
        self.partial += text
        *lines, self.partial = self.partial.split("\n")
        for line in lines:
            if not (line.startswith("srun: error: ") and ": Exited with exit code " in line):
                self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self.partial:
            self.stream.write(self.partial)
            self.partial = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return bool(self.stream.isatty())

    def fileno(self) -> int:
        return self.stream.fileno()


def step_argv(task: Task, command: str, image: str, code_dir: str, *, tty: bool) -> list[str]:
    """srun's argv for one `flow dev -c` command: a step of the dev job, in a fresh container."""
    argv = ["--jobid", str(task.job_id), "--job-name", "flow-dev-command", "--container-image", image,
            "--container-mounts", f"{code_dir}:{WORKSPACE}", "--container-workdir", WORKSPACE]
    if tty:
        argv.append("--pty")
    return argv + ["sh", "-c", command]


def run_command(task: Task, command: str, *, image: str, cwd: str, environ: Mapping[str, str], stdin: Any,
                stdout: Any, stderr: Any) -> int:
    """Run `command` in a fresh container of the dev environment; its exit status."""
    if task.backend != "local":
        return _remote_run(task, command, image=image, stdout=stdout, stderr=stderr)
    from flowslurm.cli import srun
    from flowslurm.cli.common import Env

    tty = bool(hasattr(stdin, "isatty") and stdin.isatty() and hasattr(stdout, "isatty") and stdout.isatty())
    quiet = _QuietSteps(stderr)
    try:
        return int(srun.run(step_argv(task, command, image, os.path.abspath(cwd), tty=tty),
                            Env(stdout=stdout, stderr=quiet, stdin=stdin, environ=dict(environ), cwd=cwd)))
    finally:
        quiet.flush()


# ---- on a cloud dev VM ----------------------------------------------------------------------------


def _remote_reset(task: Task) -> list[str]:
    """Not built for cloud dev VMs yet: refused plainly, with what works instead."""
    raise ValidationError("flow dev --reset is not available for a cloud dev VM yet",
                          [f"Remove containers by hand: flow ssh {task.task_id} -- podman rm -af"])


def _remote_run(task: Task, command: str, *, image: str, stdout: Any, stderr: Any) -> int:
    """Not built for cloud dev VMs yet: refused plainly, with what works instead."""
    raise ValidationError("flow dev -c is not available for a cloud dev VM yet",
                          [f"Run it on the VM itself: flow ssh {task.task_id} -- {command}"])
