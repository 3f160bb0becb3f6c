"""salloc: obtain an allocation, run a command in it, release it, as SLURM 22.05's salloc does.

The command (or the user's shell) runs with the allocation's SLURM_* variables, so `srun` inside
it launches steps there. Leaving the command releases the allocation; scancel or the time limit
revoke it and end the command. `--no-shell` grants the allocation and returns, leaving it to
`srun --jobid` and `scancel`.
"""

from __future__ import annotations

import os
import signal

from flowslurm.cli.common import Env, answer_info, local_allocation_only, main_wrapper, option_warnings
from flowslurm.slurm import sbatch_spec
from flowslurm.slurm.options import env_argv, parse_args
from flowslurm.slurm.opts_salloc import INPUT_ENV, SPEC

# The variables salloc gives its command (shared/slurm-golden/env-vars.txt), taken from the job's.
ALLOC_VARS = (
    "SLURM_CLUSTER_NAME", "SLURM_JOBID", "SLURM_JOB_ACCOUNT", "SLURM_JOB_CPUS_PER_NODE", "SLURM_JOB_ID",
    "SLURM_JOB_NAME", "SLURM_JOB_NODELIST", "SLURM_JOB_NUM_NODES", "SLURM_JOB_PARTITION", "SLURM_JOB_QOS",
    "SLURM_NNODES", "SLURM_NODELIST", "SLURM_NODE_ALIASES", "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST",
    "SLURM_TASKS_PER_NODE", "SLURM_NTASKS", "SLURM_NPROCS", "SLURM_CPUS_PER_TASK", "SLURM_JOB_GPUS",
)


def run(argv: list[str], env: Env) -> int:
    cli = parse_args(SPEC, argv)
    if answer_info(cli, SPEC, env):
        return 0
    merged = sbatch_spec.merge([("environment", parse_args(SPEC, env_argv(SPEC, INPUT_ENV, env.environ), immediate=False), "SALLOC_*"),
                                ("command line", cli, "argv")])
    v = merged.values
    backend = env.environ.get("FLOWSLURM_BACKEND") or "local"
    local_allocation_only(backend)
    if not v.get("quiet"):
        for line in option_warnings("salloc", [r for r in merged.report if r[0] == "command line"], backend):
            env.stderr.write(line + "\n")
    no_shell = bool(v.get("no_shell"))
    command = [] if no_shell else (cli.positionals or [env.environ.get("SHELL") or "/bin/sh"])
    if "job_name" not in v:
        v["job_name"] = "no-shell" if no_shell else "interactive"
    from flowslurm import config
    from flowslurm.engine import allocation
    from flowslurm.engine.ledger import Ledger
    from flowslurm.slurm.jobenv import batch_environ, job_user

    spec = sbatch_spec.build(v, script="", argv=command, environ=dict(env.environ), cwd=env.cwd,
                             command=command[0] if command else None, user=job_user(), now=env.now(),
                             provider=backend)
    spec.extra["interactive"] = "salloc"
    spec.extra["alloc_owner"] = 0 if no_shell else os.getpid()
    home, node = config.home_dir(), config.node()
    ledger = Ledger.open(home)
    wait_s = None if "immediate" not in v else float(v.get("immediate") or 0)
    job, token = allocation.request(spec, ledger, home, node, "salloc", env.stderr, wait_s)
    env.stderr.flush()
    if no_shell:
        return 0
    job_vars = batch_environ(job, cluster=node.cluster, node=node.name, submit_host=node.name)
    child_env = dict(env.environ)
    child_env.update({k: job_vars[k] for k in ALLOC_VARS if k in job_vars})
    from flowslurm.providers.local import proctree

    child_env[proctree.TOKEN_VAR] = token  # so scancel and the time limit reach the command too
    status = _run_command(command, child_env)
    state = allocation.job_state(ledger, job.job_id)
    if state not in allocation.ACTIVE:
        env.stderr.write(f"salloc: Job allocation {job.job_id} has been revoked.\n")
    env.stderr.write(f"salloc: Relinquishing job allocation {job.job_id}\n")
    code, sig = (0, -status) if status < 0 else (status, 0)
    allocation.release(ledger, home, node, job, "COMPLETED" if status == 0 else "FAILED", code, sig)
    return 128 + sig if sig else code


def _run_command(command: list[str], environ: dict[str, str]) -> int:
    """Run the command in salloc's own process group (it owns the terminal); exit code, or -signal."""
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
    try:
        try:
            pid = os.posix_spawnp(command[0], command, environ, setsigdef=(signal.SIGINT, signal.SIGQUIT))
        except OSError as exc:
            from flowslurm.errors import SlurmInputError

            raise SlurmInputError(f"{command[0]}: {exc.strerror}", 1) from None
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


main = main_wrapper("salloc", run)
