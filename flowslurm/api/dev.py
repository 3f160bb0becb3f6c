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
up (no command, no time limit); each command reaches it over SSH (see `_remote_run`): the code
is uploaded to the VM's /workspace when it changed, and runs in a fresh container there.

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

__all__ = ["DEFAULT_NAME", "WORKSPACE", "code_fingerprint", "containers", "default_image", "find", "remote_run_argv",
           "reset", "run_command", "start", "stop", "wait_running"]

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
    elif task.slurm_state == "RUNNING" and task.ssh_destination:
        try:  # a real VM takes its containers with it; an emulated one shares this machine's podman
            _remote_reset(task)
        except Exception:  # noqa: BLE001 - cleanup is best effort: it must never keep the VM billing
            pass
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
        return _remote_run(task, command, image=image, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr)
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
#
# Why SSH and not a SLURM step: the VM is a Mithril instance, not a node of the local engine, so
# `srun --jobid` cannot reach it. Each command is one exec channel on the provider's pinned-host-key
# connection: a probe (runtime, last upload), the upload when the code changed, then `podman run
# --rm` (docker when the VM has no podman) with the VM's /workspace mounted. Output is streamed as it
# comes (Remote.run would hold it until the end, which is no good for a training run).
# On the emulator every VM path is under $FLOW_ROOT (empty on a real VM), so the mount, the upload
# marker and the containers.conf the VM would read from /etc all carry that prefix.

REMOTE_TASK_LABEL = "flowslurm.dev"  # = the task id of the dev environment
REMOTE_ROOT_LABEL = "flowslurm.root"  # = the VM's $FLOW_ROOT ("/" on a real VM): emulated VMs share one podman
CODE_MARK = "/var/lib/flowslurm/dev-code"  # fingerprint of the code `flow dev -c` sent last
REMOTE_TIMEOUT_S = 120.0  # one short remote command (probe, listing, removal)
NO_REMOTE_RUNTIME = ("the dev VM has neither podman nor docker",
                     ["Install one on the VM (flow ssh flow-dev), or run commands there directly: "
                      "flow ssh flow-dev -- CMD"])


def _remote_probe_script() -> str:
    """One exec that says which runtime the VM has (line 1) and what code was uploaded last (line 2)."""
    return ('rt=$(command -v podman || command -v docker || true); printf "%s\\n" "$rt"; '
            f'cat "${{FLOW_ROOT:-}}{CODE_MARK}" 2>/dev/null || true')


def _probe(remote: Any) -> tuple[str, str]:
    """(the VM's container runtime path, the fingerprint of the code uploaded last or "")."""
    status, out, err = remote.run(_remote_probe_script(), timeout_s=REMOTE_TIMEOUT_S)
    if status != 0:
        raise ValidationError(f"could not look at the dev VM: {err.strip()[-300:] or f'exit status {status}'}")
    runtime, _, mark = out.partition("\n")
    if not runtime.strip():
        raise ValidationError(NO_REMOTE_RUNTIME[0], list(NO_REMOTE_RUNTIME[1]))
    return runtime.strip(), mark.strip()


def _remote_env_prefix() -> str:
    """Shell that makes podman read the VM's containers.conf under $FLOW_ROOT (the emulator): on a
    real VM (no FLOW_ROOT) podman reads /etc/containers itself."""
    return ('if [ -n "${FLOW_ROOT:-}" ] && [ -f "$FLOW_ROOT/etc/containers/containers.conf" ]; then '
            'export CONTAINERS_CONF="$FLOW_ROOT/etc/containers/containers.conf"; fi; ')


def _label_filters(task: Task, root: str) -> list[str]:
    return [f"label={REMOTE_TASK_LABEL}={task.task_id}", f"label={REMOTE_ROOT_LABEL}={root or '/'}"]


