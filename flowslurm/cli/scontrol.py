"""scontrol: show jobs, the partition, the node and the configuration; hold, release, update and
requeue jobs (requeue/requeuehold: flowslurm.cli.scontrol_requeue).

SLURM 22.05's wording and exit codes: an unknown job is "slurm_load_jobs error: Invalid job id
specified" (exit 1), an unknown command "invalid keyword: X" (exit 1).
"""

from __future__ import annotations

import os

from flowslurm.cli.common import Env, answer_info, main_wrapper
from flowslurm.errors import SlurmInputError
from flowslurm.slurm.options import parse_args
from flowslurm.slurm.opts_scontrol import SPEC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.config import Node
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job
    from flowslurm.slurm.scontrol_format import NodeUsage

VERSION = "slurm-wlm 22.05.8"
MIN_JOB_AGE_S = 300
_ACTIVE = "('PENDING','RUNNING','SUSPENDED','COMPLETING','CONFIGURING','REQUEUED')"


def _bare(message: str, code: int = 1) -> SlurmInputError:
    return SlurmInputError(message, code, label="bare")


def _matches(word: str, full: str, least: int = 1) -> bool:
    """SLURM's keyword matching: a case-insensitive prefix of at least `least` letters."""
    w = word.lower()
    return len(w) >= least and full.startswith(w)


def parse_job_word(word: str) -> tuple[int, int | None] | None:
    """"123" -> (123, None), "123_4" -> (123, 4); None when it is not a job id.

    Huge numbers saturate (see `digits_value`) rather than become huge ints: no job has them.
    """
    from flowslurm.slurm.timeparse import digits_value

    head, sep, tail = word.partition("_")
    if not (head.isdigit() and head.isascii()) or digits_value(head) == 0:
        return None
    if not sep:
        return digits_value(head), None
    if not (tail.isdigit() and tail.isascii()):
        return None
    return digits_value(head), digits_value(tail)


_MAX_JOB_ID = 2**32 - 1  # SLURM job ids and task ids are 32-bit


def _visible_jobs(ledger: Ledger, now: float, ref: tuple[int, int | None] | None) -> list[Job]:
    where = f"(state IN {_ACTIVE} OR end_time >= ?)"
    params: list[object] = [now - MIN_JOB_AGE_S]
    if ref is not None:
        job_id, task = ref
        if job_id > _MAX_JOB_ID or (task or 0) > _MAX_JOB_ID:
            return []  # no such job (and too big for an SQLite integer)
        if task is None:
            where += " AND (job_id = ? OR array_job_id = ?)"
            params += [job_id, job_id]
        else:
            where += " AND ((array_job_id = ? AND array_task_id = ?) OR (job_id = ? AND array_job_id IS NULL AND ? = 0))"
            params += [job_id, task, job_id, task]
    return ledger.jobs(where, params, with_spec=True)


def _raw_ids(ledger: Ledger, words: list[str], now: float) -> list[tuple[str, list[int]]]:
    """Each job word (comma lists allowed) with the raw ids it names among visible jobs."""
    out = []
    for word in (w for arg in words for w in arg.split(",") if w):
        ref = parse_job_word(word)
        if ref is None:
            raise _bare(f"Invalid job id specified for job {word}")
        out.append((word, [j.job_id for j in _visible_jobs(ledger, now, ref)]))
    return out


# ---------------------------------------------------------------- show


def _usage(ledger: Ledger) -> NodeUsage:
    from flowslurm.engine.control import node_usage
    from flowslurm.slurm.scontrol_format import NodeUsage

    cpus, mem, gpus, last_busy = node_usage(ledger)
    free = 0
    boot = 0.0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) // 1024
        with open("/proc/stat") as fh:
            for line in fh:
                if line.startswith("btime "):
                    boot = float(line.split()[1])
    except (OSError, ValueError):
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    uname = os.uname()
    return NodeUsage(alloc_cpus=cpus, alloc_mem_mb=mem, alloc_gpus=gpus, cpu_load=load, free_mem_mb=free,
                     boot_time=boot, start_time=boot, last_busy=last_busy, arch=uname.machine,
                     os_name=f"{uname.sysname} {uname.release} {uname.version}")


