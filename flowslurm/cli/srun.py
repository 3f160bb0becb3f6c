"""srun: run a job step, as SLURM 22.05's srun does, on the flowslurm engine.

Inside an allocation (SLURM_JOB_ID set, or --jobid) it launches a step of that job: the next step
number, N tasks with their own SLURM_* variables, output as srun relays it, the step recorded in
the ledger. Outside one, it first asks for an allocation with the same resource options (a job
that shows in squeue and sacct, waits for resources like any other, and is held by a shepherd that
enforces its time limit and scancel), runs the step in it, and releases it.
"""

from __future__ import annotations

import os

from flowslurm.cli.common import Env, answer_info, local_allocation_only, main_wrapper, option_warnings
from flowslurm.errors import SlurmInputError
from flowslurm.slurm import sbatch_spec
from flowslurm.slurm.options import env_argv, parse_args
from flowslurm.slurm.opts_srun import INPUT_ENV, JOB_ONLY_ENV, SPEC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.config import Node
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job
    from flowslurm.engine.spec import JobSpec

def _job_id(v: dict[str, Any], environ: dict[str, str]) -> int | None:
    text = v.get("jobid") or environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    if not text:
        return None
    try:
        return int(str(text).split("_")[0].split(".")[0])
    except ValueError:
        raise SlurmInputError(f"Invalid job id: {text}", 1) from None


def run(argv: list[str], env: Env) -> int:
    cli = parse_args(SPEC, argv)
    if answer_info(cli, SPEC, env):
        return 0
    inside_env = bool(env.environ.get("SLURM_JOB_ID") or env.environ.get("SLURM_JOBID"))
    skip = JOB_ONLY_ENV if inside_env or cli.has("jobid") else frozenset()
    env_parsed = parse_args(SPEC, env_argv(SPEC, INPUT_ENV, env.environ, skip), immediate=False)
    merged = sbatch_spec.merge([("environment", env_parsed, "SLURM_*"), ("command line", cli, "argv")])
    v = merged.values
    if not cli.positionals:
        raise SlurmInputError("No command given to execute.", 1, label="fatal")
    backend = env.environ.get("FLOWSLURM_BACKEND") or "local"
    if not v.get("quiet"):
        # (off a terminal, --pty gets SLURM's own two lines below instead)
        cli_report = [r for r in merged.report if r[0] == "command line" and (r[1].dest != "pty" or _tty(env))]
        for line in option_warnings("srun", cli_report, backend):
            env.stderr.write(line + "\n")
    from flowslurm.slurm.jobenv import job_user

    command = cli.positionals
    spec = sbatch_spec.build(
        v, script="", argv=command, environ=dict(env.environ), cwd=env.cwd, command=command[0], user=job_user(),
        now=env.now(), provider=backend,
    )
    if v.get("pty") and not _tty(env):
        _check_pty(env)
        v["pty"] = False  # disregarded, as SLURM's srun does off a terminal
    from flowslurm import config
    from flowslurm.engine.ledger import Ledger

    home = config.home_dir()
    node = config.node()
    ledger = Ledger.open(home)
    job_id = _job_id(v, env.environ)
    if job_id is not None:
        from flowslurm.engine import steps

        job, token = steps.allocation(ledger, job_id)
        return _step(v, spec, command, job, token, ledger, home, node, env)
    local_allocation_only(backend)
    return _with_allocation(v, spec, command, ledger, home, node, env)


def _tty(env: Env) -> bool:
    return bool(hasattr(env.stdin, "isatty") and env.stdin.isatty())


def _check_pty(env: Env) -> None:
    if not _tty(env):
        env.stderr.write("srun: error: ioctl(TIOCGWINSZ): Inappropriate ioctl for device\n"
                         "srun: error: Not using a pseudo-terminal, disregarding --pty option\n")


def _with_allocation(v: dict[str, Any], spec: JobSpec, command: list[str], ledger: Ledger, home: str, node: Node,
                     env: Env) -> int:
    """srun outside a job: allocate, run the step as step 0, release the allocation."""
    from flowslurm.engine import allocation

    spec.extra["alloc_owner"] = os.getpid()
    spec.extra["interactive"] = "srun"
    immediate = v.get("immediate")
    wait_s = None if "immediate" not in v else float(immediate or 0)
    job, token = allocation.request(spec, ledger, home, node, "srun", env.stderr, wait_s)
    try:
        return _step(v, spec, command, job, token, ledger, home, node, env, owner=True)
    except BaseException:
        allocation.release(ledger, home, node, job, "FAILED", 1, 0)
        raise


# ---------------------------------------------------------------- the step


def _step(v: dict[str, Any], spec: JobSpec, command: list[str], job: Job, token: str, ledger: Ledger, home: str,
          node: Node, env: Env, owner: bool = False) -> int:
    from flowslurm.providers.local.step import StepLauncher

    launcher = StepLauncher(v, spec, command, job, token, ledger, node, env, owner)
    outcome = launcher.run()
    if owner:
        from flowslurm.engine import allocation

        allocation.release(ledger, home, node, job, outcome.state, outcome.code, outcome.signal)
    return outcome.exit_status


main = main_wrapper("srun", run)
