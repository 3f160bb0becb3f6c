"""JobSpec: the one backend-neutral description of a job that every front door produces.

`sbatch`, `srun`, `flow run` and `flow.run()` all turn their input into a JobSpec and hand it to
`flowslurm.engine.submit.submit`. Values are already parsed and validated (minutes, MiB, counts).
"""

from __future__ import annotations

from flowslurm.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _plain(value: Any) -> Any:
    """A copy of lists, tuples and dicts, all the way down (as `dataclasses.asdict` makes)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_plain(k), _plain(v)) for k, v in value.items())
    return value


class JobSpec(Record):
    """A job as every front door describes it (plain class: see flowslurm.record)."""

    __slots__ = (
        "script", "argv", "environ", "export", "name", "command", "submit_dir", "work_dir", "user", "uid",
        "gid", "group", "account", "partition", "qos", "comment", "output", "error", "input", "open_mode",
        "nodes", "ntasks", "ntasks_given", "cpus_per_task", "cpus_per_task_given", "mem_mb", "mem_per_cpu_mb",
        "gpus", "gres", "time_limit", "time_min", "begin", "hold", "dependency", "kill_on_invalid_dep",
        "array", "array_text", "array_throttle", "requeue", "signal", "priority", "nice", "provider", "extra",
        "directives",
    )

    def __init__(
        self,
        script: str,
        argv: list[str] | None = None,  # script arguments
        environ: dict[str, str] | None = None,  # the submitter's environment
        export: str = "ALL",  # --export: ALL, NONE, or a list "ALL,FOO=1"
        name: str = "sbatch",
        command: str | None = None,  # the script's path as given, None for --wrap / stdin
        submit_dir: str = "",
        work_dir: str = "",
        user: str = "",
        uid: int = 0,
        gid: int = 0,
        group: str = "",
        account: str = "",
        partition: str = "",
        qos: str = "normal",
        comment: str = "",
        output: str = "",  # filename patterns; "" = SLURM's default
        error: str = "",
        input: str = "/dev/null",
        open_mode: str = "truncate",
        nodes: int = 1,
        ntasks: int = 1,
        ntasks_given: bool = False,
        cpus_per_task: int = 1,
        cpus_per_task_given: bool = False,
        mem_mb: int = 0,  # per node; 0 = default
        mem_per_cpu_mb: int = 0,
        gpus: int = 0,
        gres: str = "",  # as given, e.g. "gpu:1"
        time_limit: int | None = None,
        time_min: int | None = None,
        begin: float | None = None,
        hold: bool = False,
        dependency: str = "",
        kill_on_invalid_dep: bool = False,
        array: list[int] | None = None,
        array_text: str = "",
        array_throttle: int = 0,
        requeue: bool = True,
        signal: str = "",  # --signal as given
        priority: int = 0,
        nice: int = 0,
        provider: str = "local",
        extra: dict[str, Any] | None = None,  # provider-specific (#FLOW lines, container image, ...)
        directives: list[dict[str, str]] | None = None,  # the --test-only report
    ) -> None:
        self.script = script
        self.argv = [] if argv is None else argv
        self.environ = {} if environ is None else environ
        self.export = export
        self.name = name
        self.command = command
        self.submit_dir = submit_dir
        self.work_dir = work_dir
        self.user = user
        self.uid = uid
        self.gid = gid
        self.group = group
        self.account = account
        self.partition = partition
        self.qos = qos
        self.comment = comment
        self.output = output
        self.error = error
        self.input = input
        self.open_mode = open_mode
        self.nodes = nodes
        self.ntasks = ntasks
        self.ntasks_given = ntasks_given
        self.cpus_per_task = cpus_per_task
        self.cpus_per_task_given = cpus_per_task_given
        self.mem_mb = mem_mb
        self.mem_per_cpu_mb = mem_per_cpu_mb
        self.gpus = gpus
        self.gres = gres
        self.time_limit = time_limit
        self.time_min = time_min
        self.begin = begin
        self.hold = hold
        self.dependency = dependency
        self.kill_on_invalid_dep = kill_on_invalid_dep
        self.array = array
        self.array_text = array_text
        self.array_throttle = array_throttle
        self.requeue = requeue
        self.signal = signal
        self.priority = priority
        self.nice = nice
        self.provider = provider
        self.extra = {} if extra is None else extra
        self.directives = [] if directives is None else directives

    def to_json(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.__slots__
                if name not in ("script", "environ", "argv")}
