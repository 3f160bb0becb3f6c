"""Snakemake with the slurm executor plugin, unchanged, against flowslurm (shared/research/clients.md §5).

The `snakemake` executable is run from a shell as a user would, with `--executor slurm`. On the
submit side the plugin asks `scontrol show config` and `sinfo -o %P`, tries to guess an account
with sacct, submits with `sbatch --parsable ... --wrap="python -m snakemake ... --executor
slurm-jobstep ..."` and polls `sacct -X --parsable2 --clusters all --noheader
--format=JobIdRaw,State ... --name <run uuid>`. Inside the job, the jobstep plugin runs the rule
as `srun -n1 --cpu-bind=q --cpus-per-task=1 ...` with every SLURM_* variable but SLURM_JOB_ID
(and a few others) removed from its environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import BIN, Cluster

pytest.importorskip("snakemake_executor_plugin_slurm")  # a test extra: pip install -e '.[test]'

SNAKEFILE = """\
rule shout:
    input: "greeting.txt"
    output: "loud.txt"
    shell: "tr a-z A-Z < {input} > {output} && echo job=$SLURM_JOB_ID >> {output}"
"""


def _snakemake(cluster: Cluster, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    venv_bin = Path(sys.executable).parent  # as with an activated virtualenv
    env = dict(cluster.env)
    env["PATH"] = f"{BIN}{os.pathsep}{venv_bin}{os.pathsep}{cluster.env['PATH']}"
    env["XDG_CACHE_HOME"] = str(cluster.workdir.parent / "cache")  # HOME is the test's tmp dir already
    snakemake = shutil.which("snakemake", path=env["PATH"])
    assert snakemake == str(venv_bin / "snakemake")
    return subprocess.run([snakemake, *args], cwd=cluster.workdir, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_one_rule_through_sbatch(cluster: Cluster) -> None:
    (cluster.workdir / "Snakefile").write_text(SNAKEFILE)
    (cluster.workdir / "greeting.txt").write_text("hello from snakemake\n")
    started = time.monotonic()
    res = _snakemake(
        cluster,
        "--executor", "slurm",
        "--jobs", "1",
        "--slurm-init-seconds-before-status-checks", "1",  # first sacct poll after 1 s, not 40
        "--seconds-between-status-checks", "1",
        timeout=240,
    )
    log = f"rc={res.returncode}\nSTDOUT:\n{res.stdout}\nSTDERR:\n{res.stderr}"
    assert res.returncode == 0, log
    output = (cluster.workdir / "loud.txt").read_text().splitlines()
    assert output[0] == "HELLO FROM SNAKEMAKE"
    job_id = output[1].removeprefix("job=")
    assert job_id.isdigit(), log
    sacct = cluster.run("sacct", "-X", "--parsable2", "--noheader", "--format=JobID,State,Partition", "-j", job_id)
    assert sacct.stdout.strip() == f"{job_id}|COMPLETED|local", sacct.stdout + sacct.stderr
    # the jobstep plugin ran the rule as step 0 of the batch job, through srun
    steps = cluster.run("sacct", "--parsable2", "--noheader", "--format=JobID,State", "-j", job_id).stdout.split()
    assert f"{job_id}.batch|COMPLETED" in steps and f"{job_id}.0|COMPLETED" in steps, steps
    assert cluster.run("squeue", "--noheader").stdout == ""
    assert time.monotonic() - started < 120, log
