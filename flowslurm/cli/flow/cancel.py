"""flow cancel: stop tasks by id, name, or a name pattern (`--name-pattern "dev-*"`).

Cancelling is the engine's scancel: a pending task ends at once, a running one is stopped (its
process tree here, or its cloud bid, which stops the billing). More than one task is cancelled
only after a yes on the terminal, or with --yes; without a terminal to ask, nothing is cancelled
and the command exits 2, so a script never cancels more than it meant to by accident.
"""

from __future__ import annotations

from flowslurm.cli.flow.args import FLAG, JSON, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env

SPEC = Command(
    "cancel", "flow cancel TASK... | --name-pattern GLOB [--yes]",
    "Cancel tasks. Several at once (a pattern, or several ids) are confirmed first unless --yes.",
    (
        Opt(("-n", "--name-pattern"), "pattern", VALUE, "GLOB", "cancel every live task whose name matches"),
        Opt(("-y", "--yes"), "yes", FLAG, help="do not ask for confirmation"),
        Opt(("--all",), "all", FLAG, help="cancel every live task"),
        JSON,
    ),
    ("flow cancel task-12", 'flow cancel --name-pattern "dev-*"', 'flow cancel -n "flow-dev-*" --yes',
     "flow cancel 12 13 14 --yes"),
    positionals="task",
)


def run(argv: list[str], env: Env) -> int:
    import os

    from flowslurm.api import lookup
    from flowslurm.api.errors import UsageError
    from flowslurm.cli.flow.output import confirm, print_json
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.submit import cancel

    p = parse(SPEC, argv)
    chosen = sum(bool(x) for x in (p.positionals, p.get("pattern"), p.get("all")))
    if chosen != 1:
        raise UsageError("flow cancel: name the tasks: TASK..., --name-pattern GLOB, or --all",
                         ["`flow status` lists tasks"])
    ledger = Ledger.open()
    try:
        if p.positionals:
            ids = lookup.resolve_many(ledger, p.positionals)
        else:
            where, params = lookup.ACTIVE_SQL + " AND cancel_requested IS NULL", []  # not those already going
            if p.get("pattern"):
                where += " AND name GLOB ?"
                params.append(p.get("pattern"))
            ids = [r[0] for r in ledger.conn.execute(f"SELECT job_id FROM jobs WHERE {where} ORDER BY job_id", params)]
        rows = ledger.conn.execute(
            f"SELECT job_id, name, state, array_job_id, array_task_id FROM jobs WHERE job_id IN "
            f"({','.join('?' * len(ids)) or 'NULL'}) ORDER BY job_id", ids).fetchall()
        live = [r for r in rows if r[2] in ("PENDING", "RUNNING", "SUSPENDED", "CONFIGURING", "COMPLETING",
                                            "REQUEUED")]
        ended = [r for r in rows if r not in live]
        for r in ended:
            env.stderr.write(f"flow cancel: {lookup.task_id_of(r[0], r[3], r[4])} ({r[1]}) already ended "
                             f"({r[2].lower()})\n")
        if not live:
            if p.get("json"):
                print_json(env, {"cancelled": []})
            elif not ended:
                env.stdout.write("No live task matches.\n")
            return 0
        names = [f"{lookup.task_id_of(r[0], r[3], r[4])} ({r[1]})" for r in live]
        if len(live) > 1 and not p.get("yes"):
            env.stderr.write(f"{len(live)} tasks would be cancelled:\n" + "".join(f"  {n}\n" for n in names))
            if not confirm(env, f"Cancel these {len(live)} tasks?"):
                env.stderr.write("flow cancel: nothing cancelled" + (" (no terminal to ask: pass --yes)"
                                                                      if not _tty(env) else "") + "\n")
                return 2 if not _tty(env) else 1
        done = cancel(ledger, [r[0] for r in live], os.getuid())
    finally:
        ledger.close()
    cancelled = [n for r, n in zip(live, names) if r[0] in done]
    if p.get("json"):
        print_json(env, {"cancelled": [n.split(" ")[0] for n in cancelled]})
    else:
        for n in cancelled:
            env.stdout.write(f"Cancelled {n}\n")
    return 0


def _tty(env: Env) -> bool:
    from flowslurm.cli.flow.output import is_tty

    return is_tty(env.stdin)
