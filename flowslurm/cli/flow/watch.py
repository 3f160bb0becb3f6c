"""Following a task to its end (`flow run --watch`): progress while it starts, its output while it
runs, and an exit status that says how it ended (0 completed, 8 anything else).

The output is streamed to stdout as it is written; the progress (a spinner and "✓ step" lines)
goes to stderr and only on a terminal, so a piped `flow run --watch` carries just the output.
"""

from __future__ import annotations

import time

from flowslurm.api.errors import EXIT_OK, EXIT_TASK_FAILED
from flowslurm.api.logs import read_from
from flowslurm.api.status import TaskStatus
from flowslurm.cli.flow.output import Progress, is_tty

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.api.tasks import Task
    from flowslurm.cli.common import Env

POLL_S = 0.2
STEPS = {
    TaskStatus.PENDING: "Queued",
    TaskStatus.PROVISIONING: "Instance allocated, starting",
    TaskStatus.RUNNING: "Running",
}


def watch(task: Task, env: Env, *, quiet_output: bool = False) -> int:
    where = "this machine" if task.backend == "local" else f"{task.instance_type} on Mithril"
    seen: set[str] = set()
    offset = 0
    with Progress(env, f"Starting {task.task_id} ({where})...") as progress:
        while True:
            task.refresh()
            status = task.status
            if status not in seen and status in STEPS:
                seen.add(status)
                if status != TaskStatus.PENDING:
                    progress.step(STEPS[status] + (f" on {task.instance_type_name}" if status == TaskStatus.RUNNING
                                                  and task.instance_type_name else ""))
                progress.tick(f"{task.task_id}: {status}" + (f" ({task.message})" if status == TaskStatus.PENDING
                                                               and task.message != "waiting to start" else ""))
            chunk = read_from(task.log_path, offset)
            if chunk:
                offset += len(chunk)
                if not quiet_output:
                    if progress.tty:
                        progress._clear()
                    env.stdout.write(chunk.decode("utf-8", "replace"))
                    env.stdout.flush()
                    progress.tick()
                continue
            if task.is_terminal:
                break
            time.sleep(POLL_S)
            progress.tick()
    ok = task.status == TaskStatus.COMPLETED
    mark = "✓" if ok else "✗"
    line = f"{task.task_id} {task.status}: {task.message}"
    if task.total_cost:
        line += f" (cost ${task.total_cost:.2f})"
    env.stderr.write((f"{mark} " if is_tty(env.stderr) else "") + line + "\n")
    return EXIT_OK if ok else EXIT_TASK_FAILED
