"""Query commands yield the CPUs to running jobs (the local machine is login node and compute node at once)."""

from __future__ import annotations

import os
import subprocess
import sys

from flowslurm.cli.common import QUERY_COMMANDS

PROBE = "from flowslurm.cli.common import yield_to_jobs; import os; before = os.nice(0); yield_to_jobs(); print(os.nice(0) - before)"


def _raised_by(env_value: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "FLOWSLURM_QUERY_NICE"}
    if env_value is not None:
        env["FLOWSLURM_QUERY_NICE"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout
    return int(out)


def test_queries_lower_their_priority_unless_told_not_to() -> None:
    assert _raised_by(None) == 10
    assert _raised_by("3") == 3
    assert _raised_by("0") == 0
    assert _raised_by("junk") == 0


def test_commands_that_start_jobs_keep_their_priority() -> None:
    # anything a niced process starts inherits its niceness: jobs must never be started from one
    assert QUERY_COMMANDS == {"squeue", "sacct", "sinfo"}
