"""sacct: accounting records of jobs and their steps, from the ledger, in SLURM 22.05's formats."""

from __future__ import annotations


from flowslurm.cli.common import Env, answer_info, main_wrapper
from flowslurm.slurm.options import parse_args
from flowslurm.slurm.opts_sacct import SPEC
from flowslurm.slurm.sacct_format import columns_read, field_list_spec, helpformat, parse_format, render, rows_for
from flowslurm.slurm.sacct_select import (
    READS,
    Selection,
    parse_states,
    parse_time_arg,
    select_jobs,
    split_list,
    steps_only,
    time_window,
)

_REPEATABLE = ("jobs", "format", "state", "name", "user", "accounts", "partition")


def _collect(given: list, dest: str) -> list[str]:
    return [str(value) for opt, value in given if opt.dest == dest and value is not None]


def run(argv: list[str], env: Env) -> int:
    parsed = parse_args(SPEC, argv)
    if answer_info(parsed, SPEC, env):
        return 0
    v = parsed.values
    if v.get("helpformat"):
        env.stdout.write(helpformat())
        return 0
    lists = {dest: _collect(parsed.given, dest) for dest in _REPEATABLE}
    now = env.now()
    ids = []
    if lists["jobs"]:
        from flowslurm.slurm.jobrefs import parse_job_ids

        ids = parse_job_ids([i for item in lists["jobs"] for i in split_list(item)], "sacct")
    states = parse_states([s for item in lists["state"] for s in split_list(item)])
    start = parse_time_arg(str(v["starttime"]), now) if v.get("starttime") else None
    end = parse_time_arg(str(v["endtime"]), now) if v.get("endtime") else None
    columns = parse_format(
        field_list_spec(lists["format"], brief=bool(v.get("brief")), long=bool(v.get("long")), env=env.environ)
    )
    window = time_window(start, end, now=now, has_ids=bool(ids), has_states=bool(states))
    users: tuple[str, ...] = ()
    if lists["user"]:
        users = tuple(u for item in lists["user"] for u in split_list(item))
    elif not (v.get("allusers") or ids):
        from flowslurm.slurm.jobenv import job_user

        users = (job_user()[0],)
    sel = Selection(
        window, tuple(ids), tuple(states), tuple(n for item in lists["name"] for n in split_list(item)), users,
        tuple(a for item in lists["accounts"] for a in split_list(item)),
        tuple(p for item in lists["partition"] for p in split_list(item)),
    )
    from flowslurm import config
    from flowslurm.engine.ledger import Ledger

    ledger = Ledger.open()
    ledger.conn.execute("PRAGMA mmap_size = 268435456")  # a listing reads many pages: map them, no copies
    if ids:
        keys = sorted({s.job_id for s in ids})
        marks = ",".join("?" * len(keys))
        where, params = f"job_id IN ({marks}) OR array_job_id IN ({marks})", (*keys, *keys)
    else:
        where, params = "(end_time IS NULL OR end_time >= ?) AND submit_time <= ?", (window[0], window[1])
    # Just the columns the fields and the selection read, as light rows, with steps only when
    # they are listed or read (whole jobs when a field reads the spec).
    allocations = bool(v.get("allocations"))
    reads = columns_read(columns)
    if reads is None:
        jobs = ledger.jobs(where, params, with_steps=True)
    else:
        wanted = dict.fromkeys(READS + ("restart_count",))
        wanted.update(dict.fromkeys(reads))
        with_steps = not allocations or "steps" in wanted
        wanted.pop("steps", None)
        jobs = ledger.rows(tuple(wanted), where, params, with_steps=with_steps)
    if any(job.restart_count for job in jobs):  # requeued jobs: earlier runs are records of their own
        from flowslurm.engine.requeue import accounting_records

        jobs = accounting_records(ledger, jobs, duplicates=bool(v.get("duplicates")))
    chosen = select_jobs(jobs, sel)
    rows = rows_for(chosen, allocations_only=allocations, steps_only=steps_only(chosen, ids))
    parsable = "no_ending" if v.get("parsable2") else "ending" if v.get("parsable") else None
    env.stdout.write(render(
        rows, columns, header=not v.get("noheader"), parsable=parsable, delimiter=v.get("delimiter"), now=now,
        cluster=config.node().cluster, units=v.get("units"), noconvert=bool(v.get("noconvert")),
    ))
    return 0


main = main_wrapper("sacct", run)
