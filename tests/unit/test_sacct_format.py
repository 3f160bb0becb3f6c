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
from tests.cli.golden import GOLDEN

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
        job_id=jid, name=name, user=str(kw.pop("user", "golden")),
        uid=int(kw.pop("uid", 1001)),  # type: ignore[call-overload]
        gid=1001, group="golden", account="research", partition="debug", state=state, exit_code=code,
        priority=int(kw.pop("priority", 4294901488)),  # type: ignore[call-overload]
        exit_signal=sig, submit_time=submit, eligible_time=submit, start_time=start, end_time=end,
        node_list="vm" if ran else "", batch_host="vm", mem_per_cpu_mb=1024, work_dir=WORK,
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
        count = abs(int(pipe.split()[-1]))
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
            mkjob(270, "wrap", "CANCELLED", ran=False, at="2026-11-29T01:02:00", reason="DependencyNeverSatisfied")]
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


# ---------------------------------------------------------------- -o parsing


def names(spec: str) -> list[tuple[str, int]]:
    return [(c.name, c.width) for c in parse_format(spec)]


def test_field_table_matches_helpformat() -> None:
    stdout, _, _ = golden("sacct.txt", "sacct -e")
    assert [f.name for f in FIELDS] == stdout.split()
    assert helpformat() == stdout


def test_prefix_case_and_widths() -> None:
    assert names("jobn,STATE%-20,exit%3") == [("JobName", 10), ("State", -20), ("ExitCode", 3)]
    assert names("  JobID,\tUser") == [("JobID", -12), ("User", 9)]
    assert names("c,n,s,u,e") == [("Cluster", 10), ("NCPUS", 10), ("Start", 19), ("UID", 6), ("Elapsed", 10)]
    assert names("JobID%abc") == [("JobID", 0)]
    assert names("JobID%") == [("JobID", 0)]
    assert names("JobID% 7x") == [("JobID", 7)]


def test_width_is_shared_by_every_use_of_a_field() -> None:
    assert names("JobID%20,JobID") == [("JobID", 20), ("JobID", 20)]
    assert names("JobID,JobName,JobID%5") == [("JobID", 5), ("JobName", 10), ("JobID", 5)]


def test_all_and_its_prefixes() -> None:
    assert len(parse_format("ALL")) == len(FIELDS) == 109
    assert len(parse_format("a")) == 109  # "a" matches ALL before Account
    assert {c.width for c in parse_format("all%7")} == {7}
    assert len(parse_format("%5")) == 109  # an empty name is a prefix of ALL
    assert names("Allo") == [("AllocCPUS", 10)]


def test_empty_item_ends_the_list() -> None:
    assert names("JobID,,State") == [("JobID", -12)]
    assert names(",State") == []
    assert names("JobID, ,State") == [("JobID", -12)]


def test_field_errors() -> None:
    with pytest.raises(SlurmValueError) as bad:
        parse_format("JobID,Bogus%5,State")
    assert (bad.value.message, bad.value.exit_code, bad.value.level) == ('Invalid field requested: "Bogus"', 1, "error")
    with pytest.raises(SlurmValueError, match='Invalid field requested: "JobIDs"'):
        parse_format("JobIDs")
    with pytest.raises(SlurmValueError, match='"JobID "'):
        parse_format("JobID ")
    with pytest.raises(SlurmValueError) as gres:
        parse_format("allocgres")
    assert (gres.value.message, gres.value.level) == ("AllocGRES has been removed, please use AllocTRES", "fatal")


def test_field_list_spec() -> None:
    assert field_list_spec() == "jobid,jobname,partition,account,alloccpus,state,exitcode,"
    assert field_list_spec(env={"SACCT_FORMAT": "jobid,user"}) == "jobid,user,"
    assert field_list_spec(["JobID"], env={"SACCT_FORMAT": "user"}) == "JobID,"
    assert field_list_spec(["State"], brief=True) == "State,jobid,state,exitcode,"
    assert field_list_spec(["a", "b"]) == "a,b,"
    golden_long = golden("sacct.txt", "sacct -j 381 -l -P")[0].split("\n")[0].split("|")
    assert names(field_list_spec(long=True)) == [(n, FIELDS[[f.name for f in FIELDS].index(n)].width)
                                                   for n in golden_long]
    with pytest.raises(SlurmValueError) as both:
        field_list_spec(["JobID"], long=True)
    assert both.value.message.startswith("Options -o(--format) and -l(--long) are mutually exclusive.")


# ---------------------------------------------------------------- rendering