def remote_run_argv(task: Task, command: str, image: str, *, runtime: str, root: str, name: str,
                    interactive: bool) -> str:
    """The shell line that runs `command` in a fresh container on the dev VM (a pure function, so
    the argv can be checked without a VM). GPUs are passed when the VM has them: docker's --gpus,
    podman's CDI device (only when a CDI spec for nvidia.com/gpu is installed)."""
    import shlex

    docker = "docker" in os.path.basename(runtime)
    argv = [runtime, "run", "--rm", "--name", name, "--label", f"{REMOTE_TASK_LABEL}={task.task_id}",
            "--label", f"{REMOTE_ROOT_LABEL}={root or '/'}", "--network=host",
            "-v", f"{root}{WORKSPACE}:{WORKSPACE}", "-w", WORKSPACE]
    if interactive:
        argv.append("-i")
    head = shlex.join(argv)
    tail = shlex.join(["--entrypoint=", image, "sh", "-c", command])
    if docker:  # rootful docker would leave root-owned files in /workspace, which the next upload cannot replace
        extras = ' --user "$(id -u):$(id -g)"'
        gpus = 'if [ -z "${FLOW_ROOT:-}" ] && command -v nvidia-smi >/dev/null 2>&1; then set -- --gpus all; fi; '
    else:
        extras = ""
        gpus = ('if [ -z "${FLOW_ROOT:-}" ] && grep -qs nvidia.com/gpu /etc/cdi/* /var/run/cdi/*; then '
                "set -- --device nvidia.com/gpu=all; fi; ")
    return f'{_remote_env_prefix()}set --; {gpus}exec {head}{extras} "$@" {tail}'


def _connect(task: Task) -> Any:
    """The provider's pinned-host-key SSH connection to the dev VM (after it runs)."""
    from flowslurm.api.remote_access import connect

    if task.slurm_state != "RUNNING" or not task.ssh_destination:
        task = wait_running(task)
    return connect(task)


def code_fingerprint(root: str, files: list[Any]) -> str:
    """What identifies an upload: the directory, and each file's name, size, mode and mtime. Equal
    fingerprints mean the VM's /workspace already has this code, so the warm path sends nothing."""
    import hashlib

    digest = hashlib.sha256(os.path.abspath(root).encode("utf-8", "surrogateescape") + b"\0")
    for rel in files:
        try:
            st = os.lstat(os.path.join(root, str(rel)))
        except FileNotFoundError:
            continue
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mode}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _sync_code(remote: Any, task: Task, cwd: str, last: str) -> None:
    """Upload `cwd` to the VM's /workspace (honouring .flowignore) unless it is what was sent last,
    or the dev environment was started with --no-upload-code."""
    from pathlib import Path

    from flowslurm.providers.mithril import upload

    if task.spec.get("flow_task", {}).get("upload_code") is False:
        return
    files = upload.collect(Path(cwd))
    mark = code_fingerprint(cwd, files)
    if mark == last:
        return
    upload.upload_tree(remote, Path(cwd), WORKSPACE, files)
    remote.put_bytes(mark.encode(), CODE_MARK, 0o644)


def _remote_reset(task: Task) -> list[str]:
    """Remove the dev environment's containers on the VM (running or left over); the names removed."""
    import shlex

    from flowslurm.api.cloud import translated

    with translated():
        remote = _connect(task)
        try:
            runtime, _ = _probe(remote)
            root = remote.root()
            filters = " ".join(f"--filter {shlex.quote(f)}" for f in _label_filters(task, root))
            listing = f"{_remote_env_prefix()}{shlex.quote(runtime)} ps -a --format '{{{{.Names}}}}' {filters}"
            status, out, err = remote.run(listing, timeout_s=REMOTE_TIMEOUT_S)
            if status != 0:
                raise ValidationError(f"listing the dev VM's containers failed: {err.strip()[-300:]}")
            names = out.split()
            if names:
                flags = ["-f"] if "docker" in os.path.basename(runtime) else ["-f", "-t", "0", "--ignore"]
                removal = _remote_env_prefix() + shlex.join([runtime, "rm", *flags, *names])
                status, _out, err = remote.run(removal, timeout_s=REMOTE_TIMEOUT_S)
                if status != 0:
                    raise ValidationError(f"removing the dev VM's containers failed: {err.strip()[-300:]}")
            return names
        finally:
            remote.close()


