"""flow logs: a task's output (stdout and stderr, as SLURM writes them), all of it, its tail, or
followed as it grows (`-f`, until the task ends). A cloud task's output is streamed home by the
engine, so this reads a local file for every backend: no network, no credentials.
"""

from __future__ import annotations

from flowslurm.cli.flow.args import FLAG, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env

SPEC = Command(
    "logs", "flow logs TASK [-f] [--tail N]",
    "Print a task's output. With -f, keep printing as it is written, until the task ends.",
    (
        Opt(("-f", "--follow"), "follow", FLAG, help="follow the output until the task ends"),
        Opt(("-n", "--tail"), "tail", VALUE, "N", "only the last N lines", number="int"),
    ),
    ("flow logs task-12", "flow logs task-12 -f", "flow logs train --tail 100", "flow logs :1"),
    positionals="task",
)


def run(argv: list[str], env: Env) -> int:
    from flowslurm.api.errors import UsageError
    from flowslurm.api.tasks import load_task

    p = parse(SPEC, argv)
    if len(p.positionals) != 1:
        raise UsageError("flow logs: give one task", ["e.g. flow logs task-12 (see `flow status`)"])
    tail = p.get("tail")
    if tail is not None and tail < 0:
        raise UsageError("flow logs: --tail must be 0 or more")
    task = load_task(p.positionals[0])
    if p.get("follow"):
        for line in task.logs(tail=tail, follow=True):
            env.stdout.write(line + "\n")
            env.stdout.flush()
        return 0
    text = task.logs(tail=tail)
    env.stdout.write(text)
    if not text and not task.is_terminal:
        env.stderr.write(f"flow logs: {task.task_id} is {task.status} and has written nothing yet "
                         f"(flow logs {task.task_id} -f waits for it)\n")
    return 0
