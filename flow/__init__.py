"""Flow: launch GPU tasks from Python, on this machine or on Mithril, through flowslurm's engine.

    import flow
    from flow import TaskConfig

    task = flow.run("python train.py", instance_type="a100")
    task.wait()
    print(task.logs())

This package is the seed's import name for `flowslurm.api`: the same objects, loaded on first use
(`import flow` does not import pydantic; touching `flow.TaskConfig` does). Errors are in
`flow.errors`. See docs/python-api.md.
"""

from __future__ import annotations

import flowslurm.api as _api

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.api import (
        Flow, Instance, Plan, RemoteFunction, Task, TaskConfig, TaskStatus, User, Volume, VolumeSpec,
        create_volume, delete_volume, function, get_task, invoke, list_tasks, list_volumes, mount_volume, run,
    )
    from flow import errors

__all__ = [  # flowslurm.api's, checked equal by tests/api/test_local_api.py
    "Flow", "Instance", "Plan", "RemoteFunction", "Task", "TaskConfig", "TaskStatus", "User", "Volume",
    "VolumeSpec", "cancel", "create_volume", "delete_volume", "errors", "function", "get_task", "invoke",
    "list_tasks", "list_volumes", "mount_volume", "run", "__version__",
]
__version__ = _api.__version__
cancel = _api.cancel


def __getattr__(name: str) -> Any:
    if name == "errors":
        import importlib

        module = importlib.import_module("flow.errors")
        globals()["errors"] = module
        return module
    value = getattr(_api, name)  # AttributeError names the missing attribute
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
