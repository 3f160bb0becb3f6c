"""sbatch: submit a batch script, as SLURM 22.05's sbatch does, to the flowslurm engine."""

from __future__ import annotations

import os
import time

from flowslurm.cli.common import Env, answer_info, main_wrapper, option_warnings
from flowslurm.errors import SubmitError
from flowslurm.slurm import directives, sbatch_spec
from flowslurm.slurm.options import Option, parse_args
from flowslurm.slurm.opts_sbatch import SPEC

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.providers.base import Placement

WAIT_POLL_FAST_S = 0.02
WAIT_POLL_MAX_S = 1.0


def _read_script(positionals: list[str], env: Env) -> tuple[str, str | None, list[str]]:
    """(text, path as given or None for stdin, script arguments)."""
    if positionals and positionals[0] not in ("-",):
        path = positionals[0]
        full = path if os.path.isabs(path) else os.path.join(env.cwd, path)
        try:
            with open(full, "rb") as fh:
                data = fh.read()
        except OSError:
            raise SubmitError(f"Unable to open file {path}") from None
        return data.decode("utf-8", "surrogateescape"), (None if path == "/dev/stdin" else full), positionals[1:]
    if env.stdin is None or env.stdin.closed:
        return "", None, positionals[1:]
    try:
        text = env.stdin.buffer.read().decode("utf-8", "surrogateescape")  # type: ignore[attr-defined]
    except AttributeError:
        text = env.stdin.read()
    return text, None, positionals[1:]


def _test_only(spec: object, report: list[tuple[str, Option, object, str]], env: Env, backend: str,
               placement: Placement | None) -> int:
    from flowslurm import config
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.submit import build_jobs

    node = config.node()
    jobs = build_jobs(spec, node, env.now())  # type: ignore[arg-type]
    ledger = Ledger.open()
    row = ledger.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone()
    next_id = (row[0] if row else 0) + 1
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(max(env.now(), jobs[0].begin_time or 0)))
    if placement is None:
        env.stderr.write(
            f"sbatch: Job {next_id} to start at {start} using {jobs[0].num_cpus} processors on nodes {node.name}"
            f" in partition {node.partition}\n"
        )
    else:  # nothing is created: what the provider would be asked for, and what it costs
        env.stderr.write(f"sbatch: Job {next_id} to start at {start} using {jobs[0].num_cpus} processors"
                         f" in partition {placement.partition} ({backend})\n")
        for line in placement.summary:
            env.stderr.write(f"sbatch: {line}\n")
    for source, opt, value, where in report:
        sup = opt.support.get(backend)
        level = sup.level if sup else "honoured"
        shown = f"--{opt.long}" + ("" if value in (None, True) else f"={value}")
        note = f" ({sup.note})" if sup and sup.note else ""
        env.stderr.write(f"sbatch: {source} {where}: {shown}: {level}{note}\n")
    return 0


def _wait(job_id: int, array: bool) -> int:
    """Block until every job ends; the exit status is the highest of theirs (128+signal if killed)."""
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import FINISHED_STATES

    ledger = Ledger.open()
    where = "array_job_id = ?" if array else "job_id = ?"  # array tasks change ids as they start
    delay, started = 0.005, time.monotonic()
    while True:
        rows = ledger.conn.execute(f"SELECT state, exit_code, exit_signal FROM jobs WHERE {where}", (job_id,)).fetchall()
        if all(state in FINISHED_STATES for state, _, _ in rows):
            break
        time.sleep(delay)
        # poll briskly at first (most waits are short), then back off
        delay = min(delay * 1.5, WAIT_POLL_FAST_S if time.monotonic() - started < 10 else WAIT_POLL_MAX_S)
    return max((int(code) if code else (128 + int(sig) if sig else 0) for _, code, sig in rows), default=1)


def run(argv: list[str], env: Env) -> int:
    cli = parse_args(SPEC, argv)
    if answer_info(cli, SPEC, env):
        return 0
    wrap = cli.get("wrap")
    if wrap is not None:
        if cli.positionals:
            raise SubmitError("Script arguments not permitted with --wrap option")
        text, command, script_args = directives.wrap_script(str(wrap)), None, []
    else:
        text, command, script_args = _read_script(cli.positionals, env)
    directives.check_script(text)
    file_name = os.path.basename(command) if command else "stdin"
    found = directives.extract_directives(text, file_name=file_name)
    if directives.uses_legacy_prefix(found):
        env.stderr.write(f"sbatch: error: {directives.LEGACY_PREFIX_WARNING}\n")
    sources = sbatch_spec.parse_directives([(d.line_no, d.words) for d in found if d.words])
    env_parsed = parse_args(SPEC, sbatch_spec.env_args(env.environ), immediate=False)
    sources.append(("environment", env_parsed, "SBATCH_*"))
    sources.append(("command line", cli, "argv"))
    merged = sbatch_spec.merge(sources)
    v = merged.values
    if v.get("wrap") is not None and wrap is None:
        text = directives.wrap_script(str(v["wrap"]))
    from flowslurm.slurm.jobenv import job_user

    from flowslurm.providers import base

    backend, flow = base.choose_backend(text, v.get("partition"), env.environ)
    if backend != "local" and backend not in base.REMOTE:
        raise SubmitError(f"no such backend: {backend} (available: local, {', '.join(base.REMOTE)})")
    spec = sbatch_spec.build(
        v, script=text, argv=script_args, environ=dict(env.environ), cwd=env.cwd, command=command, user=job_user(),
        now=env.now(), provider=backend,
    )
    placement = None
    if backend != "local":
        spec.extra["flow"] = flow
        provider = base.remote(backend)
        try:
            placement = provider.place(spec)
        finally:
            provider.close()
        spec.extra["placement"] = placement.details
        spec.partition = placement.partition
        if "requeue" not in v:  # neither --requeue nor --no-requeue: the provider's default
            spec.requeue = bool(placement.details.get("requeue", True))
    spec.extra["umask"] = f"{os.umask(0o022):04o}"
    os.umask(int(spec.extra["umask"], 8))
    spec.extra["submit_host"] = os.uname().nodename.split(".")[0]
    quiet = bool(v.get("quiet"))
    warnings = option_warnings("sbatch", merged.report, backend)
    if not quiet:
        for line in warnings:
            env.stderr.write(line + "\n")
    if v.get("test_only"):
        return _test_only(spec, merged.report, env, backend, placement)
    from flowslurm.engine.submit import submit

    jobs = submit(spec)
    job_id = jobs[0].array_job_id if jobs[0].array_job_id is not None else jobs[0].job_id
    clusters = v.get("clusters")
    if v.get("parsable"):
        env.stdout.write(f"{job_id};{clusters}\n" if clusters else f"{job_id}\n")
    elif not quiet:
        suffix = f" on cluster {clusters}" if clusters else ""
        env.stdout.write(f"Submitted batch job {job_id}{suffix}\n")
    env.stdout.flush()
    if v.get("wait"):
        return _wait(job_id, jobs[0].array_task_id is not None)
    return 0


main = main_wrapper("sbatch", run)
