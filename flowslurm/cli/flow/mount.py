"""flow mount VOLUME TASK: attach a volume to a running cloud task, without restarting it.

Both are named as everywhere: a volume by id, name or :N (`flow volumes list`), a task by id, name
or :N (`flow status`). The volume appears at /mnt/NAME on the instance.
"""

from __future__ import annotations

from flowslurm.cli.flow.args import JSON, VALUE, Command, Opt, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.cli.common import Env

SPEC = Command(
    "mount", "flow mount VOLUME TASK [--path DIR]",
    "Attach a volume to a running cloud task. Block volumes attach to single-instance tasks only.",
    (Opt(("--path",), "path", VALUE, "DIR", "where it appears (default /mnt/NAME)"), JSON),
    ("flow mount vol_abc123 task-12", "flow mount training-data gpu-job-1", "flow mount :1 :2"),
    positionals="volume",
)


def run(argv: list[str], env: Env) -> int:
    from flowslurm.api.errors import UsageError
    from flowslurm.api.volumes import mount_volume
    from flowslurm.cli.flow.output import print_json

    p = parse(SPEC, argv)
    if len(p.positionals) != 2:
        raise UsageError("flow mount: give a volume and a task", ["e.g. flow mount training-data task-12"])
    volume, task = p.positionals
    path = mount_volume(volume, task, p.get("path"))
    if p.get("json"):
        print_json(env, {"volume": volume, "task": task, "mount_path": path})
    else:
        env.stdout.write(f"Mounted {volume} on {task} at {path}\n")
    return 0
