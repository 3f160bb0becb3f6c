"""What every SLURM-style command shares: the environment seam, error printing and exit codes.

Commands are written as `run(argv, env) -> int` over an `Env` (streams, environment variables,
working directory, clock), so tests can drive them in-process as well as through real processes.
SLURM's messages and exit codes live here and in the command modules, nowhere else.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from flowslurm.errors import FlowError, SlurmInputError


@dataclass
class Env:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: str = field(default_factory=os.getcwd)
    now: Callable[[], float] = time.time


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


def main_wrapper(prog: str, run: Callable[[list[str], Env], int]) -> Callable[[], None]:
    """Turn `run` into a console-script entry point: errors become SLURM-style lines, never tracebacks."""

    def main() -> None:
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
        try:
            env.stdout.flush()
        except BrokenPipeError:
            pass
        sys.exit(code)

    return main
