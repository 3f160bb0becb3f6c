"""squeue: pending and running jobs from the ledger, in SLURM 22.05's formats."""

from __future__ import annotations

from flowslurm.cli.common import Env, answer_info, main_wrapper
from flowslurm.errors import SlurmInputError
from flowslurm.slurm.options import parse_args
from flowslurm.slurm.opts_squeue import SPEC
from flowslurm.slurm.squeue_format import (
    columns_read, filter_states, format_array_ids, parse_sort, parse_states, render, select_format,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.engine.ledger import Ledger

MIN_JOB_AGE_S = 300  # SLURM's default MinJobAge: finished jobs stay visible to squeue -t for 5 minutes
_ACTIVE = "('PENDING','RUNNING','SUSPENDED','COMPLETING','CONFIGURING','REQUEUED','RESIZING','SIGNALING','STAGE_OUT')"


_PENDING_TASK = "array_job_id IS NOT NULL AND array_task_id IS NOT NULL AND state = 'PENDING'"


def _in(column: str, items: list[str], where: list[str], params: list[object]) -> None:
    where.append(f'"{column}" IN ({",".join("?" * len(items))})')
    params.extend(items)


def _fold_in_sql(ledger: Ledger, reads: tuple[str, ...], where: str, params: list[Any]) -> list[Any] | None:
    """The rows squeue lists without -r, pending array tasks already folded, as render's own
    folding would (one row per array, name and partition: a copy of its lowest task, placed where
    its first task was, with job_id = the array's id and array_spec its task ids), but done by
    SQLite: a 1000-task array costs one row instead of 1000. None when an array's master row
    (which holds task ids of its own) is pending: render must fold then."""
    rows = ledger.rows(reads, f"{where} AND NOT ({_PENDING_TASK})", params)
    if any(r.array_task_id is None and r.array_job_id is not None and r.state == "PENDING" for r in rows):
        return None
    # Per array: where its first task is, its lowest task (ties: the first; a task id fits in 32
    # bits, so the smallest task_id << 32 | job_id names it) and all its task ids.
    groups = ledger.conn.execute(
        f"SELECT MIN(job_id), MIN((array_task_id << 32) | job_id) & 4294967295, group_concat(array_task_id) "
        f"FROM jobs WHERE {where} AND {_PENDING_TASK} GROUP BY array_job_id, name, partition", params).fetchall()
    if not groups:
        return rows
    lowest = {r.job_id: r for r in ledger.rows(reads, f"job_id IN ({','.join('?' * len(groups))})",
                                                 [g[1] for g in groups])}
    places = [r.job_id for r in rows]
    for first, task, ids in groups:
        rep = lowest[task]
        rows.append(rep.copy(job_id=rep.array_job_id, array_task_id=None,
                             array_spec=format_array_ids(list(map(int, ids.split(","))), rep.array_throttle)))
        places.append(first)
    return [row for _, row in sorted(zip(places, rows), key=lambda pair: pair[0])]


def run(argv: list[str], env: Env) -> int:
    parsed = parse_args(SPEC, argv)
    if answer_info(parsed, SPEC, env):
        return 0
    v = parsed.values
    compiled = select_format(v.get("format"), v.get("format_long"), long=bool(v.get("long")), environ=env.environ)
    for line in compiled.errors:
        env.stderr.write(line.rstrip("\n") + "\n")
    states = parse_states(str(v["states"])) if v.get("states") else None
    sort = str(v["sort"]) if v.get("sort") else None
    if sort:
        try:
            parse_sort(sort)
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
    if job_words:
        from flowslurm.slurm.jobrefs import parse_job_ids

        selectors = parse_job_ids(job_words, "squeue")
    else:
        selectors = []
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
    unfold = bool(v.get("array")) or any(s.tasks for s in selectors)
    # Just the columns the format and sort read, as light rows (whole jobs when a field reads the
    # spec), arrays folded by SQLite unless listed task by task.
    reads = columns_read(compiled, sort)
    folded = None
    if reads is not None and not unfold:
        folded = _fold_in_sql(ledger, reads, " AND ".join(where), params)
    if folded is not None:
        jobs = folded  # -j without task ids: the SQL above selected exactly what the filter below would
        if selectors and not jobs:
            raise SlurmInputError("slurm_load_jobs error: Invalid job id specified", 1, label="bare")
    elif reads is None:
        jobs = ledger.jobs(" AND ".join(where), params)
    else:
        jobs = ledger.rows(reads, " AND ".join(where), params)
    if selectors and folded is None:
        wanted = {(s.job_id, t) for s in selectors for t in (s.tasks or (None,))}
        jobs = [j for j in jobs if (j.job_id, None) in wanted or (j.array_job_id, None) in wanted
                or (j.array_job_id, j.array_task_id) in wanted]
        if not jobs:
            raise SlurmInputError("slurm_load_jobs error: Invalid job id specified", 1, label="bare")
    jobs = filter_states(jobs, states)
    node = config.node()
    env.stdout.write(render(
        jobs, compiled, header=not v.get("noheader"), now=now, long_header_time=bool(v.get("long")),
        array_unfold=unfold, sort=sort, node_name=node.name, cluster=node.cluster, folded=folded is not None,
    ))
    return 0


main = main_wrapper("squeue", run)
