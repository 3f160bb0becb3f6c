"""The Flow Python API on flowslurm's engine: `import flow` re-exports exactly this.

    import flow
    from flow import TaskConfig

    task = flow.run("python train.py")                        # this machine
    task = flow.run("python train.py", instance_type="a100")  # a Mithril A100
    task.wait(); print(task.logs())

Every task is a job in the engine's ledger: `squeue` and `sacct` show it under its SLURM id, and
`flow.get_task` finds jobs `sbatch` submitted. Names are loaded on first use (PEP 562), so
`import flow` costs almost nothing and pydantic is imported only when TaskConfig is touched.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.api import errors
    from flowslurm.api.client import Flow, get_task, list_tasks, run
    from flowslurm.api.config import TaskConfig, VolumeSpec
    from flowslurm.api.remote_fn import RemoteFunction, function, invoke
    from flowslurm.api.status import TaskStatus
    from flowslurm.api.submission import Plan
    from flowslurm.api.tasks import Instance, Task, User
    from flowslurm.api.volumes import Volume, create_volume, delete_volume, list_volumes, mount_volume

__all__ = [
    "Flow", "Instance", "Plan", "RemoteFunction", "Task", "TaskConfig", "TaskStatus", "User", "Volume",
    "VolumeSpec", "cancel", "create_volume", "delete_volume", "errors", "function", "get_task", "invoke",
    "list_tasks", "list_volumes", "mount_volume", "run", "__version__",
]

__version__ = "0.1.0"

# name -> (module, attribute); attribute None means the module itself.
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "Flow": ("flowslurm.api.client", "Flow"),
    "run": ("flowslurm.api.client", "run"),
    "get_task": ("flowslurm.api.client", "get_task"),
    "list_tasks": ("flowslurm.api.client", "list_tasks"),
    "TaskConfig": ("flowslurm.api.config", "TaskConfig"),
    "VolumeSpec": ("flowslurm.api.config", "VolumeSpec"),
    "Task": ("flowslurm.api.tasks", "Task"),
    "Instance": ("flowslurm.api.tasks", "Instance"),
    "User": ("flowslurm.api.tasks", "User"),
    "TaskStatus": ("flowslurm.api.status", "TaskStatus"),
    "Plan": ("flowslurm.api.submission", "Plan"),
    "function": ("flowslurm.api.remote_fn", "function"),
    "invoke": ("flowslurm.api.remote_fn", "invoke"),
    "RemoteFunction": ("flowslurm.api.remote_fn", "RemoteFunction"),
    "Volume": ("flowslurm.api.volumes", "Volume"),
    "create_volume": ("flowslurm.api.volumes", "create_volume"),
    "delete_volume": ("flowslurm.api.volumes", "delete_volume"),
    "list_volumes": ("flowslurm.api.volumes", "list_volumes"),
    "mount_volume": ("flowslurm.api.volumes", "mount_volume"),
    "errors": ("flowslurm.api.errors", None),
}


def cancel(task_id: str | int) -> bool:
    """Cancel a task by id or name (idempotent); True if it was live."""
    from flowslurm.api.client import get_task

    return get_task(task_id).cancel()


def __getattr__(name: str) -> Any:
    try:
        module_name, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'flow' has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
