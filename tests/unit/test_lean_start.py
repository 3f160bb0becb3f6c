"""The commands people run in tight loops start without the stdlib's heavy modules.

Start-up is most of what squeue, sbatch and scancel cost (benchmarks/bench_cli.py); each of these
modules adds milliseconds to every call, and a casual top-level import brings them back silently.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("functools", "collections", "re", "json", "enum", "typing", "datetime", "subprocess", "httpx", "yaml")


def _imported(args: list[str], home: Path) -> set[str]:
    env = dict(os.environ, FLOWSLURM_HOME=str(home))
    code = f"import sys; sys.argv = {args!r}; from flowslurm.cli.{args[0]} import main; main()"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, cwd=home,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [
    ["sbatch", "--parsable", "--hold", "--wrap", "true"],
    ["squeue"],
    ["squeue", "-h", "-o", "%i %j %T %M %l %D %R"],
    ["scancel", "1"],
])
def test_loop_commands_leave_heavy_modules_alone(args: list[str], tmp_path: Path) -> None:
    if args[0] != "sbatch":
        _imported(["sbatch", "--parsable", "--hold", "--wrap", "true"], tmp_path)  # a ledger with a job in it
    assert sorted(set(HEAVY) & _imported(args, tmp_path)) == []
