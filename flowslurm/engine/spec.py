"""JobSpec: the one backend-neutral description of a job that every front door produces.

`sbatch`, `srun`, `flow run` and `flow.run()` all turn their input into a JobSpec and hand it to
`flowslurm.engine.submit.submit`. Values are already parsed and validated (minutes, MiB, counts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class JobSpec:
    script: str
    argv: list[str] = field(default_factory=list)  # script arguments
    environ: dict[str, str] = field(default_factory=dict)  # the submitter's environment
    export: str = "ALL"  # --export: ALL, NONE, or a list "ALL,FOO=1"
    name: str = "sbatch"
    command: str | None = None  # the script's path as given, None for --wrap / stdin
    submit_dir: str = ""
    work_dir: str = ""
    user: str = ""
    uid: int = 0
    gid: int = 0
    group: str = ""
    account: str = ""
    partition: str = ""
    qos: str = "normal"
    comment: str = ""
    output: str = ""  # filename patterns; "" = SLURM's default
    error: str = ""
    input: str = "/dev/null"
    open_mode: str = "truncate"
    nodes: int = 1
    ntasks: int = 1
    ntasks_given: bool = False
    cpus_per_task: int = 1
    cpus_per_task_given: bool = False
    mem_mb: int = 0  # per node; 0 = default
    mem_per_cpu_mb: int = 0
    gpus: int = 0
    gres: str = ""  # as given, e.g. "gpu:1"
    time_limit: int | None = None
    time_min: int | None = None
    begin: float | None = None
    hold: bool = False
    dependency: str = ""
    kill_on_invalid_dep: bool = False
    array: list[int] | None = None
    array_text: str = ""
    array_throttle: int = 0
    requeue: bool = True
    signal: str = ""  # --signal as given
    priority: int = 0
    nice: int = 0
    provider: str = "local"
    extra: dict[str, Any] = field(default_factory=dict)  # provider-specific (#FLOW lines, container image, ...)
    directives: list[dict[str, str]] = field(default_factory=list)  # the --test-only report

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("script", "environ", "argv"):
            data.pop(key)
        return data