def one(spec: str, job: Job, *, parsable: str | None = None, header: bool = False, **kw: object) -> str:
    return render(rows_for([job], allocations_only=True), parse_format(spec), header=header,
                  parsable=parsable, now=ts("2026-11-29T02:00:00"), **kw)  # type: ignore[arg-type]


def test_truncation_and_justification() -> None:
    job = mkjob(7, "a-rather-long-name")
    assert one("JobName", job) == "a-rather-+ \n"
    assert one("JobName%-12", job) == "a-rather-lo+ \n"
    assert one("JobName%18", job) == "a-rather-long-name \n"
    assert one("JobName%1", job) == "+ \n"
    assert one("JobName%0,JobID", job) == " 7            \n"
    assert one("JobName", job, parsable="no_ending") == "a-rather-long-name\n"


def test_header_truncates_without_plus() -> None:
    job = mkjob(7, "x")
    out = render([], parse_format("ReservationId,JobID%3,State%-7,NCPUS%0"), now=0.0)
    assert out == "Reservat Job State    \n-------- --- -------  \n"
    assert one("JobID%3", job, header=True) == "Job \n--- \n  7 \n"  # a given width is right-justified
    assert one("JobID%-3", job, header=True) == "Job \n--- \n7   \n"


def test_numbers_and_durations_are_never_cut() -> None:
    job = mkjob(7, "x", priority=4294901488)
    assert one("Priority%4,ElapsedRaw%2", job) == "4294901488  0 \n"
    assert one("NCPUS%0,NTasks%0,Elapsed%3", job) == "1   00:00:00 \n"
    job.start_time, job.end_time = ts("2026-11-27T00:00:00"), ts("2026-11-29T01:02:03")
    assert one("Elapsed,CPUTime,CPUTimeRAW", job) == "2-01:02:03 2-01:02:03     176523 \n"


def test_dates_cut_to_width_even_when_parsable() -> None:
    job = mkjob(7, "x", ran=False, state="PENDING")
    assert one("Submit%10,Start%4,End", job, parsable="no_ending") == "2026-11-29|Unkn|Unknown\n"
    assert one("Submit%-21,Start%5", job) == "2026-11-29T01:06:07   Unkno \n"


def test_parsable_forms_and_delimiter() -> None:
    job = mkjob(7, "x")
    assert one("JobID,State", job, parsable="ending", header=True) == "JobID|State|\n7|COMPLETED|\n"
    assert one("JobID,State", job, parsable="ending", delimiter="::") == "7::COMPLETED::\n"
    assert one("JobID,State", job, parsable="no_ending", delimiter=",") == "7,COMPLETED\n"
    assert one("NTasks,JobID", job, parsable="no_ending") == "|7\n"


def test_pending_and_running_jobs() -> None:
    pend = mkjob(9, "p", "PENDING", ran=False, reason="Priority")
    pend.eligible_time = None
    assert one("Start,End,Eligible,Elapsed,NodeList,AllocTRES,ReqTRES,AllocNodes,Reason,ExitCode", pend,
               parsable="no_ending") == (
        "Unknown|Unknown|Unknown|00:00:00|None assigned||billing=1,cpu=1,mem=1G,node=1|0|Priority|0:0\n")
    run = mkjob(10, "r", "RUNNING", at="2026-11-29T01:59:00", run=30)
    out = render(rows_for([run]), parse_format("JobID,State,End,Elapsed"), parsable="no_ending", header=False,
                 now=ts("2026-11-29T02:00:00"))
    assert out == "10|RUNNING|Unknown|00:00:30\n10.batch|RUNNING|Unknown|00:00:30\n"


def test_pending_array_master_and_throttle() -> None:
    master = mkjob(500, "arr", "PENDING", ran=False, array=(500, 0))
    master.array_task_id, master.array_spec, master.array_throttle = None, "1-3", 2
    assert one("JobID,JobIDRaw", master, parsable="no_ending") == "500_[1-3%2]|500\n"
    master.array_spec = "1-3%2"
    assert one("JobID", master, parsable="no_ending") == "500_[1-3%2]\n"


def test_memory_and_tres_units() -> None:
    job = mkjob(7, "x", gpus=2, num_cpus=4)
    assert one("ReqMem,ReqTRES,AllocTRES", job, parsable="no_ending") == (
        "4G|billing=4,cpu=4,gres/gpu=2,mem=4G,node=1|billing=4,cpu=4,gres/gpu=2,mem=4G,node=1\n")
    for mem, text in ((1536, "1.50G"), (1000, "1000M"), (100, "100M"), (0, "0"), (3 * 1024 * 1024, "3T")):
        job = mkjob(7, "x", mem_mb=mem)
        job.mem_per_cpu_mb = 0
        assert one("ReqMem", job, parsable="no_ending") == f"{text}\n"
    job = mkjob(7, "x")
    assert one("ReqMem", job, parsable="no_ending", noconvert=True) == "1024M\n"
    assert one("ReqMem", job, parsable="no_ending", units="K") == "1048576K\n"
    assert one("ReqMem", job, parsable="no_ending", units="T") == "0.00T\n"


