"""Python functions as tasks: `@function(gpu="a100")` with `.remote(...)`, and `invoke(file, name)`.

A remote call is an ordinary task whose command is a small Python program (RUNNER, below, passed
with `python -c`, so nothing needs to be installed where it runs): it imports the function's module
from the task's working directory (the uploaded code, on a cloud instance), calls the function with
the JSON-encoded arguments, and prints one marked line with the JSON-encoded result or error. The
caller waits for the task and reads that line from the task's output, which every backend already
brings home; no extra channel is needed. Arguments and results must therefore be JSON values.

While the runner imports the module, `FLOW_REMOTE_CALL=1` is set: a `.remote()` call executed at
import time (a script without `if __name__ == "__main__":`) then runs in place instead of
submitting another task, so a call can never recurse into a storm of tasks.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys

from flowslurm.api.errors import RemoteExecutionError, TaskFailedError, ValidationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from flowslurm.api.tasks import Task

__all__ = ["RemoteFunction", "function", "invoke"]

RESULT_MARK = "__FLOW_RESULT__ "
INSIDE = "FLOW_REMOTE_CALL"

RUNNER = r"""
import importlib, importlib.util, json, os, sys, traceback
mode, target, name, payload = sys.argv[1:5]
sys.path.insert(0, os.getcwd())
os.environ["FLOW_REMOTE_CALL"] = "1"
def report(data):
    sys.stdout.flush()
    sys.stdout.write("\n__FLOW_RESULT__ " + json.dumps(data) + "\n")
    sys.stdout.flush()
try:
    if mode == "module":
        module = importlib.import_module(target)
    else:
        spec = importlib.util.spec_from_file_location("__flow_main__", target)
        module = importlib.util.module_from_spec(spec)
        sys.modules["__flow_main__"] = module
        spec.loader.exec_module(module)
    fn = module
    for part in name.split("."):
        fn = getattr(fn, part)
    fn = getattr(fn, "__flow_function__", fn)
    data = json.loads(payload)
    result = fn(*data["args"], **data["kwargs"])
    text = json.dumps({"ok": True, "result": result})
