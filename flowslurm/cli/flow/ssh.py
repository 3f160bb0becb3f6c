"""flow ssh: a shell where a task runs, or one command there (`flow ssh TASK -- nvidia-smi`).

A cloud task's instance is reached over SSH with the key the engine registered; a local task's
"machine" is this one, in the task's directory with its SLURM_JOB_ID. The command's exit status
is flow's.
"""

from __future__ import annotations

from flowslurm.cli.flow.args import FLAG, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env

SPEC = Command(
    "ssh", "flow ssh TASK [--node N] [-- COMMAND...]",
    "Open a shell on the machine a task runs on, or run COMMAND there and exit with its status.",
    (
        Opt(("--node",), "node", VALUE, "N", "which instance of a multi-instance task (0 is the first)",
            number="int"),
        Opt(("--show",), "show", FLAG, help="print the ssh command line instead of running it"),
    ),
    ("flow ssh task-12", "flow ssh task-12 -- nvidia-smi", "flow ssh dev-box -- tail -f /workspace/train.log"),
    positionals="task",
)


def run(argv: list[str], env: Env) -> int:
    import shlex

    from flowslurm.api.errors import UsageError
    from flowslurm.api.tasks import load_task

    p = parse(SPEC, argv)
    if not p.positionals:
        raise UsageError("flow ssh: give a task", ["e.g. flow ssh task-12 (see `flow status`)"])
    task = load_task(p.positionals[0])
    command = p.positionals[1:] + p.after_dashdash
    if p.get("show"):
        line = task.shell_command
        if line is None:
            env.stderr.write(f"flow ssh: {task.task_id} has no instance address yet (it is {task.status})\n")
            return 1
        env.stdout.write(line + "\n")
        return 0
    text = None
    if command:
        text = command[0] if len(command) == 1 else shlex.join(command)
    env.stdout.flush()
    if text is None:
        return int(task.shell(None, node=p.get("node")))
    status, out, err = task.shell(text, node=p.get("node"), capture=True)
    env.stdout.write(out)
    env.stderr.write(err)
    return int(status) if status >= 0 else 1
