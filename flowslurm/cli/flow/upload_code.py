"""flow upload-code TASK: send this directory to a running cloud task's /workspace again.

The rules are the submit-time upload's: `.flowignore` if there is one, else `.gitignore`, in
gitignore syntax, plus the usual exclusions (.git, caches, virtualenvs). A local task runs in
its own directory, so there is nothing to send.
"""

from __future__ import annotations

from flowslurm.cli.flow.args import JSON, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env

SPEC = Command(
    "upload-code", "flow upload-code TASK [--source DIR]",
    "Upload a directory (default: this one) to a running cloud task's /workspace, honouring .flowignore.",
    (Opt(("--source",), "source", VALUE, "DIR", "the directory to upload (default: the current one)"), JSON),
    ("flow upload-code task-12", "flow upload-code dev-box --source ./src"),
    positionals="task",
)


def run(argv: list[str], env: Env) -> int:
    import os
    from pathlib import Path

    from flowslurm.api.cloud import translated
    from flowslurm.api.errors import UsageError
    from flowslurm.api.remote_access import connect
    from flowslurm.api.tasks import load_task
    from flowslurm.cli.flow.output import Progress, print_json

    p = parse(SPEC, argv)
    if len(p.positionals) != 1:
        raise UsageError("flow upload-code: give one task")
    task = load_task(p.positionals[0])
    source = Path(os.path.abspath(os.path.join(env.cwd, p.get("source") or ".")))
    if not source.is_dir():
        raise UsageError(f"flow upload-code: {source} is not a directory")
    if task.backend == "local":
        env.stdout.write(f"{task.task_id} runs on this machine, in {task.work_dir}: nothing to upload\n")
        return 0
    from flowslurm.providers.mithril import layout, upload

    with Progress(env, f"Uploading {source} to {task.task_id}...") as progress:
        with translated():
            files = upload.collect(source)
            remote = connect(task)
            try:
                stats = upload.upload_tree(remote, source, layout.WORKSPACE, files)
            finally:
                remote.close()
        progress.step(f"Uploaded {stats.files} files ({upload.human(stats.bytes)})")
    if p.get("json"):
        print_json(env, {"task": task.task_id, "files": stats.files, "bytes": stats.bytes,
                         "destination": layout.WORKSPACE})
    else:
        env.stdout.write(f"Uploaded {stats.files} files ({upload.human(stats.bytes)}) to {task.task_id}:"
                         f"{layout.WORKSPACE}\n")
    return 0
