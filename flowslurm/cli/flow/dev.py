"""flow dev: a persistent dev environment, and each command in a fresh container on it.

    flow dev                          # start it, or find the one that is up
    flow dev -c 'python train.py'     # run in a new container, code at /workspace, removed after
    flow dev -c 'make test' --image localhost/dev:latest
    flow dev --status | --reset | --stop

Why a separate command from `flow run`: a dev environment is paid for once (a Mithril bid, or on
this machine an allocation that holds resources) and then reused for many short commands, so the
warm path must cost next to nothing: it reads the ledger and runs one `srun` step in-process
(flowslurm.api.dev says how). Status lines go to stderr when a command runs, so its stdout is the
command's own.
"""

from __future__ import annotations

from flowslurm.cli.flow.args import FLAG, JSON, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.api.tasks import Task
    from flowslurm.cli.common import Env

SPEC = Command(
    "dev", "flow dev [-c CMD | -- PROGRAM ARGS...] [--image IMAGE] [-i TYPE] [--status | --reset | --stop]",
    "Start, or reconnect to, a persistent dev environment (this machine, or with -i a Mithril instance that\n"
    "stays up), and run each command in a fresh container with this directory at /workspace, removed after.\n"
    "It is a SLURM job named flow-dev: squeue and flow status show it; each command is one of its steps.",
    (
        Opt(("-c", "--command"), "command", VALUE, "CMD", "run CMD (a shell command) in a fresh container"),
        Opt(("--image",), "image", VALUE, "IMAGE",
            "container image (default: the dev environment's, FLOW_DEV_IMAGE, or the config's dev.image)"),
        Opt(("-i", "--instance-type"), "instance_type", VALUE, "TYPE", "instance type (none: this machine)"),
        Opt(("-n", "--name"), "name", VALUE, "NAME", "which dev environment (default flow-dev)"),
        Opt(("-t", "--max-run-time"), "max_run_time", VALUE, "HOURS", "time limit when starting (default: none)"),
        Opt(("--status",), "status", FLAG, help="show the dev environment and its containers"),
        Opt(("--reset",), "reset", FLAG, help="remove every container of the dev environment; it stays up"),
        Opt(("--stop",), "stop", FLAG, help="end the dev environment"),
        Opt(("--no-upload-code",), "no_upload", FLAG, help="do not upload this directory when starting (cloud)"),
        JSON,
    ),
    ("flow dev", "flow dev -c 'python train.py'", "flow dev -c 'pytest -q' --image localhost/dev:latest",
     "flow dev -i 8xh100", "flow dev --status", "flow dev --reset", "flow dev --stop"),
)


def _where(task: Task) -> str:
    return "this machine" if task.backend == "local" else f"Mithril {task.instance_type}"


def _command(p: Any) -> str | None:
    import shlex

    from flowslurm.api.errors import UsageError

    given = [x for x in (p.get("command"), p.positionals or None, p.after_dashdash or None) if x]
    if len(given) > 1:
        raise UsageError("flow dev: give the command once: as -c, as an argument, or after --")
    if p.get("command"):
        return str(p.get("command"))
    words = p.after_dashdash or p.positionals
    if not words:
        return None
    return words[0] if len(words) == 1 else shlex.join(words)


def _status(p: Any, env: Env, name: str) -> int:
    from flowslurm.api import dev
    from flowslurm.cli.flow.output import print_json

    task = dev.find(name)
    listed: list[str] = []
    if task is not None and task.backend == "local":
        from flowslurm.providers.local import container

        if container.runtime() is not None:
            listed = dev.containers(task)
    if p.get("json"):
        body: dict[str, Any] = {"running": task is not None}
        if task is not None:
            body.update(task.to_dict())
            body.update(image=dev.default_image(task), containers=listed)
        print_json(env, body)
        return 0
    if task is None:
        env.stdout.write(f"No dev environment {name!r} is up (`flow dev` starts one).\n")
        return 0
    limit = task.spec.get("time_limit")
    env.stdout.write(f"Dev environment {task.task_id} (SLURM job {task.slurm_job_id}): {task.status} on "
                     f"{_where(task)}\n")
    if task.started_at is not None:
        env.stdout.write(f"  started   {task.started_at.astimezone():%Y-%m-%d %H:%M:%S}\n")
    env.stdout.write(f"  time limit {f'{limit} min' if limit else 'none'}\n")
    env.stdout.write(f"  image     {dev.default_image(task) or '(none: give --image)'}\n")
    env.stdout.write(f"  containers {len(listed)}" + (f": {' '.join(listed)}" if listed else "") + "\n")
    return 0


def _reset(env: Env, name: str) -> int:
    from flowslurm.api import dev

    task = dev.find(name)
    if task is None:
        env.stdout.write(f"No dev environment {name!r} is up: nothing to reset.\n")
        return 0
    removed = dev.reset(task)
    env.stdout.write(f"Removed {len(removed)} container{'s' if len(removed) != 1 else ''}; "
                     f"{task.task_id} stays up.\n")
    return 0


def _stop(env: Env, name: str) -> int:
    from flowslurm.api import dev

    task = dev.stop(name)
    if task is None:
        env.stdout.write(f"No dev environment {name!r} is up.\n")
    else:
        env.stdout.write(f"Stopped dev environment {task.task_id} (SLURM job {task.slurm_job_id}).\n")
    return 0


def run(argv: list[str], env: Env) -> int:
    from flowslurm.api import dev
    from flowslurm.api.errors import UsageError

    p = parse(SPEC, argv)
    name = str(p.get("name") or dev.DEFAULT_NAME)
    actions = [a for a in ("status", "reset", "stop") if p.get(a)]
    command = _command(p)
    if len(actions) > 1 or (actions and command is not None):
        raise UsageError(f"flow dev: --{actions[0]} goes alone", ["e.g. flow dev --status"])
    if actions:
        return {"status": _status, "reset": lambda _p, e, n: _reset(e, n),
                "stop": lambda _p, e, n: _stop(e, n)}[actions[0]](p, env, name)
    hours = None
    if p.get("max_run_time") is not None:
        from flowslurm.cli.flow.run import parse_hours

        hours = parse_hours(p.get("max_run_time"))
    say = env.stderr if command is not None else env.stdout
    image = p.get("image")
    if command is not None and not image:  # refuse before starting anything
        live = dev.find(name)
        image = dev.default_image(live)
        if not image:
            raise UsageError(dev.NO_IMAGE[0], list(dev.NO_IMAGE[1]))
    task, made = dev.start(name=name, instance_type=p.get("instance_type"),
                           image=None if command else p.get("image"), max_run_time_hours=hours, cwd=env.cwd,
                           environ=env.environ, upload_code=not p.get("no_upload"))
    if made or command is None:
        verb = "Started" if made else "Reusing"
        say.write(f"{verb} dev environment {task.task_id} (SLURM job {task.slurm_job_id}) on {_where(task)}\n")
    if command is None:
        if task.backend == "local":
            env.stdout.write(f"  code: the directory `flow dev -c` runs from, mounted at {dev.WORKSPACE}\n"
                             "  flow dev -c CMD    flow dev --status    flow dev --stop\n")
        return 0
    if task.slurm_state != "RUNNING":
        dev.wait_running(task)
    env.stdout.flush()
    env.stderr.flush()
    return dev.run_command(task, command, image=image, cwd=env.cwd, environ=env.environ, stdin=env.stdin,
                           stdout=env.stdout, stderr=env.stderr)