except BaseException as exc:
    report({"ok": False, "type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()})
    sys.exit(1)
sys.stdout.flush()
sys.stdout.write("\n__FLOW_RESULT__ " + text + "\n")
sys.stdout.flush()
"""


def _payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    import json

    try:
        return json.dumps({"args": list(args), "kwargs": kwargs})
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"the arguments cannot travel to a remote call: {exc}",
                              ["Pass JSON values (str, numbers, bools, None, lists, dicts): paths, not objects"]
                              ) from None


def _command(mode: str, target: str, name: str, payload: str, python: str) -> str:
    return " ".join([shlex.quote(python), "-c", shlex.quote(RUNNER), mode, shlex.quote(target), shlex.quote(name),
                     shlex.quote(payload)])


def result_of(task: Task, timeout: float | None = None) -> Any:
    """Wait for a remote-call task and return the function's result (or raise its error)."""
    import json

    task.wait(timeout)
    text = task.logs()
    found = None
    for line in text.splitlines():
        if line.startswith(RESULT_MARK):
            found = line[len(RESULT_MARK):]
    if found is None:
        raise TaskFailedError(f"remote call {task.task_id} ended {task.status} without a result ({task.message})",
                              [f"`flow logs {task.task_id}` shows its output"])
    data = json.loads(found)
    if not data.get("ok"):
        raise RemoteExecutionError(f"{data.get('type')}: {data.get('message')} (in task {task.task_id})",
                                   [f"`flow logs {task.task_id}` shows the remote traceback"],
                                   remote_type=str(data.get("type") or ""),
                                   remote_traceback=str(data.get("traceback") or ""))
    return data.get("result")


def _target(file: str, module: str | None, cwd: str) -> tuple[str, str]:
    """(mode, target): import `module` by name when its file sits where that name says under cwd,
    else load the file by path (relative to cwd when under it: the code is uploaded from there)."""
    full = os.path.abspath(file)
    rel = os.path.relpath(full, cwd)
    inside = not rel.startswith("..")
    if module and module != "__main__" and inside:
        expected = module.replace(".", os.sep)
        if rel in (expected + ".py", os.path.join(expected, "__init__.py")):
            return "module", module
    return "file", rel if inside else full


def _submit_call(mode: str, target: str, name: str, payload: str, *, options: dict[str, Any],
                 cwd: str) -> Task:
    from flowslurm.api.client import run

    cloud = options.get("instance_type") is not None or options.get("gpu") is not None
    if cloud and os.path.isabs(target):
        raise ValidationError(f"{target} is outside the current directory, so it is not uploaded",
                              ["Run from the directory that holds the code (it is what gets uploaded)"])
    python = "python3" if cloud else sys.executable
    options.setdefault("name", f"fn-{name.split('.')[-1]}"[:128].replace("_", "-"))
    return run(_command(mode, target, name, payload, python), cwd=cwd, **options)  # type: ignore[no-any-return]


class RemoteFunction:
    """A function that runs here when called, and as a task with `.remote(...)` (blocking: the
    result) or `.spawn(...)` (a Task; `flow.api.remote_fn.result_of(task)` gets the result)."""

    def __init__(self, fn: Callable[..., Any], options: dict[str, Any]) -> None:
        functools.update_wrapper(self, fn)
        self.__flow_function__ = fn
        self._fn = fn
        self.options = options

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else functools.partial(self.__call__, obj)

    def _where(self) -> tuple[str, str, str]:
        import inspect

        fn = self._fn
        if "<locals>" in fn.__qualname__:
            raise ValidationError(f"{fn.__qualname__} is defined inside a function: a task cannot import it",
                                  ["Define remote functions at a module's top level"])
        try:
            file = inspect.getsourcefile(fn)
        except TypeError:
            file = None
        if not file or not os.path.isfile(file):
            raise ValidationError(f"{fn.__qualname__} has no source file (defined interactively?)",
                                  ["Put it in a .py file, or use flow.invoke(file, name)"])
        cwd = os.getcwd()
        mode, target = _target(file, fn.__module__, cwd)
        return mode, target, cwd

    def spawn(self, *args: Any, **kwargs: Any) -> Task:
        mode, target, cwd = self._where()
        options = {k: v for k, v in self.options.items() if k != "timeout"}
        return _submit_call(mode, target, self._fn.__qualname__, _payload(args, kwargs), options=options, cwd=cwd)

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function as a task and return its result (JSON values in, JSON values out)."""
        if os.environ.get(INSIDE) == "1":  # already inside a remote call: run in place
            return self._fn(*args, **kwargs)
        task = self.spawn(*args, **kwargs)
        return result_of(task, self.options.get("timeout"))

    def __repr__(self) -> str:
        return f"<flow function {self._fn.__qualname__} {self.options}>"


def function(fn: Callable[..., Any] | None = None, *, gpu: str | None = None, instance_type: str | None = None,
             timeout: float | None = None, **options: Any) -> Any:
    """Decorate a function so `.remote(...)` runs it as a task: `@function(gpu="a100")` on a
    Mithril A100, `@function` (no GPU) on this machine. Other options are TaskConfig fields
    (image, env, max_price_per_hour, max_run_time_hours, upload_code, ...)."""
    if gpu is not None and instance_type is not None:
        raise ValidationError("give gpu= or instance_type=, not both")
    settings = {k: v for k, v in {**options, "instance_type": instance_type or gpu}.items() if v is not None}
    if "instance_type" in settings:
        from flowslurm.api.instance_types import parse_instance_type, suggest, valid_names_hint

        try:
            parse_instance_type(str(settings["instance_type"]))
        except ValueError as exc:
            close = suggest(str(settings["instance_type"]))
            raise ValidationError(str(exc), ([f"Did you mean {' or '.join(close)}?"] if close else [])
                                  + [valid_names_hint()]) from None
    if timeout is not None:
        settings["timeout"] = timeout

    def wrap(f: Callable[..., Any]) -> RemoteFunction:
        opts = dict(settings)
        return RemoteFunction(f, opts)

    return wrap(fn) if fn is not None else wrap


def invoke(module_path: str, function_name: str, args: list[Any] | tuple[Any, ...] | None = None,
           kwargs: dict[str, Any] | None = None, *, gpu: str | None = None, timeout: float | None = None,
           **options: Any) -> Any:
    """Call `function_name` from the Python file `module_path` as a task and return its result;
    the file needs no Flow import. `gpu` picks a Mithril GPU (none: this machine)."""
    cwd = os.getcwd()
    full = module_path if os.path.isabs(module_path) else os.path.join(cwd, module_path)
    if not os.path.isfile(full):
        raise ValidationError(f"no Python file {module_path!r}", ["Give the path of a .py file, relative to here"])
    if not function_name or not all(p.isidentifier() for p in function_name.split(".")):
        raise ValidationError(f"{function_name!r} is not a function name")
    mode, target = _target(full, None, cwd)
    if gpu is not None:
        options["instance_type"] = gpu
    task = _submit_call(mode, target, function_name, _payload(tuple(args or ()), dict(kwargs or {})),
                        options={k: v for k, v in options.items() if v is not None}, cwd=cwd)
    return result_of(task, timeout)
