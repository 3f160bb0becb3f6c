"""scancel: cancel or signal jobs, with SLURM 22.05's selection options, messages and exit codes."""

from __future__ import annotations

import _signal as signal  # plain ints (`signal` builds enums at import)
import os

from flowslurm.cli.common import Env, answer_info, main_wrapper
from flowslurm.errors import SlurmInputError
from flowslurm.slurm.jobrefs import parse_job_ids
from flowslurm.slurm.options import parse_args
from flowslurm.slurm.opts_scancel import SPEC
from flowslurm.slurm.timeparse import digits_value
from flowslurm.slurm.values import parse_signal

_STATE_NAMES = {"PD": "PENDING", "R": "RUNNING", "S": "SUSPENDED", "CG": "COMPLETING", "CF": "CONFIGURING"}


def _filters(values: dict[str, object], env: Env) -> tuple[str, list[object]]:
    where, params = ["1"], []
    for dest, column in (("name", "name"), ("partition", "partition"), ("account", "account"), ("qos", "qos")):
        if values.get(dest):
            items = str(values[dest]).split(",")
            where.append(f'"{column}" IN ({",".join("?" * len(items))})')
            params += items
    users = str(values["user"]).split(",") if values.get("user") else []
    if values.get("me"):
        from flowslurm.slurm.jobenv import job_user

        users.append(job_user()[0])
    if users:
        # a uid is at most INT_MAX, as uid_from_string() reads it (no huge or non-ASCII digits)
        uids = [digits_value(u) for u in users if u.isascii() and u.isdigit() and digits_value(u) <= 2**31 - 1]
        where.append(f"(user IN ({','.join('?' * len(users))}) OR uid IN ({','.join('?' * len(uids)) or 'NULL'}))")
        params += users + uids
    if values.get("state"):
        states = []
        for item in str(values["state"]).split(","):
            name = _STATE_NAMES.get(item.upper(), item.upper())
            if name not in _STATE_NAMES.values():
                raise SlurmInputError(f"Invalid job state specified: {item}", 1)
            states.append(name)
        where.append(f"state IN ({','.join('?' * len(states))})")
        params += states
    return " AND ".join(where), params


def run(argv: list[str], env: Env) -> int:
    parsed = parse_args(SPEC, argv)
    if answer_info(parsed, SPEC, env):
        return 0
    v = parsed.values
    verbose = int(v.get("verbose", 0))
    selectors = parse_job_ids(parsed.positionals, "scancel") if parsed.positionals else []
    has_filter = any(v.get(k) for k in ("name", "user", "me", "state", "partition", "account", "qos", "nodelist", "wckey"))
    if not selectors and not has_filter:
        raise SlurmInputError("No job identification provided", 1)
    signum = parse_signal(str(v["signal"])) if v.get("signal") else None

    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.select import raw_ids
    from flowslurm.engine.submit import cancel, send_signal

    ledger = Ledger.open()
    where, params = _filters(v, env)
    active = "state IN ('PENDING','RUNNING','SUSPENDED','COMPLETING','CONFIGURING','REQUEUED')"
    if selectors:
        ids = raw_ids(ledger, selectors)
        if verbose:
            known = {sel.job_id for sel in selectors if ids}
            for sel in selectors:
                env.stderr.write(f"scancel: Terminating job {sel.job_id}\n")
                if sel.job_id not in known or not ids:
                    env.stderr.write(f"scancel: error: Kill job error on job id {sel.job_id}: Invalid job id specified\n")
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        rows = ledger.conn.execute(f"SELECT job_id, state FROM jobs WHERE job_id IN ({marks}) AND {where}",
                                   [*ids, *params]).fetchall()
        if verbose:
            for job_id, state in rows:
                if state not in ("PENDING", "RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING"):
                    env.stderr.write(f"scancel: error: Kill job error on job id {job_id}: "
                                     "Job/step already completing or completed\n")
        targets = [job_id for job_id, state in rows if state in ("PENDING", "RUNNING", "SUSPENDED", "CONFIGURING")]
    else:
        targets = [r[0] for r in ledger.conn.execute(f"SELECT job_id FROM jobs WHERE {active} AND {where}", params)]
    if v.get("interactive"):
        targets = [j for j in targets if _confirm(j, env)]
    if signum is None or signum == signal.SIGKILL:
        cancel(ledger, targets, os.getuid())
    else:
        scope = "full" if v.get("full") else "batch" if v.get("batch") else "steps"
        send_signal(ledger, targets, signum, scope)
    return 0


def _confirm(job_id: int, env: Env) -> bool:
    env.stdout.write(f"Cancel job_id={job_id} [y/n]? ")
    env.stdout.flush()
    answer = env.stdin.readline() if env.stdin else ""
    return answer.strip().lower() in ("y", "yes")


main = main_wrapper("scancel", run)
