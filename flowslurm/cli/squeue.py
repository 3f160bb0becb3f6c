"""squeue: pending and running jobs from the ledger, in SLURM 22.05's formats."""

from __future__ import annotations

from itertools import groupby
from operator import attrgetter

from flowslurm.cli.common import Env, answer_info, main_wrapper
from flowslurm.engine.model import raw_id
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
_PENDING_TASK = "array_job_id IS NOT NULL AND array_task_id IS NOT NULL AND state = 'PENDING'"  # what folds


def _in(column: str, items: list[str], where: list[str], params: list[object]) -> None:
    where.append(f'"{column}" IN ({",".join("?" * len(items))})')
    params.extend(items)


def _fold_in_sql(ledger: Ledger, reads: tuple[str, ...], where: str, params: list[Any],
                 unfold: bool) -> tuple[list[Any], dict[int, list[Any]]] | None:
    """The rows squeue lists, pending array tasks folded as render's own folding would (one row
    per array, name and partition: a copy of its lowest task, placed where its first task was,
    with job_id = the array's id and array_spec its task ids), but by SQLite: a 1000-task array
    costs one row instead of 1000. With `unfold` (-r), also each folded row's (by id()) task rows,
    as render would expand them (job_id = the array's id), in task order. None when an array's
    master row (which holds task ids of its own) is pending: render must fold then."""
    rows = ledger.rows(reads, f"({where}) AND NOT ({_PENDING_TASK})", params)
    if any(r.array_task_id is None and r.array_job_id is not None and r.state == "PENDING" for r in rows):
        return None
    # Per array: its lowest task's row (SQLite takes a bare column from the row holding the one MIN)
    # and all its task ids. Pending tasks sort by (array, task) in job order (model.task_placeholder),
    # so the lowest task is also the first; the folded row stands where its array's id does.
    groups = ledger.conn.execute(
        f"SELECT job_id, MIN(array_task_id), group_concat(array_task_id) "
        f"FROM jobs WHERE ({where}) AND {_PENDING_TASK} GROUP BY array_job_id, name, partition", params).fetchall()
    if not groups:
        return rows, {}
    tasks = [task for task, _lowest, _ids in groups]
    lowest: dict[int, Any] = {}
    for start in range(0, len(tasks), 900):  # SQLite's limit on parameters
        chunk = tasks[start:start + 900]
        lowest.update((r.job_id, r) for r in ledger.rows(reads, f"job_id IN ({','.join('?' * len(chunk))})", chunk))
    places = [r.job_id for r in rows]
    by_key: dict[tuple[Any, ...], Any] = {}
    for task, _lowest, ids in groups:
        rep = lowest[task]
        first = raw_id(rep.job_id, rep.array_job_id)
        folded = rep.copy(job_id=rep.array_job_id, array_task_id=None,
                          array_spec=format_array_ids(list(map(int, ids.split(","))), rep.array_throttle))
        rows.append(folded)
        places.append(first)
        by_key[rep.array_job_id, rep.name, rep.partition] = folded
    members: dict[int, list[Any]] = {}
    if unfold:  # every task row, already with its array's id, grouped and in task order
        everyone = ledger.rows(
            reads, f"({where}) AND {_PENDING_TASK}", params,
            order="array_job_id, name, partition, array_task_id, jobs.job_id",
            exprs={"job_id": "array_job_id", "array_spec": "CASE WHEN job_id = array_job_id THEN array_spec END"})
        for key, group in groupby(everyone, attrgetter("job_id", "name", "partition")):
            same = list(group)  # one row per task id: the last, as render's expansion keeps
            members[id(by_key[key])] = list(dict(zip(map(attrgetter("array_task_id"), same), same)).values())
    return [row for _, row in sorted(zip(places, rows), key=lambda pair: pair[0])], members


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
    ledger.conn.execute("PRAGMA mmap_size = 268435456")  # a listing reads many pages: map them, no copies
    if selectors:
        keys = sorted({s.job_id for s in selectors})
        marks = ",".join("?" * len(keys))
        where.append(f"(job_id IN ({marks}) OR array_job_id IN ({marks}))")
        params += keys + keys
    unfold = bool(v.get("array")) or any(s.tasks for s in selectors)
    # Just the columns the format and sort read, as light rows (whole jobs when a field reads the
    # spec), arrays folded by SQLite unless listed task by task.
    where_sql = " AND ".join(where)
    reads = columns_read(compiled, sort)
    folded = None
    if reads is not None and not any(s.tasks for s in selectors):
        folded = _fold_in_sql(ledger, reads, where_sql, params, unfold)
    members = None
    if folded is not None:
        jobs, members = folded  # no task ids in -j: the SQL kept just what the filter below would
    else:
        jobs = ledger.jobs(where_sql, params) if reads is None else ledger.rows(reads, where_sql, params)
        if selectors:
            wanted = {(s.job_id, t) for s in selectors for t in (s.tasks or (None,))}
            jobs = [j for j in jobs if (j.job_id, None) in wanted or (j.array_job_id, None) in wanted
                    or (j.array_job_id, j.array_task_id) in wanted]
    if selectors and not jobs:
        raise SlurmInputError("slurm_load_jobs error: Invalid job id specified", 1, label="bare")
    jobs = filter_states(jobs, states)
    node = config.node()
    env.stdout.write(render(
        jobs, compiled, header=not v.get("noheader"), now=now, long_header_time=bool(v.get("long")),
        array_unfold=unfold, sort=sort, node_name=node.name, cluster=node.cluster, folded=members,
    ))
    return 0


main = main_wrapper("squeue", run)