def _remote_run(task: Task, command: str, *, image: str, cwd: str, stdin: Any, stdout: Any, stderr: Any) -> int:
    """Run `command` in a fresh container on the dev VM, output streamed; its exit status. Ctrl-C
    removes the container (without a terminal the VM would not otherwise stop it)."""
    import secrets
    import shlex

    from flowslurm.api.cloud import translated

    with translated():
        remote = _connect(task)
        try:
            runtime, last = _probe(remote)
            _sync_code(remote, task, cwd, last)
            root = remote.root()
            name = f"flow-dev-{task.job_id}-{secrets.token_hex(4)}"
            interactive = _forwardable(stdin)
            line = remote_run_argv(task, command, image, runtime=runtime, root=root, name=name,
                                   interactive=interactive)
            try:
                return _stream(remote, line, stdin if interactive else None, stdout, stderr)
            except KeyboardInterrupt:
                remote.run(_remote_env_prefix() + shlex.join([runtime, "rm", "-f", name]),
                           timeout_s=REMOTE_TIMEOUT_S)
                return 130
        finally:
            remote.close()


def _forwardable(stdin: Any) -> bool:
    """Whether to pass stdin to the container: a pipe or file yes (`echo x | flow dev -c cat`), a
    terminal no (without a remote pty the command would wait on it for ever)."""
    try:
        return stdin is not None and not stdin.isatty() and stdin.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


class _Sink:
    """Remote bytes to a local text stream, as they come: straight to its binary buffer when it has
    one, else decoded incrementally (a UTF-8 character may be split between two packets)."""

    def __init__(self, stream: Any) -> None:
        import codecs

        self.stream = stream
        self.buffer = getattr(stream, "buffer", None)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def write(self, data: bytes, final: bool = False) -> None:
        if self.buffer is not None:
            self.buffer.write(data)
            self.buffer.flush()
        else:
            text = self.decoder.decode(data, final)
            if text:
                self.stream.write(text)
                self.stream.flush()


def _stream(remote: Any, line: str, stdin: Any, stdout: Any, stderr: Any) -> int:
    """Run `line` on the VM on one exec channel, stdout and stderr written here as they arrive,
    stdin (when given) fed from a thread; the exit status (255 when it died of a signal)."""
    import select
    import threading

    channel = remote.exec_channel(line, REMOTE_TIMEOUT_S)
    try:
        if stdin is not None:
            threading.Thread(target=_feed, args=(channel, stdin.fileno()), daemon=True).start()
        else:
            channel.shutdown_write()
        out, err = _Sink(stdout), _Sink(stderr)
        while True:
            while channel.recv_ready():
                out.write(channel.recv(1 << 16))
            while channel.recv_stderr_ready():
                err.write(channel.recv_stderr(1 << 16))
            if channel.eof_received or channel.closed:
                if not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                continue
            if not remote.active:
                raise TaskNotFoundError("the SSH connection to the dev VM was lost while the command ran",
                                        ["`flow dev --status` shows whether the dev environment is still up"])
            select.select([channel.fileno()], [], [], 0.5)
        out.write(b"", final=True)
        err.write(b"", final=True)
        status = channel.recv_exit_status()
    finally:
        channel.close()
    return status if status >= 0 else 255


def _feed(channel: Any, fd: int) -> None:
    """Copy local stdin into the channel until EOF (or until the command is gone), then send EOF."""
    try:
        while True:
            data = os.read(fd, 1 << 16)
            if not data:
                break
            channel.sendall(data)
    except OSError:
        return
    try:
        channel.shutdown_write()
    except (OSError, EOFError):
        pass
