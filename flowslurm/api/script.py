"""The batch script a Flow task runs: a bash script, as `sbatch --wrap` would make.

A string command is run as written by bash (pipes, `&&`, `$VAR` all work). A list command is one
program and its arguments: each is quoted, but in double quotes, so `$FLOW_NODE_RANK` in an
argument still expands, as the seed's multi-node example expects; backslashes, backquotes and
double quotes in it are escaped. No command keeps the machine up for interactive use until the
task is cancelled or its run time ends (`flow run -i h100` is a dev box).
"""

from __future__ import annotations

import shlex

__all__ = ["KEEP_ALIVE", "WORKSPACE", "command_text", "task_script"]

KEEP_ALIVE = "echo \"flow: no command given; the instance stays up until cancelled\"\nexec sleep infinity"
WORKSPACE = "/workspace"  # where a cloud task's code is; a local task's is its submit directory
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def _quote_arg(arg: str) -> str:
    if arg and set(arg) <= _SAFE:
        return arg
    if "$" not in arg:
        return shlex.quote(arg)
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    return f'"{escaped}"'


def command_text(command: str | list[str] | None) -> str:
    if command is None:
        return KEEP_ALIVE
    if isinstance(command, str):
        return command.strip("\n")
    return " ".join(_quote_arg(a) for a in command)


def local_work_dir(working_dir: str | None, code_root: str) -> str:
    """Where a local task runs: `working_dir` under the seed's /workspace maps to the code root
    (a local task's code is where it was submitted from); a relative one is under the root."""
    import os

    if not working_dir:
        return code_root
    if working_dir == WORKSPACE or working_dir.startswith(WORKSPACE + "/"):
        return os.path.normpath(os.path.join(code_root, working_dir[len(WORKSPACE):].lstrip("/")))
    return os.path.normpath(os.path.join(code_root, working_dir))


def cloud_cd(working_dir: str | None) -> str | None:
    """The `cd` a cloud task's script starts with (it starts in /workspace, the uploaded code)."""
    if not working_dir or working_dir in (WORKSPACE, WORKSPACE + "/", "."):
        return None
    if working_dir.startswith(WORKSPACE + "/"):
        return "cd " + shlex.quote(working_dir[len(WORKSPACE) + 1:])
    return "cd " + shlex.quote(working_dir)


def task_script(command: str | list[str] | None, *, name: str, cd: str | None = None) -> str:
    lines = ["#!/bin/bash", f"# flow task {name}"]
    if cd:
        lines.append(f"{cd} || exit 1")
    lines.append(command_text(command))
    return "\n".join(lines) + "\n"
