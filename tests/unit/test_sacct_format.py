"""Golden tests for the sacct formatter (flowslurm.slurm.sacct_format / sacct_fields / sacct_select).

Each golden test rebuilds, as `Job`/`Step` objects, the jobs a real SLURM 22.05 transcript in
/work/shared/slurm-golden shows, runs the recorded sacct command through a small driver built on
the public API (the way the sacct CLI is expected to call it) and compares stdout, stderr and the
exit status byte for byte with the transcript.
"""

from __future__ import annotations

import calendar
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowslurm.engine.model import Job, Step
from flowslurm.errors import SlurmInputError
from flowslurm.slurm.jobrefs import parse_job_ids
from flowslurm.slurm.sacct_fields import FIELDS, job_exit_pair
from flowslurm.slurm.sacct_format import field_list_spec, helpformat, parse_format, render, rows_for
from flowslurm.slurm.sacct_select import (
    Selection,
    parse_states,
    parse_time_arg,
    select_jobs,
    split_list,
    steps_only,
    time_window,
)
from flowslurm.slurm.timeparse import SlurmValueError

GOLDEN = Path("/work/shared/slurm-golden")
WORK = "/tmp/slurm-golden-work"


@pytest.fixture(autouse=True)
def _utc() -> Iterator[None]:
    """The transcripts were recorded on a UTC machine."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


# ---------------------------------------------------------------- golden transcripts


def golden(file: str, command: str) -> tuple[str, str, int]:
    """(stdout, stderr, exit code) recorded for `$ command` in a golden file."""
    lines = (GOLDEN / file).read_text().split("\n")
    start = lines.index(f"$ {command}")
    assert lines[start + 1] == "--- stdout ---"
    i = lines.index("--- stderr ---", start)
    j = next(k for k in range(i, len(lines)) if lines[k].startswith("--- exit code: "))
    stdout = "".join(line + "\n" for line in lines[start + 2 : i])
    stderr = "".join(line + "\n" for line in lines[i + 1 : j])
    return stdout, stderr, int(lines[j].split(": ")[1].rstrip(" -"))


def ts(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))


def mkjob(
    jid: int, name: str, state: str = "COMPLETED", *, code: int = 0, sig: int = 0, at: str = "2026-11-29T01:06:07",
    run: float = 3.0, dur: float = 0.0, steps: tuple[tuple[str, str, str, int, int], ...] = (("batch", "batch",
    "", 0, 0),), array: tuple[int, int] | None = None, ran: bool = True, **kw: object,
) -> Job:
    """A job like the golden user's: submitted `at`, started `run` s later, `dur` s long.
    Steps are (step id, name, state ('' = the job's), code, signal)."""
    submit = ts(at)
    start = submit + run if ran else None
    end = (start if start is not None else submit) + dur if state not in ("RUNNING", "PENDING", "SUSPENDED") else None
    job = Job(
        job_id=jid, name=name, user=str(kw.pop("user", "golden")), uid=int(kw.pop("uid", 1001)),  # type: ignore[arg-type]
        gid=1001, group="golden", account="research", partition="debug", state=state, exit_code=code,
        exit_signal=sig, submit_time=submit, eligible_time=submit, start_time=start, end_time=end,
        node_list="vm" if ran else "", batch_host="vm", mem_per_cpu_mb=1024, work_dir=WORK, priority=4294901488,
        **kw,  # type: ignore[arg-type]
    )
    if array is not None:
        job.array_job_id, job.array_task_id = array
    if ran:
        for sid, sname, sstate, scode, ssig in steps:
            job.steps.append(Step(jid, sid, sname, sstate or state, scode, ssig, start, end, node_list="vm"))
    return job


def run_sacct(argv: list[str], jobs: list[Job], now: float, me: str = "golden") -> tuple[str, str, int]:
    """A minimal sacct front end over the public API: (stdout, stderr, exit code)."""
    try:
        return _run(argv, jobs, now, me), "", 0
    except SlurmValueError as err:
        if err.level == "bare":
            return "", err.message + "\n", err.exit_code
        return "", f"sacct: {err.level}: {err.message}\n", err.exit_code


def _run(argv: list[str], jobs: list[Job], now: float, me: str) -> str:
    opts: dict[str, list[str]] = {}
    flags: set[str] = set()
    args = list(argv)
    takes = {"-j": "jobs", "-o": "format", "-s": "state", "-S": "start", "-E": "end", "--name": "name",
             "--format": "format", "--state": "state", "--jobs": "jobs", "--delimiter": "delimiter"}
    while args:
        arg = args.pop(0)
        key, eq, value = arg.partition("=")
        if key in takes:
            opts.setdefault(takes[key], []).append(value if eq else args.pop(0))
        else:
            flags.add({"--parsable2": "-P", "--parsable": "-p", "--noheader": "-n", "--allocations": "-X",
                       "--helpformat": "-e", "--long": "-l", "--brief": "-b", "--allusers": "-a"}.get(arg, arg))
    if "-e" in flags:
        return helpformat()
    ids = parse_job_ids(opts.get("jobs", []), "sacct")
    states = parse_states(opts.get("state", []))
    start = parse_time_arg(opts["start"][-1], now) if "start" in opts else None
    end = parse_time_arg(opts["end"][-1], now) if "end" in opts else None
    columns = parse_format(field_list_spec(opts.get("format", []), brief="-b" in flags, long="-l" in flags))
    window = time_window(start, end, now=now, has_ids=bool(ids), has_states=bool(states))
    users = () if ("-a" in flags or ids) else (me,)
    sel = Selection(window, tuple(ids), tuple(states), tuple(opts.get("name", [])), users)
    chosen = select_jobs(jobs, sel)
    rows = rows_for(chosen, allocations_only="-X" in flags, steps_only=steps_only(chosen, ids))
    parsable = "no_ending" if "-P" in flags else "ending" if "-p" in flags else None
    delim = opts.get("delimiter", [None])[-1]
    return render(rows, columns, header="-n" not in flags, parsable=parsable, delimiter=delim, now=now,
                  cluster="oracle")


def check(file: str, command: str, jobs: list[Job], now: float) -> None:
    """Run `command` (a recorded sacct line, possibly piped into head) and compare with the file."""
    want = golden(file, command)
    line, _, pipe = command.partition(" | ")
    import shlex

    out, err, rc = run_sacct(shlex.split(line)[1:], jobs, now)
    if pipe:
        count = int(pipe.split()[-1])
        out = "".join(out.splitlines(keepends=True)[:count])
    assert (out, err, rc) == want


# ---------------------------------------------------------------- the jobs of sacct.txt


def sacct_world() -> list[Job]:
    jobs = [mkjob(i, "x", user="root", uid=0, at=f"2026-11-29T00:0{i}:00") for i in range(1, 5)]
    jobs += [mkjob(45, "hello.sh", at="2026-11-29T00:10:00"), mkjob(46, "hello.sh", at="2026-11-29T00:11:00"),
             mkjob(47, "wrap", at="2026-11-29T00:12:00"), mkjob(128, "acct-a", at="2026-11-29T00:30:00")]
    jobs.append(mkjob(380, "acct-a", steps=(("batch", "batch", "", 0, 0), ("0", "hostname", "", 0, 0),
                                            ("1", "true", "", 0, 0))))
    jobs.append(mkjob(381, "acct-b", "FAILED", code=2, at="2026-11-29T01:06:08",
                      steps=(("batch", "batch", "", 2, 0),)))
    for task, raw in ((3, 382), (1, 383), (2, 384)):
        jobs.append(mkjob(raw, "acct-arr", at="2026-11-29T01:06:09", array=(382, task)))
    return jobs


SACCT_NOW = ts("2026-11-29T01:07:00")
SACCT_COMMANDS = [
    "sacct -j 380",
    "sacct -j 380 --parsable2 -o JobID,State,ExitCode",
    "sacct -j 380 -P -o JobID,State,ExitCode",
    "sacct -j 380 --parsable -o JobID,State,ExitCode",
    "sacct -j 380 -X",
    "sacct -j 380 -n -X -P -o State",
    "sacct -j 380,381 --format=JobID,JobName%30,Partition,State,ExitCode,Elapsed,NNodes,NCPUS,NodeList",
    "sacct -j 380 -o JobID,JobIDRaw,JobName,User,Account,Partition,State,ExitCode,DerivedExitCode,Submit,Start,"
    "End,Elapsed,ElapsedRaw,Timelimit,ReqMem,ReqTRES%40,AllocTRES%40,WorkDir%30 -P",
    "sacct -j 382",
    "sacct -j 382 -P -o JobID,JobIDRaw,ArrayJobID,ArrayTaskID,State,ExitCode",
    "sacct -j 382 -P -X -o JobID,JobIDRaw,JobName,State,ExitCode",
    "sacct -j 382_2 -P -o JobID,State",
    "sacct -j 380.batch -P -o JobID,State",
    "sacct -j 380.0 -P -o JobID,JobName,State,ExitCode",
    "sacct -j 381 -l -P",
    "sacct -j 381 -o JobID,State,ExitCode -P --noheader",
    "sacct --name=acct-a -P -o JobID,JobName,State -X",
    "sacct -s F -P -o JobID,JobName,State -X | head -5",
    "sacct --state=COMPLETED -P -o JobID,State -X | head -5",
    "sacct -j 999999",
    "sacct -j 999999 -P -n -o JobID,State",
    "sacct -j abc",
    "sacct -o Bogus",
    "sacct -e",
    "sacct --helpformat",
    "sacct | head -8",
    "sacct -a -X -P -o JobID,User,State | head -5",
]


@pytest.mark.parametrize("command", SACCT_COMMANDS)
def test_sacct_txt(command: str) -> None:
    check("sacct.txt", command, sacct_world(), SACCT_NOW)


# ---------------------------------------------------------------- job-states.txt


def states_world(final: bool = True) -> list[Job]:
    cancelled = {"state": "CANCELLED", "cancelled_by": 1001}
    jobs = [
        mkjob(1505, "to", "TIMEOUT", sig=15, at="2026-11-29T01:10:10", dur=89, time_limit=1,
              steps=(("batch", "batch", "CANCELLED", 0, 15),)),
        mkjob(1506, "ok", at="2026-11-29T01:10:11"),
        mkjob(1507, "fail3", "FAILED", code=3, at="2026-11-29T01:10:12", steps=(("batch", "batch", "", 3, 0),)),
        mkjob(1508, "sig9", "FAILED", sig=9, at="2026-11-29T01:10:13",
              steps=(("batch", "batch", "CANCELLED", 0, 9),)),
        mkjob(1509, "oom", "OUT_OF_MEMORY", sig=125, at="2026-11-29T01:10:14",
              steps=(("batch", "batch", "", 0, 125),)),
        mkjob(1510, "cancel-running", sig=15, at="2026-11-29T01:10:15",
              steps=(("batch", "batch", "CANCELLED", 0, 15),), **cancelled),
        mkjob(1511, "cancel-pending", at="2026-11-29T01:10:16", ran=False, reason="JobHeldUser", **cancelled),
        mkjob(1512, "susp", at="2026-11-29T01:10:17", sig=15, steps=(("batch", "batch", "CANCELLED", 0, 15),),
              **(cancelled if final else {"state": "SUSPENDED"})),
        mkjob(1513, "requeue", at="2026-11-29T01:10:18", ran=final is False, reason="BeginTime",
              steps=(("batch", "batch", "CANCELLED", 0, 15),), **(cancelled if final else {"state": "REQUEUED"})),
        mkjob(1516, "deadline", "DEADLINE", sig=1, at="2026-11-29T01:10:19", ran=False, time_limit=1),
    ]
    return jobs


STATES_COMMANDS = [
    "sacct -X --parsable2 -o JobID,JobName,State,ExitCode,DerivedExitCode,Reason "
    "-j 1506,1507,1508,1509,1510,1511,1512,1513,1516,1505",
    "sacct --parsable2 -o JobID,JobName,State,ExitCode -j 1506,1507,1508,1509,1510,1511,1505",
    "sacct -j 1506,1507,1508,1509,1510,1511,1505",
    "sacct -j 1516 --parsable2 -o JobID,JobName,State,ExitCode",
]


@pytest.mark.parametrize("command", STATES_COMMANDS)
def test_job_states_final(command: str) -> None:
    check("job-states.txt", command, states_world(), ts("2026-11-29T01:13:00"))


@pytest.mark.parametrize("command", ["sacct -j 1512 -X --parsable2 -o JobID,State",
                                     "sacct -j 1513 --parsable2 -o JobID,State,ExitCode",
                                     "sacct -j 1513 --duplicates --parsable2 -o JobID,State,ExitCode"])
def test_job_states_snapshots(command: str) -> None:
    check("job-states.txt", command, states_world(final=False), ts("2026-11-29T01:11:00"))


# ---------------------------------------------------------------- exit codes and other files


def exit_world() -> list[Job]:
    jobs = [mkjob(346, "wrap", "FAILED", code=3, steps=(("batch", "batch", "", 3, 0),)),
            mkjob(347, "wrap", steps=(("batch", "batch", "", 0, 0), ("0", "sh", "FAILED", 5, 0))),
            mkjob(348, "wrap", "FAILED", sig=15, steps=(("batch", "batch", "CANCELLED", 0, 15),))]
    for jid, code in ((352, 126), (354, 127), (355, 128), (356, 200), (357, 254), (358, 255)):
        jobs.append(mkjob(jid, "wrap", "FAILED", code=code, steps=(("batch", "batch", "", code, 0),)))
    return jobs


@pytest.mark.parametrize("command", [
    "sacct -j 346 --parsable2 -o JobID,State,ExitCode,DerivedExitCode",
    "sacct -j 347 --parsable2 -o JobID,State,ExitCode,DerivedExitCode",
    *[f"sacct -j {j} --parsable2 -o JobID,State,ExitCode" for j in (348, 352, 354, 355, 356, 357, 358)],
])
def test_exit_codes(command: str) -> None:
    check("exit-codes.txt", command, exit_world(), ts("2026-11-29T01:30:00"))


def test_arrays_and_dependency_cancel() -> None:
    jobs = [mkjob(257, "wrap", at="2026-11-29T01:01:49", run=3, array=(255, 0)),
            mkjob(258, "wrap", at="2026-11-29T01:01:49", run=3, array=(255, 1)),
            mkjob(259, "wrap", at="2026-11-29T01:01:49", run=7, array=(255, 2)),
            mkjob(255, "wrap", at="2026-11-29T01:01:49", run=7, array=(255, 3)),
            mkjob(256, "wrap", at="2026-11-29T01:01:50", run=10),
            mkjob(270, "wrap", "CANCELLED", ran=False, reason="DependencyNeverSatisfied")]
    now = ts("2026-11-29T01:05:00")
    check("arrays-dependencies.txt", "sacct -j 255,256 -X --parsable2 -o JobID,JobIDRaw,State,ExitCode,Start",
          jobs, now)
    check("arrays-dependencies.txt", "sacct -j 270 -X --parsable2 -o JobID,State,Reason", jobs, now)


def test_launch_failures_and_scancel() -> None:
    launch = {"sig": 53, "steps": (("batch", "batch", "CANCELLED", 0, 53),), "reason": "JobLaunchFailure"}
    jobs = [mkjob(298, "wrap", "FAILED", **launch), mkjob(91, "wrap", "FAILED", **launch),  # type: ignore[arg-type]
            mkjob(92, "wrap", "FAILED", **launch),  # type: ignore[arg-type]
            mkjob(237, "wrap", "CANCELLED", sig=15, cancelled_by=1001, steps=(("batch", "batch", "", 0, 15),))]
    now = ts("2026-11-29T02:00:00")
    check("output-patterns.txt", "sacct -j 298 -P -o JobID,State,ExitCode", jobs, now)
    check("sbatch-errors.txt", "sacct -j 91 --parsable2 -o JobID,State,ExitCode,Reason", jobs, now)
    check("sbatch-errors.txt", "sacct -j 92 --parsable2 -o JobID,State,ExitCode", jobs, now)
    check("scancel.txt", "sacct -j 237 -P -o JobID,State,ExitCode", jobs, now)