def test_every_field_renders_for_every_kind_of_row() -> None:
    jobs = [mkjob(1, "a"), mkjob(2, "p", "PENDING", ran=False), mkjob(3, "r", "RUNNING"),
            mkjob(4, "c", "CANCELLED", cancelled_by=0, steps=(("extern", "extern", "", 0, 0),
                                                            ("batch", "batch", "", 0, 15)))]
    rows = rows_for(jobs)
    cols = parse_format("ALL")
    fixed = render(rows, cols, now=ts("2026-11-29T02:00:00"))
    widths = {len(line) for line in fixed.splitlines()}
    assert len(widths) == 1  # nothing overflows its column for these rows
    parsable = render(rows, cols, parsable="ending", now=ts("2026-11-29T02:00:00"))
    assert all(line.count("|") == 109 for line in parsable.splitlines())


def test_zero_columns() -> None:
    job = mkjob(7, "x")
    assert render(rows_for([job]), [], now=0.0) == "\n\n\n\n"
    assert render(rows_for([job]), [], parsable="ending", header=False, now=0.0) == "\n\n"


# ---------------------------------------------------------------- rows and values


def test_row_order_and_step_order() -> None:
    late = mkjob(20, "late", at="2026-11-29T01:00:05")
    early = mkjob(30, "early", at="2026-11-29T01:00:00",
                  steps=(("10", "s10", "", 0, 0), ("2", "s2", "", 0, 0), ("batch", "batch", "", 0, 0),
                         ("extern", "extern", "", 0, 0)))
    ids = [(j.job_id, s.step_id if s else None) for j, s in rows_for([late, early])]
    assert ids == [(30, None), (30, "extern"), (30, "batch"), (30, "2"), (30, "10"), (20, None), (20, "batch")]
    assert [(j.job_id, s) for j, s in rows_for([late, early], allocations_only=True)] == [(30, None), (20, None)]
    only = rows_for([late, early], steps_only={30: ["2", "batch"]})
    assert [(j.job_id, s.step_id if s else None) for j, s in only] == [(30, "batch"), (30, "2"), (20, None),
                                                                        (20, "batch")]


def test_exit_code_rules() -> None:
    assert job_exit_pair(mkjob(1, "t", "TIMEOUT", sig=15)) == (0, 0)
    assert job_exit_pair(mkjob(1, "c", "CANCELLED", sig=15)) == (0, 0)
    assert job_exit_pair(mkjob(1, "d", "DEADLINE", sig=1)) == (1, 0)
    assert job_exit_pair(mkjob(1, "f", "FAILED", code=200)) == (200, 0)
    out = one("ExitCode,DerivedExitCode", mkjob(1, "f", "FAILED", code=200, derived_exit_code=129), parsable="ending")
    assert out == "72:0|129:0|\n"


def test_cancelled_state_text() -> None:
    assert one("State%20", mkjob(1, "c", "CANCELLED", cancelled_by=0)) == "      CANCELLED by 0 \n"
    assert one("State", mkjob(1, "c", "CANCELLED")) == " CANCELLED \n"
    assert one("State", mkjob(1, "c", "COMPLETING")) == "   RUNNING \n"


# ---------------------------------------------------------------- speed and robustness


def test_ten_thousand_rows_render_fast() -> None:
    jobs = [mkjob(1000 + i, f"job{i}") for i in range(5000)]
    columns = parse_format(field_list_spec())
    best = 1e9
    for _ in range(3):
        t0 = time.process_time()
        out = render(rows_for(jobs), columns, now=SACCT_NOW)
        best = min(best, time.process_time() - t0)
    assert out.count("\n") == 10002
    assert best < 0.25, f"{best * 1e3:.0f} ms"  # sanity bound; ~25 ms on an idle machine


def test_fuzz_parsers_raise_only_slurm_input_errors() -> None:
    rng = random.Random(22058)
    alphabet = "JobIDStateAlcuns%-+0123456789,. _[]*'\"\t:/TNowhrmiuteday"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        for parse in (parse_format, lambda t: parse_states([t]), split_list,
                      lambda t: parse_time_arg(t, 1795914367.0), lambda t: field_list_spec([t], brief=True)):
            try:
                parse(text)
            except SlurmInputError:
                pass