def _show_job(args: list[str], env: Env, oneliner: bool, details: int) -> int:
    ref = None
    if args:
        ref = parse_job_word(args[0])
        if ref is None:
            raise _bare("scontrol_print_job error: Invalid job id specified")
    from flowslurm import config
    from flowslurm.engine.ledger import Ledger
    from flowslurm.slurm.scontrol_format import render_jobs
    from flowslurm.slurm.squeue_format import fold_array_tasks

    now = env.now()
    jobs = _visible_jobs(Ledger.open(), now, ref)
    if ref is not None and not jobs:
        raise _bare("slurm_load_jobs error: Invalid job id specified")
    if ref is None or ref[1] is None:
        jobs = fold_array_tasks(jobs)
    env.stdout.write(render_jobs(jobs, now=now, oneliner=oneliner, details=bool(details),
                                 alloc_host=config.node().name))
    return 0


def _show(words: list[str], env: Env, oneliner: bool, details: int) -> int:
    if not words:
        raise _bare("too few arguments for keyword:show")
    entity, args = words[0], words[1:]
    if _matches(entity, "jobs", 1) or _matches(entity, "jobid", 4):
        return _show_job(args, env, oneliner, details)
    if _matches(entity, "hostnames", 5):
        return _hostnames(args, env)
    if entity.lower() in ("hostlist", "hostlistsorted"):
        from flowslurm.slurm.hostlist import normalize

        if not args:
            raise _bare("invalid hostlist")
        env.stdout.write(normalize(",".join(args), sort=entity.lower() == "hostlistsorted") + "\n")
        return 0
    from flowslurm import config
    from flowslurm.slurm import scontrol_format as fmt

    node = config.node()
    if _matches(entity, "partitions", 1):
        if args and args[0] != node.partition:
            raise _bare(f"Partition {args[0]} not found")
        env.stdout.write(fmt.render_record(fmt.partition_lines(node), oneliner))
        return 0
    if _matches(entity, "nodes", 1):
        if args and args[0] != node.name:
            raise _bare(f"Node {args[0]} not found")
        from flowslurm.engine.ledger import Ledger

        env.stdout.write(fmt.render_record(fmt.node_lines(node, _usage(Ledger.open())), oneliner))
        return 0
    if _matches(entity, "config", 1):
        return _show_config(node, env)
    raise _bare(f"invalid entity:{entity} for keyword:show")


def _hostnames(args: list[str], env: Env) -> int:
    from flowslurm.slurm.hostlist import HostlistError, expand

    text = ",".join(args) if args else env.environ.get("SLURM_JOB_NODELIST", "")
    if not text:
        raise _bare("Invalid hostlist: ")
    diagnostics: list[str] = []
    try:
        names = expand(text, diagnostics)
    except HostlistError as err:
        for line in err.diagnostics:
            env.stderr.write(f"scontrol: error: {line}\n")
        raise _bare(err.message) from None
    for line in diagnostics:
        env.stderr.write(f"scontrol: error: {line}\n")
    env.stdout.write("".join(n + "\n" for n in names))
    return 0


def _show_config(node: Node, env: Env) -> int:
    from flowslurm import config
    from flowslurm.engine.ledger import Ledger
    from flowslurm.slurm.scontrol_format import config_lines, render_config

    ledger = Ledger.open()
    row = ledger.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
    boot = 0.0
    try:
        boot = os.stat(os.path.join(config.home_dir(), "ledger.db")).st_ctime
    except OSError:
        pass
    uid = os.getuid()
    user = env.environ.get("USER") or str(uid)
    lines = config_lines(node, now=env.now(), boot_time=boot, next_job_id=(row[0] if row else 0) + 1, user=user,
                         uid=uid, home=config.home_dir(), conf=str(config.config_file()))
    env.stdout.write(render_config(lines))
    return 0


