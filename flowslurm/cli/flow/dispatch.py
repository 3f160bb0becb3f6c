"""`flow`: the native CLI of the Flow SDK, one module per subcommand, on flowslurm's engine.

The dispatcher knows its commands by name and summary only (the table below), so `flow --help`
imports none of them, and `flow status` imports only status.py (the ledger, no pydantic, httpx,
yaml or paramiko). Each command module has `SPEC` (flowslurm.cli.flow.args.Command) and
`run(argv, env) -> int`.

Errors never reach the user as a traceback: a FlowError is printed as `flow: error: ...` with its
suggestions as `hint:` lines and exits with its class's code (flowslurm.api.errors), anything else
as an internal error. `--debug` (or FLOW_DEBUG=1) prints the traceback as well.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env

__all__ = ["COMMANDS", "main", "run"]

VERSION = "0.1.0"

# name: (module, summary); the order of `flow --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("init", "set up Mithril credentials (interactive, or --api-key ... for scripts)"),
    "run": ("run", "submit a task: a command, a YAML file or a SLURM script"),
    "status": ("status", "list tasks, or show one"),
    "logs": ("logs", "print a task's output (-f to follow)"),
    "ssh": ("ssh", "open a shell on a task's machine, or run a command there"),
    "cancel": ("cancel", "cancel tasks by id, name, or --name-pattern"),
    "instances": ("instances", "instance types: GPUs, memory, current prices"),
    "volumes": ("volumes", "create, list and delete persistent volumes"),
    "mount": ("mount", "attach a volume to a running task"),
    "upload-code": ("upload_code", "upload this directory to a running cloud task"),
    "dev": ("dev", "a persistent dev environment; each -c command in a fresh container"),
    "completion": ("completion", "print shell completion for bash or zsh"),
}

USAGE = "usage: flow [--debug] [--version] COMMAND [ARGS...]\n"


def top_help() -> str:
    width = max(len(n) for n in COMMANDS) + 2
    lines = [USAGE.rstrip(), "", "Launch tasks on this machine or on Mithril GPUs, through flowslurm's engine:",
             "the same jobs `squeue` and `sacct` show.", "", "commands:"]
    lines += [f"  {name:{width}}{summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "options:", "  -h, --help     show this help (`flow COMMAND --help` for a command's)",
              "  -V, --version  print the version", "  --debug        show a traceback on errors",
              "", "examples:", '  flow run "python train.py"              # on this machine',
              '  flow run "python train.py" -i 8xh100    # on 8 H100s', "  flow run job.yaml --watch",
              "  flow status", "  flow logs task-12 -f", "  flow cancel --name-pattern 'dev-*' --yes",
              "", "Exit status: 0 ok, 1 error, 2 usage, 3 invalid config, 4 not found, 5 auth,",
              "6 transient (network, timeout), 7 quota/capacity, 8 task failed, 130 interrupted."]
    return "\n".join(lines) + "\n"


def _suggest(name: str) -> list[str]:
    from difflib import get_close_matches

    close = get_close_matches(name, list(COMMANDS), n=1)
    return ([f"Did you mean `flow {close[0]}`?"] if close else []) + ["`flow --help` lists the commands"]


def run(argv: list[str], env: Env) -> int:
    """Dispatch `argv` (without the program name) to its command."""
    from flowslurm.api.errors import UsageError

    args = list(argv)
    while args and args[0] in ("--debug",):
        args.pop(0)
    if not args or (args[0] in ("-h", "--help", "help") and len(args) <= 1):
        env.stdout.write(top_help())
        return 0
    if args[0] in ("-V", "--version"):
        env.stdout.write(f"flow (flowslurm) {VERSION}\n")
        return 0
    if args[0] == "help":
        args = [args[1], "--help"]
    name = args[0]
    if name not in COMMANDS:
        if name.startswith("-"):
            raise UsageError(f"unknown option {name}", ["`flow --help` lists the options"])
        raise UsageError(f"unknown command {name!r}", _suggest(name))
    import importlib

    module = importlib.import_module(f"flowslurm.cli.flow.{COMMANDS[name][0]}")
    rest = args[1:]
    head = rest[:rest.index("--")] if "--" in rest else rest
    if "-h" in head or "--help" in head:
        from flowslurm.cli.flow.args import render_help

        env.stdout.write(render_help(module.SPEC))
        return 0
    return int(module.run(rest, env))


def _debug(argv: list[str]) -> bool:
    if os.environ.get("FLOW_DEBUG", "") not in ("", "0"):
        return True
    head = argv[:argv.index("--")] if "--" in argv else argv
    return "--debug" in head


def print_error(env: Env, exc: BaseException) -> None:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    lines = str(message).splitlines() or [""]
    prog, first = "flow", lines[0]
    head, sep, rest = first.partition(": ")
    if sep and head.startswith("flow ") and " " not in head[5:]:  # "flow run: ..." -> "flow run: error: ..."
        prog, first = head, rest
    env.stderr.write(f"{prog}: error: {first}\n")
    for line in lines[1:]:
        env.stderr.write(f"  {line}\n")
    for hint in getattr(exc, "suggestions", None) or []:
        env.stderr.write(f"  hint: {hint}\n")


def main(argv: list[str] | None = None) -> None:
    """The `flow` executable: run, print errors readably, exit with a status scripts can use."""
    from flowslurm.cli.common import Env

    args = sys.argv[1:] if argv is None else argv
    debug = _debug(args)
    if debug:
        head = args.index("--") if "--" in args else len(args)
        args = [a for a in args[:head] if a != "--debug"] + args[head:]
    env = Env()
    try:
        code = run(args, env)
    except KeyboardInterrupt:
        env.stderr.write("\nflow: interrupted\n")
        code = 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 1
    except Exception as exc:  # the boundary: readable errors, a traceback only when asked for
        from flowslurm.api.errors import exit_code_of, translate
        from flowslurm.errors import FlowError

        shown = translate(exc)
        if debug:
            import traceback

            traceback.print_exception(type(exc), exc, exc.__traceback__, file=env.stderr)
        if isinstance(shown, FlowError):
            print_error(env, shown)
        else:
            env.stderr.write(f"flow: internal error: {type(exc).__name__}: {exc}\n")
            if not debug:
                env.stderr.write("  hint: run again with --debug for the traceback, and report it\n")
        code = exit_code_of(exc)
    for stream in (env.stdout, env.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
