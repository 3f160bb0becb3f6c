"""flow run: submit a task from a command, a YAML file, or a SLURM script.

    flow run "python train.py"                 # this machine
    flow run "python train.py" -i 8xh100       # Mithril, 8 H100s
    flow run -i h100 --name dev-box            # no command: the instance stays up for `flow ssh`
    flow run job.yaml --watch                  # a task file; wait and stream its output
    flow run job.slurm                         # through sbatch itself

Flags override what a YAML file says. Everything becomes one job in the engine's ledger.
"""

from __future__ import annotations

import os

from flowslurm.cli.flow.args import FLAG, JSON, MULTI, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.api.tasks import Task
    from flowslurm.cli.common import Env

SPEC = Command(
    "run", "flow run [COMMAND | FILE.yaml | FILE.slurm] [options] [-- PROGRAM ARGS...]",
    "Submit a task. Without -i it runs on this machine; with an instance type (a100, 4xa100, 8xa100, h100,\n"
    "8xh100, ...) on a Mithril instance. A .yaml file is a task spec (docs/yaml.md); a .slurm/.sbatch file goes\n"
    "through sbatch. The task is a SLURM job too: squeue and sacct show it.",
    (
        Opt(("-c", "--command"), "command", VALUE, "CMD", "the shell command to run"),
        Opt(("-i", "--instance-type"), "instance_type", VALUE, "TYPE", "instance type (none: this machine)"),
        Opt(("-n", "--name"), "name", VALUE, "NAME", "task name (default flow-task, or the file's)"),
        Opt(("--image",), "image", VALUE, "IMAGE", "container image to run in"),
        Opt(("-e", "--env"), "env", MULTI, "KEY=VALUE", "environment variable for the task"),
        Opt(("-w", "--watch"), "watch", FLAG, help="wait for the task, streaming its output; exit 8 if it fails"),
        Opt(("-m", "--max-price-per-hour"), "max_price_per_hour", VALUE, "DOLLARS",
            "price cap per instance-hour", number="float"),
        Opt(("-t", "--max-run-time"), "max_run_time", VALUE, "HOURS", "time limit: hours, or 30m, 2h, 1d"),
        Opt(("-N", "--num-instances"), "num_instances", VALUE, "N", "instances (cloud only)", number="int"),
        Opt(("-p", "--port"), "ports", MULTI, "PORT", "port to expose", number="int"),
        Opt(("--mount",), "mounts", MULTI, "TARGET=SOURCE", "mount s3://... or volume://NAME at TARGET (cloud)"),
        Opt(("--region",), "region", VALUE, "REGION", "cloud region"),
        Opt(("--working-dir",), "working_dir", VALUE, "DIR", "directory the command starts in"),
        Opt(("--no-upload-code",), "no_upload", FLAG, help="do not upload this directory (cloud)"),
        Opt(("--upload-code",), "upload", FLAG, help="upload this directory (the default)"),
        Opt(("-d", "--dry-run"), "dry_run", FLAG, help="show what would run and where; submit nothing"),
        JSON,
    ),
    ('flow run "python train.py" -i a100', "flow run -i 8xh100 --name dev-box", "flow run job.yaml --watch",
     "flow run job.slurm", "flow run -i a100 -- python train.py --lr 0.1",
     'flow run "nvidia-smi" -i h100 --max-price-per-hour 4 --max-run-time 30m'),
    positionals="file",
)


def parse_hours(text: str) -> float:
    """Hours from "2", "1.5", "90m", "2h", "1d"."""
    from flowslurm.api.errors import UsageError

    raw = text.strip().lower()
    scale = {"m": 1 / 60, "h": 1.0, "d": 24.0}.get(raw[-1:], None)
    number = raw[:-1] if scale is not None else raw
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise UsageError(f"flow run: --max-run-time needs hours, or a number with m, h or d (got {text!r})") from None
    if value <= 0:
        raise UsageError(f"flow run: --max-run-time must be positive (got {text!r})")
    return value


def _env_pairs(items: list[str]) -> dict[str, str]:
    from flowslurm.api.errors import UsageError

    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"flow run: --env needs KEY=VALUE (got {item!r})")
        out[key] = value
    return out


def _mounts(items: list[str]) -> dict[str, str] | None:
    from flowslurm.api.errors import UsageError

    if not items:
        return None
    out = {}
    for item in items:
        if "=" in item and item.split("=", 1)[0].startswith("/"):
            target, source = item.split("=", 1)
        elif "://" in item:
            target, source = "/data", item
        else:
            raise UsageError(f"flow run: --mount needs TARGET=SOURCE, e.g. /data=s3://bucket/path (got {item!r})")
        out[target] = source
    return out


def _command(p: Any) -> tuple[str | list[str] | None, str | None]:
    """(command, file) from the positionals, -c and what follows `--`."""
    import shlex

    from flowslurm.api.errors import UsageError

    given = [x for x in (p.get("command"), p.positionals or None, p.after_dashdash or None) if x]
    if len(given) > 1:
        raise UsageError("flow run: give the command once: as -c, as an argument, or after --")
    if p.get("command"):
        return p.get("command"), None
    if p.after_dashdash:  # argv exactly as the user's shell gave it: quoted, nothing expanded again
        return shlex.join(p.after_dashdash), None
    if not p.positionals:
        return None, None
    if len(p.positionals) == 1:
        word = p.positionals[0]
        if word.endswith((".yaml", ".yml", ".slurm", ".sbatch")) and "\n" not in word and " " not in word:
            if not os.path.isfile(word):
                raise UsageError(f"flow run: no such file {word!r}",
                                 ["A command that happens to end in .yaml must be given with -c"])
            return None, word
        return word, None
    return shlex.join(p.positionals), None


