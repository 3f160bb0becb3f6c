"""Reaching the machine a task runs on: shells, commands, instances, and who submitted it.

A local task runs here, so its "shell" is a process in its working directory with its SLURM job
environment. A cloud task's is its instance over SSH, with the key and address the engine used
(paramiko for a command, the system `ssh` for an interactive shell, which needs a terminal).
"""

from __future__ import annotations

import os
import shlex

from flowslurm.api.errors import SubmissionError, ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.api.tasks import Instance, Task, User
    from flowslurm.providers.mithril.remote import Remote

__all__ = ["connect", "instances", "shell", "shell_command", "user"]

CONNECT_DEADLINE_S = 60.0
COMMAND_TIMEOUT_S = 3600.0
# `cd` to the uploaded code first; on an emulated instance every contract path is under $FLOW_ROOT.
REMOTE_PREFIX = 'cd "${FLOW_ROOT:-}/workspace" 2>/dev/null || true; '


def _key_path() -> str:
    from flowslurm import config
    from flowslurm.providers.mithril.settings import load_settings

    settings = load_settings()
    if settings.ssh_key:
        return os.path.expanduser(settings.ssh_key)
    folder = os.path.join(config.home_dir(), "mithril", "keys")
    for name in ("id_ed25519", "id_rsa"):
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return os.path.join(folder, "id_ed25519")


def _ssh_user() -> str:
    from flowslurm.providers.mithril.settings import load_settings

    return load_settings().ssh_user


def _host_port(destination: str) -> tuple[str, int]:
    from flowslurm.providers.mithril.remote import parse_destination

    return parse_destination(destination)


def _ssh_argv(t: Task, tty: bool) -> list[str]:
    from flowslurm import config

    dest = t.ssh_destination
    assert dest
    host, port = _host_port(dest)
    known = os.path.join(config.home_dir(), "mithril", "ssh_known_hosts")
    argv = ["ssh", "-i", _key_path(), "-p", str(port), "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={known}", "-o", "IdentitiesOnly=yes"]
    if tty:
        argv.append("-t")
    return [*argv, f"{_ssh_user()}@{host}"]


def shell_command(t: Task) -> str | None:
    if t.backend == "local":
        return f"cd {shlex.quote(t.work_dir)} && exec ${{SHELL:-/bin/bash}}"
    if not t.ssh_destination:
        return None
    return shlex.join(_ssh_argv(t, tty=False))


def _check_node(t: Task, node: int | None) -> None:
    if node is None:
        return
    count = t.num_instances
    if not isinstance(node, int) or not 0 <= node < count:
        raise ValidationError(f"task {t.task_id} has {count} instance{'s' if count != 1 else ''}: node {node} "
                              f"is not one of them", [f"Nodes are numbered 0 to {count - 1}"])


def _local_env(t: Task) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SLURM_JOB_ID=str(t.job_id), FLOW_TASK_ID=t.task_id, FLOW_TASK_NAME=t.name)
    return env


def connect(t: Task) -> Remote:
    """An SSH connection to the task's instance (the engine's key and host key pins)."""
    from flowslurm.api.cloud import provider, translated

    if not t.ssh_destination or t.is_terminal:
        raise SubmissionError(f"task {t.task_id} has no reachable instance (it is {t.status})",
                              ["Retry once `flow status` shows it running"] if not t.is_terminal else [])
    instance = str(t._cloud.get("instance") or t.task_id)
    with provider() as p, translated():
        return p.connect(t.ssh_destination, instance, CONNECT_DEADLINE_S)  # type: ignore[no-any-return]


def shell(t: Task, command: str | None, *, node: int | None = None, capture: bool = False) -> Any:
    """Run `command` where the task runs (exit status, or (status, out, err) with `capture`); an
    interactive shell when `command` is None."""
    import subprocess
    import sys

    _check_node(t, node)
    if t.backend == "local":
        if t.is_terminal and not os.path.isdir(t.work_dir):
            raise SubmissionError(f"task {t.task_id}'s directory {t.work_dir} is gone")
        if command is None:
            return subprocess.call([os.environ.get("SHELL") or "/bin/bash"], cwd=t.work_dir, env=_local_env(t))
        if capture:
            proc = subprocess.run(["bash", "-c", command], cwd=t.work_dir, env=_local_env(t), capture_output=True,
                                  text=True)
            return proc.returncode, proc.stdout, proc.stderr
        return subprocess.call(["bash", "-c", command], cwd=t.work_dir, env=_local_env(t))
    if t.is_terminal:
        raise SubmissionError(f"task {t.task_id} has ended ({t.status}): its instance is gone")
    if command is None:
        if not t.ssh_destination:
            raise SubmissionError(f"task {t.task_id} has no instance yet (it is {t.status})")
        return subprocess.call(_ssh_argv(t, tty=True))
    from flowslurm.api.cloud import translated

    remote = connect(t)
    try:
        with translated():
            status, out, err = remote.run(REMOTE_PREFIX + command, timeout_s=COMMAND_TIMEOUT_S)
    finally:
        remote.close()
    if capture:
        return status, out, err
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.stderr.write(err)
    sys.stderr.flush()
    return status


def instances(t: Task) -> list[Instance]:
    from flowslurm.api.tasks import Instance

    if t.backend == "local":
        from flowslurm import config

        return [Instance(config.node().name, "127.0.0.1", "127.0.0.1", t.slurm_state)]
    bid = t._cloud.get("bid")
    if not bid:
        return []
    from flowslurm.api.cloud import provider, translated

    with provider() as p, translated():
        found = p.client.list_instances(p.project, bid_fids=[bid])
    out = []
    for node, inst in enumerate(sorted(found, key=lambda i: (i.created_at, i.fid))):
        host, port = _host_port(inst.ssh_destination) if inst.ssh_destination else (None, None)
        out.append(Instance(inst.fid, host, inst.private_ip, str(inst.status).removeprefix("STATUS_").lower(), port,
                            node))
    return out


def user(t: Task) -> User:
    from flowslurm.api.tasks import User

    uid = t.spec.get("uid")
    name = t._job.user or t.spec.get("user") or ""
    email = os.environ.get("EMAIL") or None
    if not email and name:
        email = f"{name}@{os.uname().nodename}"
    return User(str(uid if uid is not None else t._job.uid), name, email)
