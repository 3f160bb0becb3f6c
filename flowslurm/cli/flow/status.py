"""flow status: the tasks in the ledger (sbatch's jobs too), newest first, or one task in detail.

It reads the ledger only: no network, no pydantic, so it answers in a few milliseconds and works
without credentials.
"""

from __future__ import annotations

import time

from flowslurm.cli.flow.args import FLAG, JSON, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.api.tasks import Task
    from flowslurm.cli.common import Env

DEFAULT_LIMIT = 20

SPEC = Command(
    "status", "flow status [TASK] [--all] [--state STATUS] [--json]",
    "List tasks (newest first; jobs submitted with sbatch included), or show one task in detail.\n"
    "A task is named by its id (task-12 or 12), its name, or :N (its row in this list).",
    (
        Opt(("-a", "--all"), "all", FLAG, help=f"list every task (default: the {DEFAULT_LIMIT} newest)"),
        Opt(("-s", "--state"), "state", VALUE, "STATUS", "only tasks in this status",
            choices=("pending", "provisioning", "running", "paused", "preempted", "completed", "failed", "cancelled",
                     "active")),
        Opt(("-n", "--name-pattern"), "pattern", VALUE, "GLOB", "only tasks whose name matches (dev-*)"),
        Opt(("-l", "--limit"), "limit", VALUE, "N", "list at most N tasks", number="int"),
        JSON,
    ),
    ("flow status", "flow status task-12", "flow status --state running --json", "flow status -n 'exp-*' --all"),
    positionals="task",
)

ACTIVE = ["pending", "provisioning", "running", "paused"]


def _money(value: float) -> str:
    return f"${value:.2f}" if value else "-"


def _detail(task: Task, env: Env) -> None:
    from flowslurm.cli.flow.output import ago

    job = task._job
    rows = [
        ("Task", f"{task.task_id} (SLURM job {task.slurm_job_id})"),
        ("Name", task.name),
        ("Status", task.status + (f" ({task.message})" if task.message != task.status else "")),
        ("Where", "this machine (local)" if task.backend == "local"
         else f"Mithril {task.instance_type}" + (f" -> {task.instance_type_name}" if task.instance_type_name else "")
         + (f", {task.region}" if task.region else "")),
        ("Submitted", f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(job.submit_time))} "
                      f"({ago(job.submit_time)})"),
    ]
    if job.start_time:
        rows.append(("Started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.start_time))))
    if job.end_time and task.is_terminal:
        rows.append(("Ended", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.end_time))))
    if job.time_limit:
        rows.append(("Time limit", f"{job.time_limit} min"))
    if task.backend != "local":
        rows.append(("Cost", f"${task.cost_per_hour:.2f}/h now, ${task.total_cost:.2f} so far"))
        if task.ssh_destination:
            rows.append(("SSH", f"flow ssh {task.task_id}"))
    for name, url in task._endpoints(wait=False).items():
        if not name.isdigit():
            rows.append((f"Endpoint {name}", url))
    rows += [("Directory", job.work_dir), ("Log", job.stdout)]
    width = max(len(k) for k, _ in rows) + 2
    env.stdout.write("".join(f"{k + ':':{width}}{v}\n" for k, v in rows))


def run(argv: list[str], env: Env) -> int:
    from flowslurm.api.tasks import load_task, load_tasks
    from flowslurm.cli.flow.output import ago, print_json, table

    p = parse(SPEC, argv)
    if len(p.positionals) > 1:
        from flowslurm.api.errors import UsageError

        raise UsageError("flow status: give at most one task", ["`flow status` lists them all"])
    if p.positionals:
        task = load_task(p.positionals[0])
        if p.get("json"):
            print_json(env, task.to_dict())
        else:
            _detail(task, env)
        return 0
    state = p.get("state")
    statuses = ACTIVE if state == "active" else [state] if state else None
    limit = None if p.get("all") else (p.get("limit") or DEFAULT_LIMIT)
    tasks = load_tasks(statuses=statuses, name=p.get("pattern"), limit=None if limit is None else limit + 1)
    more = limit is not None and len(tasks) > limit
    tasks = tasks[:limit] if limit is not None else tasks
    if p.get("json"):
        print_json(env, [t.to_dict() for t in tasks])
        return 0
    if not tasks:
        env.stdout.write("No tasks." + (" Submit one: flow run \"echo hello\"\n" if not (statuses or p.get("pattern"))
                                         else "\n"))
        return 0
    now = time.time()
    cloud = any(t.backend != "local" for t in tasks)
    indexed = not (statuses or p.get("pattern"))  # :N counts rows of the unfiltered list
    headers = (["#"] if indexed else []) + ["TASK", "NAME", "STATUS", "INSTANCE", "CREATED"] + (["COST/H"] if cloud else [])
    rows = []
    for index, t in enumerate(tasks, start=1):
        row = ([f":{index}"] if indexed else []) + [t.task_id, t.name, t.status, t.instance_type, ago(t.submitted, now)]
        if cloud:
            row.append(_money(t.cost_per_hour) if t.backend != "local" else "-")
        rows.append(row)
    env.stdout.write(table(headers, rows))
    if more:
        env.stdout.write("(more tasks: flow status --all)\n")
    return 0