# ---------------------------------------------------------------- hold, release, update


def _hold_release(action: str, words: list[str], env: Env) -> int:
    from flowslurm.engine import control
    from flowslurm.engine.ledger import Ledger

    if not words:
        raise _bare(f"too few arguments for keyword:{action}")
    ledger = Ledger.open()
    admin = os.getuid() == 0
    code = 0
    for word, ids in _raw_ids(ledger, words, env.now()):
        if not ids:
            env.stderr.write(f"Invalid job id specified for job {word}\n")
            code = 1
            continue
        if action == "release":
            errors = control.release(ledger, ids, admin=admin)
        else:
            errors = control.hold(ledger, ids, admin=admin and action == "hold")
        for message in dict.fromkeys(errors.values()):
            env.stderr.write(f"{message} for job {word}\n")
            code = 1
    return code


_UPDATE_PENDING_ONLY = frozenset({"account", "qos", "begin_time", "time_min"})


def _update_job(job_word: str, pairs: list[tuple[str, str]], env: Env) -> int:
    from flowslurm import config
    from flowslurm.engine import control
    from flowslurm.engine.ledger import Ledger
    from flowslurm.slurm import timeparse

    columns: dict[str, object] = {}
    spec_changes: dict[str, object] = {}
    delta = 0
    throttle: int | None = None
    for key, value in pairs:
        k = key.lower()
        if k == "timelimit":
            sign = value[:1] if value[:1] in "+-" else ""
            try:
                minutes = timeparse.parse_time_limit(value[1:] if sign else value, "TimeLimit")
            except SlurmInputError:
                raise _bare(f"Invalid TimeLimit value: {value}") from None
            if sign:
                delta = (minutes or 0) * (1 if sign == "+" else -1)
            else:
                columns["time_limit"] = minutes
        elif k == "timemin":
            try:
                spec_changes["time_min"] = timeparse.parse_time_limit(value, "TimeMin")
            except SlurmInputError:
                raise _bare(f"Invalid TimeMin value: {value}") from None
        elif k in ("jobname", "name"):
            columns["name"] = value
        elif k == "comment":
            columns["comment"] = value
        elif k in ("account", "qos"):
            columns[k] = value
        elif k == "nice":
            negative = value[:1] == "-"
            digits = value[1:] if negative else value
            if not (digits.isdigit() and digits.isascii()):
                raise _bare(f"Invalid nice value: {value}")
            nice = -timeparse.digits_value(digits) if negative else timeparse.digits_value(digits)
            if abs(nice) > 0x80000000 - 3:  # NICE_OFFSET - 3, as scontrol 22.05 checks it
                raise SlurmInputError("Nice value out of range (+/- 2147483645). Value ignored", 1)
            spec_changes["nice"] = nice
        elif k == "arraytaskthrottle":
            if not (value.isdigit() and value.isascii()) or timeparse.digits_value(value) > 2**31 - 1:
                raise _bare(f"Invalid ArrayTaskThrottle value: {value}")
            throttle = timeparse.digits_value(value)
        elif k == "partition":
            if value != config.node().partition:
                raise _bare("slurm_update error: Invalid partition name specified")
        elif k in ("starttime", "begintime"):
            try:
                columns["begin_time"] = timeparse.parse_begin(value, env.now())
            except SlurmInputError:
                raise _bare(f"Invalid StartTime value: {value}") from None
        else:
            raise _bare(f"Update of this parameter is not supported: {key}={value}\nRequest aborted")
    ref = parse_job_word(job_word)
    if ref is None:
        raise _bare(f"Invalid JobId value: {job_word}")
    ledger = Ledger.open()
    ids = [j.job_id for j in _visible_jobs(ledger, env.now(), ref)]
    if not ids:
        raise _bare("slurm_update error: Invalid job id specified")
    if throttle is not None:
        columns["array_throttle"] = throttle
    errors = control.update(ledger, ids, columns=columns, spec_changes=spec_changes, time_delta=delta,
                            pending_only=_UPDATE_PENDING_ONLY)
    if errors and len(errors) == len(ids):
        raise _bare(f"slurm_update error: {next(iter(errors.values()))}")
    return 0