def _options(p: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for key in ("instance_type", "name", "image", "max_price_per_hour", "num_instances", "region", "working_dir"):
        if p.get(key) is not None:
            opts[key] = p.get(key)
    if p.get("env"):
        opts["env"] = _env_pairs(p.get("env"))
    if p.get("ports"):
        opts["ports"] = p.get("ports")
    if p.get("max_run_time") is not None:
        opts["max_run_time_hours"] = parse_hours(p.get("max_run_time"))
    if p.get("no_upload"):
        opts["upload_code"] = False
    return opts


def _submit(p: Any, env: Env) -> Any:
    from flowslurm.api import client
    from flowslurm.api.errors import UsageError

    command, file = _command(p)
    opts = _options(p)
    mounts = _mounts(p.get("mounts") or [])
    dry = bool(p.get("dry_run"))
    if file is not None and file.endswith((".slurm", ".sbatch")):
        from flowslurm.api.slurmfile import submit_slurm
        from flowslurm.api.tasks import load_task

        bad = [k for k in ("ports", "num_instances", "region", "working_dir") if k in opts] + (["mount"] if mounts else [])
        if bad:
            raise UsageError(f"flow run: --{bad[0].replace('_', '-')} does not apply to a SLURM script",
                             ["Write it as an #SBATCH (or #FLOW) line in the script"])
        job_id, messages = submit_slurm(file, instance_type=opts.get("instance_type"), name=opts.get("name"),
                                        env=opts.get("env"), max_run_time_hours=opts.get("max_run_time_hours"),
                                        max_price_per_hour=opts.get("max_price_per_hour"), image=opts.get("image"),
                                        upload_code=opts.get("upload_code"), dry_run=dry, cwd=env.cwd,
                                        environ=env.environ)
        for line in messages.splitlines():  # sbatch's report, less the options flow itself passed
            if "command line argv: --parsable" not in line and "command line argv: --test-only" not in line:
                env.stderr.write(line.replace("sbatch: ", "flow run: ", 1) + "\n")
        return None if job_id is None else load_task(job_id)
    if file is not None:
        from flowslurm.api.yamlspec import load_task_file

        config = load_task_file(file)
        env_merged = {**config.env, **opts.pop("env", {})}
        return client._submit(config, wait=False, dry_run=dry, mounts=mounts, cwd=env.cwd, origin="yaml",
                              options={**opts, "env": env_merged})
    return client._submit(command, wait=False, dry_run=dry, mounts=mounts, cwd=env.cwd, origin="cli", options=opts)


def _print_plan(plan: Any, env: Env, as_json: bool) -> None:
    from flowslurm.cli.flow.output import print_json

    spec = plan.spec
    if as_json:
        print_json(env, {"dry_run": True, "backend": plan.backend, "name": spec.name, "script": spec.script,
                         "placement": spec.extra.get("placement"), "summary": plan.summary})
        return
    where = "this machine (local backend)" if plan.backend == "local" else f"Mithril ({plan.backend})"
    env.stdout.write(f"Dry run: nothing was submitted.\nTask {spec.name} would run on {where}.\n")
    for line in plan.summary:
        env.stdout.write(f"  {line}\n")
    if spec.time_limit:
        env.stdout.write(f"  time limit {spec.time_limit} min\n")
    env.stdout.write("Script:\n" + "".join(f"  {line}\n" for line in spec.script.splitlines()))


def _where(task: Task) -> str:
    if task.backend == "local":
        return "this machine"
    return f"Mithril {task.instance_type}" + (f" ({task.instance_type_name})" if task.instance_type_name else "")


def run(argv: list[str], env: Env) -> int:
    from flowslurm.cli.flow.output import is_tty, print_json

    p = parse(SPEC, argv)
    if p.get("upload") and p.get("no_upload"):
        from flowslurm.api.errors import UsageError

        raise UsageError("flow run: --upload-code and --no-upload-code contradict each other")
    result = _submit(p, env)
    if result is None:  # a dry run through sbatch: its messages were the plan
        return 0
    from flowslurm.api.submission import Plan

    if isinstance(result, Plan):
        _print_plan(result, env, bool(p.get("json")))
        return 0
    task: Task = result
    if p.get("json"):
        print_json(env, task.to_dict())
    else:
        env.stdout.write(f"Submitted {task.task_id} (SLURM job {task.slurm_job_id}): {task.name} on {_where(task)}\n")
        if is_tty(env.stderr) and not p.get("watch"):
            env.stderr.write(f"  flow status {task.task_id}    flow logs {task.task_id} -f    "
                             f"flow cancel {task.task_id}\n")
    env.stdout.flush()
    if p.get("watch"):
        from flowslurm.cli.flow.watch import watch

        return watch(task, env, quiet_output=bool(p.get("json")))
    return 0
