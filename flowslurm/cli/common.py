"""What every SLURM-style command shares: the environment seam, error printing and exit codes.

Commands are written as `run(argv, env) -> int` over an `Env` (streams, environment variables,
working directory, clock), so tests can drive them in-process as well as through real processes.
SLURM's messages and exit codes live here and in the command modules, nowhere else.
"""

from __future__ import annotations

import os
import sys
import time

from flowslurm.errors import FlowError, SlurmInputError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

    from flowslurm.slurm.options import CommandSpec, Option, ParsedArgs

_UNSET: Any = object()  # "not given": the default is taken when Env is made


class Env:
    """The world a command sees. A plain class, not a dataclass: `dataclasses` costs start-up time."""

    _FIELDS = ("stdout", "stderr", "stdin", "environ", "cwd", "now")

    def __init__(
        self,
        stdout: TextIO = _UNSET,
        stderr: TextIO = _UNSET,
        stdin: TextIO = _UNSET,
        environ: dict[str, str] = _UNSET,
        cwd: str = _UNSET,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.stdout = sys.stdout if stdout is _UNSET else stdout
        self.stderr = sys.stderr if stderr is _UNSET else stderr
        self.stdin = sys.stdin if stdin is _UNSET else stdin
        self.environ = dict(os.environ) if environ is _UNSET else environ
        self.cwd = os.getcwd() if cwd is _UNSET else cwd
        self.now = now

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return tuple([getattr(self, n) for n in self._FIELDS]) == tuple([getattr(other, n) for n in self._FIELDS])
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Env(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self._FIELDS) + ")"


VERSION = "slurm-wlm 22.05.8"  # what SLURM 22.05's commands print for --version


def answer_info(parsed: ParsedArgs, spec: CommandSpec, env: Env) -> bool:
    """Answer --help, --usage or --version (they end the command at once, as in SLURM)."""
    if parsed.stopped_by is not None:
        dest = parsed.stopped_by.dest
    else:
        dest = next((d for d in ("help", "usage", "version") if parsed.values.get(d) is True), "")
    if not dest:
        return False
    from flowslurm.slurm.optdocs import render_help, render_usage

    env.stdout.write(VERSION + "\n" if dest == "version" else render_help(spec) if dest == "help" else render_usage(spec))
    return True


def option_warnings(prog: str, report: list[tuple[str, Option, object, str]], backend: str) -> list[str]:
    """One warning per option that means nothing on this backend; a refused option is an error."""
    from flowslurm.errors import SubmitError

    lines, seen = [], set()
    for _source, opt, value, _where in report:
        sup = opt.support.get(backend)
        if sup is None or opt.dest in seen:
            continue
        seen.add(opt.dest)
        if backend == "local" and opt.dest.startswith("container_"):  # a runtime, sane mounts: before the job exists
            from flowslurm.providers.local.container import check_option

            check_option(opt.dest, value)
        if sup.level == "refused":
            raise SubmitError(f"--{opt.long} is not supported on the {backend} backend: {sup.note}")
        if sup.level in ("warned", "ignored"):
            lines.append(f"{prog}: warning: --{opt.long} has no effect on the {backend} backend ({sup.note})")
    return lines


def print_error(prog: str, err: SlurmInputError | FlowError, stream: TextIO) -> None:
    preamble = getattr(err, "preamble", None)
    if preamble:
        stream.write(preamble.rstrip("\n") + "\n")
    label = getattr(err, "level", None) or getattr(err, "label", "error")
    for line in err.message.splitlines() or [""]:
        if label == "bare" or line.startswith(f"{prog}: ") or line.startswith("Try \""):
            stream.write(line + "\n")
        else:
            stream.write(f"{prog}: {label}: {line}\n")


# On a cluster these run on a login node; here the login node is the compute node, so a client
# polling them (submitit, Snakemake, dask: several times a second) yields the CPUs to running jobs.
QUERY_COMMANDS = frozenset({"squeue", "sacct", "sinfo"})  # never start jobs (scontrol release may)
QUERY_NICE = 10


def yield_to_jobs() -> None:
    """Lower this process's CPU priority (FLOWSLURM_QUERY_NICE, default 10; 0 keeps it)."""
    try:
        os.nice(max(0, int(os.environ.get("FLOWSLURM_QUERY_NICE", QUERY_NICE))))
    except (ValueError, OSError):
        pass


def main_wrapper(prog: str, run: Callable[[list[str], Env], int]) -> Callable[[], None]:
    """Turn `run` into a console-script entry point: errors become SLURM-style lines, never tracebacks."""

    def main() -> None:
        if prog in QUERY_COMMANDS:
            yield_to_jobs()
        env = Env()
        try:
            code = run(sys.argv[1:], env)
        except SlurmInputError as err:
            print_error(prog, err, env.stderr)
            code = err.exit_code
        except FlowError as err:
            print_error(prog, err, env.stderr)
            code = 1
        except KeyboardInterrupt:
            code = 130
        except BrokenPipeError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            code = 1
        except Exception as exc:  # the boundary: no traceback reaches a user unless asked for
            if os.environ.get("FLOWSLURM_DEBUG"):
                raise
            env.stderr.write(f"{prog}: error: internal error: {type(exc).__name__}: {exc}\n")
            code = 1
        for stream in (env.stdout, env.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: what could be written was
                pass
        # Exit on the spot: a command leaves nothing to clean up (the ledger commits as it goes),
        # and the interpreter's own shutdown (freeing every module) costs some 10-15 ms a start.
        os._exit(code)

    return main


def local_allocation_only(backend: str) -> None:
    """srun and salloc outside a job make their allocation on this machine only: an interactive
    allocation on a cloud backend goes through its dev VM (`flow dev`), not a bid per command."""
    if backend != "local":
        raise SlurmInputError(
            f"interactive allocations are not available on the {backend} backend (FLOWSLURM_BACKEND={backend});"
            " `flow dev -c CMD` runs commands on a cloud dev VM, or unset FLOWSLURM_BACKEND to allocate here", 1)