def _update(words: list[str], env: Env) -> int:
    if not words:
        raise _bare("too few arguments for keyword:update")
    job_word = None
    rest = words
    if words[0].lower() in ("job", "jobid") and len(words) > 1 and "=" not in words[0]:
        job_word, rest = words[1], words[2:]
    pairs: list[tuple[str, str]] = []
    for word in rest:
        key, eq, value = word.partition("=")
        if not eq:
            raise _bare(f"Invalid input: {word}\nRequest aborted")
        if key.lower() in ("jobid", "job") and job_word is None:
            job_word = value
        else:
            pairs.append((key, value))
    if job_word is None:
        if any(k.lower() in ("partitionname", "nodename") for k, _ in pairs):
            raise _bare("slurm_update error: Access/permission denied")
        raise _bare("No valid entity in update command\nInput line must include \"NodeName\", \"PartitionName\", "
                    "\"Reservation\", \"JobId\", \"SuspendExcNodes\", \"SuspendExcParts\" or \"SuspendExcStates\"")
    return _update_job(job_word, pairs, env)


def _write(words: list[str], env: Env) -> int:
    if len(words) < 2 or words[0].lower() != "batch_script":
        raise _bare("invalid write option")
    ref = parse_job_word(words[1])
    if ref is None:
        raise _bare("Invalid job id specified")
    from flowslurm.engine.ledger import Ledger

    ledger = Ledger.open()
    jobs = _visible_jobs(ledger, env.now(), ref)
    if not jobs:
        raise _bare("slurm_load_job_batch_script error: Invalid job id specified")
    (script_id,) = ledger.internal(jobs[0].job_id, "script_id")
    text = ledger.script(int(script_id))[0]
    target = words[2] if len(words) > 2 else f"slurm-{words[1]}.sh"
    if target == "-":
        env.stdout.write(text)
        return 0
    path = target if os.path.isabs(target) else os.path.join(env.cwd, target)
    if os.path.exists(path):
        raise _bare(f"File {target} exists, please remove it first")
    with open(path, "w") as fh:
        fh.write(text)
    env.stdout.write(f"batch script for job {words[1]} written to {target}\n")
    return 0


def run(argv: list[str], env: Env) -> int:
    parsed = parse_args(SPEC, argv)
    if answer_info(parsed, SPEC, env):
        return 0
    v = parsed.values
    words = parsed.positionals
    if not words:
        return 0
    command, rest = words[0].lower(), words[1:]
    if command in ("show", "list"):
        return _show(rest, env, bool(v.get("oneliner")), int(v.get("details", 0)))
    if command in ("hold", "uhold", "release"):
        return _hold_release(command, rest, env)
    if command == "update":
        return _update(rest, env)
    if command.startswith("req"):
        from flowslurm.cli import scontrol_requeue

        if scontrol_requeue.is_requeue_word(command) or scontrol_requeue.is_requeuehold_word(command):
            return scontrol_requeue.run(words[0], rest, env, quiet=bool(v.get("quiet")))
    if command == "write":
        return _write(rest, env)
    if command == "version":
        env.stdout.write(VERSION + "\n")
        return 0
    if command == "ping":
        from flowslurm import config

        env.stdout.write(f"Slurmctld(primary) at {config.node().name} is UP\n")
        return 0
    if command in ("exit", "quit"):
        return 0
    raise _bare(f"invalid keyword: {words[0]}")


main = main_wrapper("scontrol", run)
