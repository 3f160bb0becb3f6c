"""From sbatch's three sources of options to one JobSpec, as sbatch 22.05 merges and checks them.

Precedence is SLURM's: command line > SBATCH_* environment > `#SBATCH` lines; within a source a
later option overrides an earlier one. Pure: no I/O, the caller passes the script and the world.
"""

from __future__ import annotations

import os

from flowslurm.engine.spec import JobSpec
from flowslurm.errors import SlurmInputError, SubmitError
from flowslurm.record import Record
from flowslurm.slurm import timeparse, values
from flowslurm.slurm.jobrefs import parse_dependency
from flowslurm.slurm.options import Option, ParsedArgs, env_argv, parse_args, record
from flowslurm.slurm.opts_sbatch import SPEC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Input environment variables (sbatch(1) "INPUT ENVIRONMENT VARIABLES") and the option each sets.
INPUT_ENV: dict[str, str] = {
    "SBATCH_ACCOUNT": "account", "SBATCH_ACCTG_FREQ": "acctg-freq", "SBATCH_ARRAY_INX": "array",
    "SBATCH_BATCH": "batch", "SBATCH_CLUSTERS": "clusters", "SBATCH_CONSTRAINT": "constraint",
    "SBATCH_CONTAINER": "container", "SBATCH_CORE_SPEC": "core-spec", "SBATCH_CPUS_PER_GPU": "cpus-per-gpu",
    "SBATCH_DELAY_BOOT": "delay-boot", "SBATCH_DISTRIBUTION": "distribution", "SBATCH_ERROR": "error",
    "SBATCH_EXCLUSIVE": "exclusive", "SBATCH_EXPORT": "export", "SBATCH_GET_USER_ENV": "get-user-env",
    "SBATCH_GPU_BIND": "gpu-bind", "SBATCH_GPU_FREQ": "gpu-freq", "SBATCH_GPUS": "gpus",
    "SBATCH_GPUS_PER_NODE": "gpus-per-node", "SBATCH_GPUS_PER_TASK": "gpus-per-task", "SBATCH_GRES": "gres",
    "SBATCH_GRES_FLAGS": "gres-flags", "SBATCH_HINT": "hint", "SBATCH_IGNORE_PBS": "ignore-pbs",
    "SBATCH_INPUT": "input", "SBATCH_JOB_NAME": "job-name", "SBATCH_MEM_BIND": "mem-bind",
    "SBATCH_MEM_PER_CPU": "mem-per-cpu", "SBATCH_MEM_PER_GPU": "mem-per-gpu", "SBATCH_MEM_PER_NODE": "mem",
    "SBATCH_NETWORK": "network", "SBATCH_NO_KILL": "no-kill", "SBATCH_NO_REQUEUE": "no-requeue",
    "SBATCH_OPEN_MODE": "open-mode", "SBATCH_OUTPUT": "output", "SBATCH_OVERCOMMIT": "overcommit",
    "SBATCH_PARTITION": "partition", "SBATCH_POWER": "power", "SBATCH_PROFILE": "profile", "SBATCH_QOS": "qos",
    "SBATCH_REQ_SWITCH": "switches", "SBATCH_REQUEUE": "requeue", "SBATCH_RESERVATION": "reservation",
    "SBATCH_SIGNAL": "signal", "SBATCH_SPREAD_JOB": "spread-job", "SBATCH_THREAD_SPEC": "thread-spec",
    "SBATCH_THREADS_PER_CORE": "threads-per-core", "SBATCH_TIMELIMIT": "time", "SBATCH_USE_MIN_NODES": "use-min-nodes",
    "SBATCH_WAIT": "wait", "SBATCH_WAIT_ALL_NODES": "wait-all-nodes", "SBATCH_WCKEY": "wckey",
}


class Merged(Record):
    __slots__ = ("values", "report")

    def __init__(
        self, values: dict[str, Any] | None = None, report: list[tuple[str, Option, Any, str]] | None = None
    ) -> None:
        self.values: dict[str, Any] = {} if values is None else values
        # (source, option, raw value, where) for each option given, in the order applied: the --test-only report
        self.report: list[tuple[str, Option, Any, str]] = [] if report is None else report


def env_args(environ: dict[str, str]) -> list[str]:
    return env_argv(SPEC, INPUT_ENV, environ)


