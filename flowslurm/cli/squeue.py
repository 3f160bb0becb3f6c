"""squeue: pending and running jobs from the ledger, in SLURM 22.05's formats."""

from __future__ import annotations

from flowslurm.cli.common import Env, answer_info, main_wrapper
from flowslurm.errors import SlurmInputError
from flowslurm.slurm.jobrefs import parse_job_ids
from flowslurm.slurm.options import parse_args
from flowslurm.slurm.opts_squeue import SPEC
from flowslurm.slurm.squeue_format import filter_states, parse_sort, parse_states, render, select_format

MIN_JOB_AGE_S = 300  # SLURM's default MinJobAge: finished jobs stay visible to squeue -t for 5 minutes
# What the default and -l listings read; other formats read every column.
LISTING_COLUMNS = (
    "job_id", "array_job_id", "array_task_id", "array_spec", "array_throttle", "partition", "name", "user",
    "state", "reason", "priority", "submit_time", "begin_time", "start_time", "end_time", "time_limit", "nodes",
    "node_list",
)
_ACTIVE = "('PENDING','RUNNING','SUSPENDED','COMPLETING','CONFIGURING','REQUEUED','RESIZING','SIGNALING','STAGE_OUT')"


def _in(column: str, items: list[str], where: list[str], params: list[object]) -> None:
    where.append(f'"{column}" IN ({",".join("?" * len(items))})')
    params.extend(items)


def run(argv: list[str], env: Env) -> int:
    parsed = parse_args(SPEC, argv)
    if answer_info(parsed, SPEC, env):
        return 0
    v = parsed.values
    compiled = select_format(v.get("format"), v.get("format_long"), long=bool(v.get("long")), environ=env.environ)
    for line in compiled.errors:
        env.stderr.write(line.rstrip("\n") + "\n")
    states = parse_states(str(v["states"])) if v.get("states") else None
    if v.get("sort"):
        try:
            parse_sort(str(v["sort"]))
        except SlurmInputError:
            env.stdout.write(render([], compiled, header=not v.get("noheader")))
            raise
    now = env.now()
    if states is None:  # the default: only jobs still in the queue
        where, params = [f"state IN {_ACTIVE}"], []
    else:
        where, params = [f"(state IN {_ACTIVE} OR end_time >= ?)"], [now - MIN_JOB_AGE_S]
    # -j takes an optional argument; `squeue -j 12 13` names the jobs as separate words
    job_words = ([str(v["jobs"])] if v.get("jobs") else []) + (parsed.positionals if "jobs" in v else [])
    selectors = parse_job_ids(job_words, "squeue") if job_words else []
    users = str(v["user"]).split(",") if v.get("user") else []
    if v.get("me"):
        from flowslurm.slurm.jobenv import job_user

        users.append(job_user()[0])
    if users:
        _in("user", users, where, params)
    for dest, column in (("name", "name"), ("partitions", "partition"), ("accounts", "account"), ("qos", "qos")):
        if v.get(dest):
            _in(column, str(v[dest]).split(","), where, params)

    from flowslurm import config
    from flowslurm.engine.ledger import Ledger

    ledger = Ledger.open()
    if selectors:
        keys = sorted({s.job_id for s in selectors})
        marks = ",".join("?" * len(keys))
        where.append(f"(job_id IN ({marks}) OR array_job_id IN ({marks}))")
        params += keys + keys
    default_format = v.get("format") is None and v.get("format_long") is None and not (
        env.environ.get("SQUEUE_FORMAT") or env.environ.get("SQUEUE_FORMAT2"))
    jobs = ledger.jobs(" AND ".join(where), params, only=LISTING_COLUMNS if default_format else None)
    if selectors:
        wanted = {(s.job_id, t) for s in selectors for t in (s.tasks or (None,))}
        jobs = [j for j in jobs if (j.job_id, None) in wanted or (j.array_job_id, None) in wanted
                or (j.array_job_id, j.array_task_id) in wanted]
        if not jobs:
            raise SlurmInputError("slurm_load_jobs error: Invalid job id specified", 1, label="bare")
    jobs = filter_states(jobs, states)
    unfold = bool(v.get("array")) or any(s.tasks for s in selectors)
    node = config.node()
    env.stdout.write(render(
        jobs, compiled, header=not v.get("noheader"), now=now, long_header_time=bool(v.get("long")),
        array_unfold=unfold, sort=v.get("sort"), node_name=node.name, cluster=node.cluster,
    ))
    return 0


main = main_wrapper("squeue", run)