def merge(sources: list[tuple[str, ParsedArgs, str]]) -> Merged:
    """Apply sources in increasing precedence; each is (source name, parsed args, location)."""
    into = ParsedArgs()
    merged = Merged(into.values)
    for source, parsed, where in sources:
        for opt, value in parsed.given:
            merged.report.append((source, opt, value, where))
            record(into, opt, value)
    return merged


def parse_directives(words_by_line: list[tuple[int, list[str]]]) -> list[tuple[str, ParsedArgs, str]]:
    out = []
    for line_no, words in words_by_line:
        parsed = parse_args(SPEC, words, immediate=False)
        if parsed.positionals:
            raise SlurmInputError(f"Invalid directive found in batch script: {parsed.positionals[0]}", 255)
        out.append(("#SBATCH", parsed, f"line {line_no}"))
    return out


def _count(v: dict[str, Any], dest: str, opt: str, default: int) -> tuple[int, bool]:
    if dest not in v or v[dest] is None:
        return default, False
    return values.parse_count(str(v[dest]), opt), True


def _gpu_total(items: list[values.GresItem]) -> int:
    return sum(i.count for i in items if i.name == "gpu")


_NO_VAL = 0xFFFFFFFE  # SLURM's NO_VAL
_NICE_LIMIT = 0x80000000 - 3  # NICE_OFFSET - 3


def _strtoll(text: str) -> int:
    """C strtoll(text, NULL, 10): leading number or 0, saturating (no error for trailing junk)."""
    value, _ = values._strtol(text)
    return value or 0


def _nice(text: str | None) -> int:
    """--nice[=adjustment] as sbatch 22.05 reads it: strtoll, 100 when no value, +/-2147483645 at most."""
    nice = 100 if text is None else _strtoll(text)
    if abs(nice) > _NICE_LIMIT:
        raise SlurmInputError(f"Invalid --nice value, out of range (+/- {_NICE_LIMIT})", 255)
    return nice


def _priority(text: str) -> int:
    """--priority as sbatch 22.05 reads it: "TOP" or strtoll, from 0 to below NO_VAL."""
    if text.lower() == "top":
        return _NO_VAL - 1
    priority = _strtoll(text)
    if priority < 0:
        raise SlurmInputError("Priority must be >= 0", 255)
    if priority >= _NO_VAL:
        raise SlurmInputError(f"Priority must be < {_NO_VAL}", 255)
    return priority


def read_export_file(path: str) -> dict[str, str]:
    """--export-file: NAME=value entries separated by NUL bytes or newlines."""
    try:
        with open(path, "rb") as fh:
            data = fh.read().decode("utf-8", "surrogateescape")
    except OSError:
        raise SlurmInputError(f"Unable to read --export-file {path}", 1) from None
    sep = "\0" if "\0" in data else "\n"
    pairs = (item.partition("=") for item in data.split(sep) if "=" in item)
    return {name: value for name, _, value in pairs}


def build(
    v: dict[str, Any], *, script: str, argv: list[str], environ: dict[str, str], cwd: str, command: str | None,
    user: tuple[str, int, int, str], now: float, provider: str = "local",
) -> JobSpec:
    """Check every value as sbatch does and produce the JobSpec. Raises SlurmInputError / SubmitError."""
    name = v.get("job_name") or (os.path.basename(command) if command else ("wrap" if v.get("wrap") else "sbatch"))
    work_dir = v.get("chdir") or cwd
    if not os.path.isabs(work_dir):
        work_dir = os.path.normpath(os.path.join(cwd, work_dir))
    time_limit = timeparse.parse_time_limit(str(v["time"])) if "time" in v else None
    time_min = timeparse.parse_time_limit(str(v["time_min"]), "--time-min") if "time_min" in v else None
    mem_mb = values.parse_memory(str(v["mem"]), "--mem") if "mem" in v else 0
    mem_per_cpu = values.parse_memory(str(v["mem_per_cpu"]), "--mem-per-cpu") if "mem_per_cpu" in v else 0
    ntasks, ntasks_given = _count(v, "ntasks", "--ntasks", 1)
    cpt, cpt_given = _count(v, "cpus_per_task", "--cpus-per-task", 1)
    # counts are C ints (see parse_count): sbatch's _opt_verify() refuses what wrapped negative
    if ntasks < 0:
        raise SlurmInputError(f"invalid number of tasks (-n {ntasks})", 1)
    if cpt <= 0:
        raise SlurmInputError(f"invalid number of cpus per task (-c {cpt})", 1)
    nodes = values.parse_nodes(str(v["nodes"]))[0] if "nodes" in v else 1
    per_node, _ = _count(v, "ntasks_per_node", "--ntasks-per-node", 0)
    if per_node > 0 and not ntasks_given:
        ntasks = per_node * max(nodes, 1)
    gres = str(v.get("gres") or "")
    gpus = 0
    if gres:
        gpus = _gpu_total(values.parse_gres(gres, known=frozenset({"gpu"})))
    for dest, scale in (("gpus", 1), ("gpus_per_node", max(nodes, 1)), ("gpus_per_task", ntasks)):
        if v.get(dest):
            gpus = max(gpus, _gpu_total(values.parse_gpus(str(v[dest]))) * scale)
    if "cpus_per_gpu" in v and gpus:
        cpt = max(cpt, values.parse_count(str(v["cpus_per_gpu"]), "--cpus-per-gpu") * gpus // max(ntasks, 1))
    if "mem_per_gpu" in v and gpus:
        mem_mb = max(mem_mb, values.parse_memory(str(v["mem_per_gpu"]), "--mem-per-gpu") * gpus)
    begin = timeparse.parse_begin(str(v["begin"]), now) if "begin" in v else None
    dependency = str(v.get("dependency") or "")
    if dependency:
        parse_dependency(dependency)
    array = values.parse_array(str(v["array"])) if "array" in v else None
    open_mode = str(v.get("open_mode") or "truncate").lower()
    if open_mode not in ("append", "truncate", "a", "t"):
        raise SlurmInputError("Invalid --open-mode specification", 255)
    open_mode = "append" if open_mode.startswith("a") else "truncate"
    if v.get("signal"):
        values.parse_signal_spec(str(v["signal"]))
    kill_dep = str(v.get("kill_on_invalid_dep") or "no").lower()
    if "kill_on_invalid_dep" in v and kill_dep not in ("yes", "no"):
        raise SlurmInputError("Invalid --kill-on-invalid-dep specification", 255)
    if v.get("uid") or v.get("gid"):
        raise SubmitError("--uid and --gid need root privileges; flowslurm runs jobs as the submitting user")
    if v.get("export_file"):
        environ = {**environ, **read_export_file(os.path.join(cwd, str(v["export_file"])))}
    spec = JobSpec(
        script=script, argv=argv, environ=environ, export=str(v.get("export") or "ALL"), name=str(name),
        command=command, submit_dir=cwd, work_dir=work_dir, user=user[0], uid=user[1], gid=user[2], group=user[3],
        account=str(v.get("account") or ""), partition=str(v.get("partition") or ""), qos=str(v.get("qos") or "normal"),
        comment=str(v.get("comment") or ""), output=str(v.get("output") or ""), error=str(v.get("error") or ""),
        input=str(v.get("input") or "/dev/null"), open_mode=open_mode, nodes=nodes, ntasks=ntasks,
        ntasks_given=ntasks_given or bool(per_node), cpus_per_task=cpt, cpus_per_task_given=cpt_given, mem_mb=mem_mb,
        mem_per_cpu_mb=mem_per_cpu, gpus=gpus, gres=gres, time_limit=time_limit, time_min=time_min, begin=begin,
        hold=bool(v.get("hold")), dependency=dependency, kill_on_invalid_dep=kill_dep == "yes",
        array=array.indices if array else None, array_text=array.text if array else "",
        array_throttle=array.throttle if array else 0, requeue=v.get("requeue") is not False, signal=str(v.get("signal") or ""),
        priority=_priority(str(v["priority"])) if "priority" in v else 0, provider=provider,
    )
    spec.extra["gpus_option"] = bool(v.get("gpus"))
    for key in ("gpus", "gpus_per_node"):  # as written: a cloud placement reads the GPU type in them
        if v.get(key):
            spec.extra[f"{key}_request"] = str(v[key])
    if "nice" in v:
        spec.nice = _nice(None if v["nice"] is None else str(v["nice"]))
    if "deadline" in v:
        spec.extra["deadline"] = timeparse.parse_begin(str(v["deadline"]), now, "--deadline")
    if "mincpus" in v:
        spec.extra["mincpus"] = values.parse_count(str(v["mincpus"]), "--mincpus")
    if "exclusive" in v:
        spec.extra["exclusive"] = str(v["exclusive"] or "exclusive")
    for key in ("wckey", "constraint", "licenses", "reservation", "exclude", "nodelist"):
        if v.get(key):
            spec.extra[key] = str(v[key])
    for key in ("container_image", "container_mounts", "container_workdir", "container"):
        if v.get(key):
            spec.extra[key] = str(v[key])
    return spec
