"""Golden tests for the squeue formatter: Job rows rebuilt from the recorded SLURM 22.05 sessions in
/work/shared/slurm-golden must render byte for byte as the real squeue printed them."""

from __future__ import annotations

import calendar
import random
import re
import time

import pytest

from flowslurm.engine.model import TIME_LIMIT_INVALID, Job
from flowslurm.errors import SlurmInputError
from flowslurm.slurm import squeue_fields as sf
from flowslurm.slurm.squeue_format import (
    DEFAULT_FORMAT, LONG_FORMAT, compile_Format, compile_format, compile_long_format, filter_states,
    fold_array_tasks, format_array_ids, pad, parse_array_ids, parse_sort, parse_states, render,
    select_format, sort_jobs,
)
from tests.cli.golden import GOLDEN



# --- golden transcript reader ---------------------------------------------------------------


def _records(name: str) -> list[tuple[str, str, str, int]]:
    """(command, stdout, stderr, exit code) for every command in a golden file."""
    out = []
    lines = (GOLDEN / name).read_text().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if (line.startswith("$ ") or line.startswith("[root] # ")) and i + 1 < len(lines) \
                and lines[i + 1] == "--- stdout ---":
            cmd = line.split(" ", 1)[1] if line.startswith("$ ") else line[len("[root] # "):]
            i += 2
            stdout: list[str] = []
            while lines[i] != "--- stderr ---":
                stdout.append(lines[i])
                i += 1
            i += 1
            stderr: list[str] = []
            while not lines[i].startswith("--- exit code: "):
                stderr.append(lines[i])
                i += 1
            rc = int(lines[i].split()[3])
            out.append((cmd, _text(stdout), _text(stderr), rc))
        i += 1
    return out


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def golden(name: str, cmd: str, nth: int = -1) -> tuple[str, str, int]:
    """stdout, stderr and exit code of the nth (default: last) run of `cmd` in a golden file."""
    found = [r[1:] for r in _records(name) if r[0] == cmd]
    assert found, f"{cmd!r} not in {name}"
    return found[nth]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch):
    """The golden files were recorded in UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def ts(hh: int, mm: int, ss: int, day: int = 29) -> float:
    return float(calendar.timegm((2026, 11, day, hh, mm, ss)))


def J(job_id: int, name: str, **kw) -> Job:
    base = dict(user="golden", uid=1001, gid=1001, group="golden", account="research",
                mem_per_cpu_mb=1024, work_dir="/tmp/slurm-golden-work")
    base.update(kw)
    return Job(job_id=job_id, name=name, **base)


# --- the squeue.txt scenario ----------------------------------------------------------------

NOW = ts(1, 15, 36)


def squeue_jobs() -> list[Job]:
    """The jobs alive while squeue.txt was recorded, in job id order (as the ledger gives them)."""
    sub = ts(1, 15, 32)
    sub2 = ts(1, 15, 33)
    run = dict(state="RUNNING", reason="None", start_time=sub, submit_time=sub, node_list="vm",
               batch_host="vm")
    jobs = [
        J(1503, "wrap", user="root", uid=0, gid=0, group="root", account="root", nodes=2,
          num_cpus=2, reason="PartitionNodeLimit", priority=4294901410, submit_time=ts(1, 11, 1)),
        J(1517, "run1", priority=4294901396, time_limit=10, **run),
        J(1518, "run2", priority=4294901395, time_limit=60, **run),
        J(1519, "pend1", reason="Resources", priority=4294901394, submit_time=sub),
        J(1520, "pend2", reason="Priority", priority=4294901393, submit_time=sub,
          tres_per_node="gres:gpu:1", gpus=1),
        J(1521, "held", reason="JobHeldUser", priority=0, submit_time=sub, held="user"),
        J(1522, "adminheld", reason="JobHeldAdmin", priority=0, submit_time=sub, held="admin"),
        J(1523, "dep", reason="Dependency", priority=4294901391, submit_time=sub2,
          dependency="afterok:1517(unfulfilled)"),
        J(1524, "later", reason="BeginTime", priority=4294901390, submit_time=sub2,
          begin_time=ts(2, 15, 33)),
    ]
    for task in range(10):
        jobs.append(J(1525 if task == 0 else 1527 + task, "arr", reason="Priority",
                      priority=4294901389, submit_time=sub2, array_job_id=1525,
                      array_task_id=task, array_throttle=2))
    jobs.append(J(1526, "a-very-long-job-name-that-is-truncated", reason="Priority",
                  priority=4294901388, submit_time=sub2))
    return jobs


def finished_jobs() -> list[Job]:
    """The finished jobs `squeue --states=all` showed (priorities chosen to give its order)."""
    rows = [  # id, name, user, state, secs, nodes, reason
        (1484, "susp", "golden", "CANCELLED", 1, "vm", "None"),
        (1496, "requeue", "golden", "CANCELLED", 0, "", "None"),
        (1497, "busy1", "root", "CANCELLED", 15, "vm", "None"),
        (1498, "busy2", "root", "CANCELLED", 0, "", "None"),
        (1510, "cancel-running", "golden", "CANCELLED", 0, "vm", "None"),
        (1512, "susp", "golden", "CANCELLED", 1, "vm", "None"),
        (1513, "requeue", "golden", "CANCELLED", 0, "", "BeginTime"),
        (1514, "busy1", "root", "CANCELLED", 67, "vm", "None"),
        (1515, "busy2", "root", "CANCELLED", 0, "", "None"),
        (1511, "cancel-pending", "golden", "CANCELLED", 0, "", "JobHeldUser"),
    ]
    rows += [(i, "wrap", "root", "CANCELLED", 0, "", "None") for i in range(1485, 1496)]
    rows += [(1499, "wrap", "root", "CANCELLED", 0, "", "None"),
             (1483, "cancel-pending", "golden", "CANCELLED", 0, "", "None"),
             (1500, "wrap", "root", "COMPLETED", 0, "vm", "None"),
             (1501, "interactive", "root", "COMPLETED", 0, "vm", "None"),
             (1502, "bash", "root", "COMPLETED", 5, "vm", "None"),
             (1506, "ok", "golden", "COMPLETED", 0, "vm", "None"),
             (1504, "deadline", "golden", "DEADLINE", 0, "", "DeadLine"),
             (1516, "deadline", "golden", "DEADLINE", 0, "", "DeadLine"),
             (1507, "fail3", "golden", "FAILED", 0, "vm", "NonZeroExitCode"),
             (1508, "sig9", "golden", "FAILED", 0, "vm", "JobLaunchFailure"),
             (1509, "oom", "golden", "OUT_OF_MEMORY", 0, "vm", "OutOfMemory"),
             (1477, "to", "golden", "TIMEOUT", 71, "vm", "TimeLimit"),
             (1505, "to", "golden", "TIMEOUT", 89, "vm", "TimeLimit")]
    jobs = []
    for rank, (jid, name, user, state, secs, nodes, reason) in enumerate(rows):
        started = nodes == "vm" or state == "TIMEOUT"
        jobs.append(J(jid, name, user=user, state=state, reason=reason, priority=1000 - rank,
                      node_list=nodes, start_time=ts(1, 5, 0) if started else None,
                      end_time=ts(1, 5, 0) + secs if started else ts(1, 6, 0)))
    return sorted(jobs, key=lambda j: j.job_id)


def run_default(jobs: list[Job], fmt: str = DEFAULT_FORMAT, **kw) -> str:
    return render(filter_states(jobs, kw.pop("states", None)), compile_format(fmt), now=NOW, **kw)


@pytest.mark.parametrize("cmd,kwargs", [
    ("squeue", {}),
    ("squeue -h", {"header": False}),
    ("squeue --noheader", {"header": False}),
    ("squeue -r", {"array_unfold": True}),
    ("squeue --array", {"array_unfold": True}),
])
def test_default_listing(cmd: str, kwargs: dict) -> None:
    stdout, stderr, rc = golden("squeue.txt", cmd)
    assert run_default(squeue_jobs(), **kwargs) == stdout


def test_empty_queue_prints_only_the_header() -> None:
    stdout, _, _ = golden("squeue.txt", "squeue", nth=0)
    jobs = [j for j in squeue_jobs() if j.job_id == 1503]
    assert render([], now=NOW) + stdout.splitlines(True)[1] == stdout
    assert render(jobs, now=NOW) == stdout


@pytest.mark.parametrize("cmd,fmt,kwargs", [
    ('squeue -o "%i %j %T %M %l %D %R"', "%i %j %T %M %l %D %R", {}),
    ('squeue --format="%i %j %T %M %l %D %R"', "%i %j %T %M %l %D %R", {}),
    ('squeue -h -o "%i %j %T %M %l %D %R"', "%i %j %T %M %l %D %R", {"header": False}),
    ('squeue -o "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"', DEFAULT_FORMAT, {}),
    ('squeue -o "%A %F %K %a %i" -r', "%A %F %K %a %i", {"array_unfold": True}),
    ('squeue -o "%i|%t|%T|%r|%R|%S|%V|%e|%L|%Q|%b|%C|%m|%c|%N|%o"',
     "%i|%t|%T|%r|%R|%S|%V|%e|%L|%Q|%b|%C|%m|%c|%N|%o", {}),
    ('squeue -t R,PD -h -o "%i %t"', "%i %t", {"header": False, "states": "R,PD"}),
    ('squeue -t pd -h -o "%i %t"', "%i %t", {"header": False, "states": "pd"}),
    ("squeue -S -i -h -o %i", "%i", {"header": False, "sort": "-i"}),
    ('squeue --sort=j -h -o "%i %j"', "%i %j", {"header": False, "sort": "j"}),
    ('squeue -p debug -h -o "%i %P"', "%i %P", {"header": False}),
])
def test_format_option(cmd: str, fmt: str, kwargs: dict) -> None:
    stdout, _, _ = golden("squeue.txt", cmd)
    states = kwargs.pop("states", None)
    jobs = filter_states(squeue_jobs(), parse_states(states) if states else None)
    assert render(jobs, compile_format(fmt), now=NOW, **kwargs) == stdout


def test_invalid_format_letter_prints_literally_with_error() -> None:
    stdout, stderr, rc = golden("squeue.txt", 'squeue -o "%5i %-10j %20T|"')
    compiled = compile_format("%5i %-10j %20T|")
    assert render(squeue_jobs(), compiled, now=NOW) == stdout
    assert "".join(e + "\n" for e in compiled.errors) == stderr
    assert rc == 0


@pytest.mark.parametrize("cmd,spec", [
    ("squeue -O JobID,Name,State,TimeUsed,TimeLimit,NumNodes,ReasonList",
     "JobID,Name,State,TimeUsed,TimeLimit,NumNodes,ReasonList"),
    ("squeue --Format=JobID,Name:30,State:12,Reason,SubmitTime,StartTime",
     "JobID,Name:30,State:12,Reason,SubmitTime,StartTime"),
    ('squeue -O "JobArrayID,ArrayJobID,ArrayTaskID,JobID,tres-per-node,Partition"',
     "JobArrayID,ArrayJobID,ArrayTaskID,JobID,tres-per-node,Partition"),
])
def test_long_format_option(cmd: str, spec: str) -> None:
    stdout, _, _ = golden("squeue.txt", cmd)
    compiled = compile_long_format(spec)
    assert compiled.errors == []
    assert render(squeue_jobs(), compiled, now=NOW) == stdout


@pytest.mark.parametrize("cmd", ["squeue -l", "squeue --long"])
def test_long_listing_has_date_line(cmd: str) -> None:
    stdout, _, _ = golden("squeue.txt", cmd)
    compiled = select_format(long=True)
    assert render(squeue_jobs(), compiled, now=NOW, long_header_time=True) == stdout


@pytest.mark.parametrize("cmd,states", [
    ("squeue -t PENDING", "PENDING"),
    ("squeue --states=PENDING", "PENDING"),
    ("squeue --states=RUNNING", "RUNNING"),
    ("squeue --states=all", "all"),
])
def test_state_filters(cmd: str, states: str) -> None:
    stdout, _, _ = golden("squeue.txt", cmd)
    jobs = filter_states(squeue_jobs() + finished_jobs(), parse_states(states))
    assert render(jobs, now=NOW) == stdout


def test_default_states_hide_finished_jobs() -> None:
    stdout, _, _ = golden("squeue.txt", "squeue", nth=1)
    assert render(filter_states(squeue_jobs() + finished_jobs()), now=NOW) == stdout


def test_bad_state_message() -> None:
    _, stderr, rc = golden("squeue.txt", "squeue -t BOGUS")
    with pytest.raises(SlurmInputError) as err:
        parse_states("BOGUS")
    assert err.value.message + "\n" == stderr and err.value.exit_code == rc == 1


@pytest.mark.parametrize("cmd,select,kwargs", [
    ("squeue -j 1517", lambda j: j.job_id == 1517, {}),
    ("squeue -j 1517,1519", lambda j: j.job_id in (1517, 1519), {}),
    ("squeue --jobs=1525", lambda j: j.array_job_id == 1525, {}),
    ("squeue -j 1525_3", lambda j: j.array_task_id == 3, {"array_unfold": True}),
    ("squeue -u golden", lambda j: j.user == "golden", {}),
    ("squeue --me", lambda j: j.user == "golden", {}),
])
def test_selections(cmd: str, select, kwargs: dict) -> None:
    stdout, _, _ = golden("squeue.txt", cmd)
    jobs = [j for j in squeue_jobs() if select(j)]
    assert render(jobs, now=NOW, **kwargs) == stdout


def test_name_selection_one_second_later() -> None:
    stdout, _, _ = golden("squeue.txt", "squeue -n run1,held")
    jobs = [j for j in squeue_jobs() if j.name in ("run1", "held")]
    assert render(jobs, now=NOW + 1) == stdout


def test_finished_job_needs_state_all() -> None:
    done = J(1527, "finished", state="COMPLETED", reason="None", priority=4294901387,
             start_time=ts(1, 15, 37), end_time=ts(1, 15, 37), node_list="vm")
    assert render(filter_states([done]), now=NOW) == golden("squeue.txt", "squeue -j 1527")[0]
    alljobs = filter_states([done], parse_states("all"))
    assert render(alljobs, now=NOW) == golden("squeue.txt", "squeue -j 1527 -t all")[0]
    out = render(alljobs, "%i %T %t %r %M", header=False, now=NOW)
    assert out == golden("squeue.txt", "squeue -h -j 1527 -t all -o '%i %T %t %r %M'")[0]


# --- other golden files ---------------------------------------------------------------------


def test_job_states_file() -> None:
    specs = [(1510, "cancel-running", "CANCELLED", "None", None), (1512, "susp", "CANCELLED", "None", None),
             (1513, "requeue", "CANCELLED", "BeginTime", None),
             (1511, "cancel-pending", "CANCELLED", "JobHeldUser", None),
             (1506, "ok", "COMPLETED", "None", None), (1516, "deadline", "DEADLINE", "DeadLine", 1),
             (1507, "fail3", "FAILED", "NonZeroExitCode", None),
             (1508, "sig9", "FAILED", "JobLaunchFailure", None),
             (1509, "oom", "OUT_OF_MEMORY", "OutOfMemory", None), (1505, "to", "TIMEOUT", "TimeLimit", 1)]
    jobs = [J(jid, name, state=state, reason=reason, time_limit=limit, priority=100 - n,
              end_time=NOW - 60) for n, (jid, name, state, reason, limit) in enumerate(specs)]
    jobs[3].priority = 0  # cancel-pending was held
    cmd = "squeue -t all -j 1506,1507,1508,1509,1510,1511,1512,1513,1516,1505 -o '%i %j %T %t %r %l'"
    out = render(filter_states(jobs, parse_states("all")), "%i %j %T %t %r %l", now=NOW)
    assert out == golden("job-states.txt", cmd)[0]


def test_time_left_and_suspended() -> None:
    job = J(1505, "to", state="RUNNING", reason="None", time_limit=1, start_time=ts(1, 11, 48),
            node_list="vm")
    out = render([job], "%i %j %T %l %L", now=ts(1, 11, 54))
    assert out == golden("job-states.txt", "squeue -j 1505 -o '%i %j %T %l %L'")[0]
    susp = J(1512, "susp", state="SUSPENDED", reason="None", start_time=NOW - 5, node_list="vm")
    out = render([susp], "%i %j %T %t %r", now=NOW)
    assert out == golden("job-states.txt", "squeue -j 1512 -o '%i %j %T %t %r'")[0]


def test_arrays_and_dependencies_file() -> None:
    f = "arrays-dependencies.txt"
    tasks = [J(255 if t == 3 else 256 + t, "wrap", reason="None", array_job_id=255, array_task_id=t,
               array_throttle=2) for t in range(4)]
    assert render(tasks, now=NOW) == golden(f, "squeue -j 255")[0]
    out = render(tasks, "%i %A %F %K %T %r", now=NOW, array_unfold=True)
    assert out == golden(f, "squeue -r -j 255 -o '%i %A %F %K %T %r'")[0]
    dep = J(256, "wrap", reason="Dependency", dependency="afterok:255_*(unfulfilled)")
    assert render([dep], "%i %T %r %E", now=NOW) == golden(f, "squeue -j 256 -o '%i %T %r %E'")[0]
    held = [J(260, "wrap", reason="JobHeldUser", array_job_id=260, array_task_id=t) for t in (1, 3, 5, 6, 7)]
    assert render(held, now=NOW) == golden(f, "squeue -j 260")[0]
    stepped = [J(261, "wrap", reason="JobHeldUser", array_job_id=261, array_task_id=t) for t in (0, 5, 10)]
    assert render(stepped, "%i %K", header=False, now=NOW) == golden(f, "squeue -h -j 261 -o '%i %K'")[0]
    deps = [J(263, "wrap", reason="DependencyNeverSatisfied", dependency="afterok:262(failed)", priority=3),
            J(264, "wrap", state="COMPLETED", reason="None", priority=2, start_time=NOW - 9, end_time=NOW - 9),
            J(265, "wrap", state="COMPLETED", reason="None", priority=1, start_time=NOW - 9, end_time=NOW - 9)]
    out = render(deps, "%i %T %r %E", now=NOW)
    assert out == golden(f, "squeue -j 263,264,265 -t all -o '%i %T %r %E'")[0]
    multi = J(266, "wrap", reason="JobHeldUser", dependency="afterok:262(unfulfilled),afterok:264(unfulfilled)")
    assert render([multi], "%i %E", header=False, now=NOW) == golden(f, "squeue -h -j 266 -o '%i %E'")[0]
    single = [J(268, "single", reason="JobHeldUser", dependency="singleton(unfulfilled)"),
              J(269, "single", reason="Dependency", dependency="singleton(unfulfilled)", priority=5)]
    out = render(single, "%i %T %r %E", now=NOW)
    assert out == golden(f, "squeue -n single -o '%i %T %r %E'")[0]
    killed = J(270, "wrap", state="CANCELLED", reason="DependencyNeverSatisfied", end_time=NOW)
    assert render([killed], "%i %T %r", now=NOW) == golden(f, "squeue -j 270 -t all -o '%i %T %r'")[0]


def test_pending_reasons_file() -> None:
    f = "pending-reasons.txt"
    never = J(106, "neverdep", reason="DependencyNeverSatisfied", dependency="afterok:105(failed)",
              priority=30)
    out = render([never], "%i %j %T %r %E", now=NOW)
    assert out == golden(f, "squeue -j 106 -o '%i %j %T %r %E'")[0]
    down = J(107, "partdown", reason="PartitionDown")
    assert render([down], "%i %j %T %r", now=NOW) == golden(f, "squeue -j 107 -o '%i %j %T %r'")[0]
    text = "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"
    drained = J(108, "drained", reason=text)
    assert render([drained], "%i %j %T %r %R", now=NOW) == golden(f, "squeue -j 108 -o '%i %j %T %r %R'")[0]
    gpu = [never, J(109, "gpu-hog", state="RUNNING", reason="None", tres_per_node="gres:gpu:8",
                    start_time=NOW - 3, node_list="vm", priority=28),
           J(110, "gpu-wait", reason="Resources", tres_per_node="gres:gpu:1", priority=27)]
    assert render(gpu, "%i %j %T %r %b", now=NOW) == golden(f, "squeue -o '%i %j %T %r %b'")[0]


@pytest.mark.parametrize("cmd,jobs,unfold", [
    ("squeue -h -r -j 67 -t all -o '%i %T %r %l %D %C %K'",
     [J(67, "wrap", time_limit=TIME_LIMIT_INVALID)], True),
    ("squeue -h -r -j 68 -t all -o '%i %T %r %l %D %C %K'",
     [J(68 + 10 * t, "wrap", array_job_id=68, array_task_id=t) for t in range(4)], True),
    ("squeue -h -r -j 72 -t all -o '%i %T %r %l %D %C %K'",
     [J(72, "wrap", state="COMPLETED", start_time=NOW - 5, end_time=NOW - 5, node_list="vm")], True),
    ("squeue -h -r -j 73 -t all -o '%i %T %r %l %D %C %K'",
     [J(73, "wrap", reason="PartitionConfig", nodes=2, num_cpus=2)], True),
    ("squeue -h -r -j 77 -t all -o '%i %T %r %l %D %C %K'",
     [J(77, "wrap", reason="PartitionConfig", num_cpus=3, cpus_per_task=3)], True),
])
def test_sbatch_errors_views(cmd: str, jobs: list[Job], unfold: bool) -> None:
    out = render(jobs, "%i %T %r %l %D %C %K", header=False, now=NOW, array_unfold=unfold)
    assert out == golden("sbatch-errors.txt", cmd)[0]


def test_directive_views() -> None:
    f = "sbatch-directives.txt"
    first = J(323, "first", time_limit=5, num_cpus=2, command="/tmp/slurm-golden-work/d-basic.sh")
    assert render([first], "%j|%l|%C|%k|%o", header=False, now=NOW) == \
        golden(f, "squeue -h -j 323 -o '%j|%l|%C|%k|%o'")[0]
    quoted = J(330, "with space", comment="single quoted", command="/tmp/slurm-golden-work/d-quoted.sh")
    assert render([quoted], "%j|%l|%C|%k|%o", header=False, now=NOW) == \
        golden(f, "squeue -h -j 330 -o '%j|%l|%C|%k|%o'")[0]
    arr = [J(342, "wrap", array_job_id=342, array_task_id=t) for t in range(3)]
    assert render(arr, "%i|%j|%l|%k", header=False, now=NOW, array_unfold=True) == \
        golden(f, "squeue -h -r -j 342 -o '%i|%j|%l|%k'")[0]


def _minutes(text: str) -> int | None:
    if text == "UNLIMITED":
        return None
    days, _, clock = text.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (1 if s else 0)


def test_time_limits_file() -> None:
    records = _records("time-limits.txt")
    checked = 0
    for n, (cmd, stdout, _, _) in enumerate(records):
        m = re.fullmatch(r"squeue -h -j (\d+) -o %l", cmd)
        nxt = records[n + 1] if n + 1 < len(records) else None
        if not m or not nxt or "TimeLimit" not in nxt[0] or not nxt[1].startswith("TimeLimit="):
            continue
        limit = _minutes(nxt[1].strip().split("=", 1)[1])
        assert render([J(int(m.group(1)), "x", time_limit=limit)], "%l", header=False, now=NOW) == stdout
        checked += 1
    assert checked >= 15


# --- unit behaviour -------------------------------------------------------------------------


def test_widths_justification_and_truncation() -> None:
    assert pad("abcdef", 4, False) == "abcd" and pad("ab", 4, False) == "ab  "
    assert pad("abcdef", 4, True) == "abcd" and pad("abcdef", 4, True, cut=False) == "abcdef"
    assert pad("ab", -1, False) == "ab " and pad("ab", 0, True) == "ab"
    job = J(1, "n", state="RUNNING", start_time=NOW - 90061, node_list="node[01-12]")
    out = render([job], "%.3M|%.3N|%3N|%.4R|%.3j", header=False, now=NOW)
    assert out == "1-01:01:01|node[01-12]|nod|node[01-12]|  n\n"
    pend = J(2, "n", reason="Resources")
    assert render([pend], "%.4R|%.4l|%.4L|%4l", header=False, now=NOW) == "(Res|UNLI|UNLI|UNLI\n"
    assert compile_format("%.4R %.4N").header_line == "NODELIST(REASON) NODELIST"


def test_null_strings_follow_glibc() -> None:
    job = J(1, "n")
    assert render([job], "%k|%5k|%6k|%.5k|%o", header=False, now=NOW) == "(null)|     |(null)|(null|(null)\n"


def test_prefix_percent_runs_and_all() -> None:
    job = J(7, "n")
    assert render([job], "id=%i%%j", now=NOW) == "id=JOBIDNAME\nid=7n\n"
    assert render([job], "no fields %", now=NOW) == "no fields \nno fields \n"  # a lone % is dropped
    compiled = compile_format("%all")
    assert compiled.errors == [] and compiled.header_line.count("|") == 51
    assert compiled.header_line.startswith("ACCOUNT|TRES_PER_NODE|MIN_CPUS|MIN_TMP_DISK|END_TIME|")
    assert render([job], compiled, header=False, now=NOW).count("|") == 51


def test_bad_specs_keep_printing() -> None:
    compiled = compile_format("%i %5")
    assert compiled.errors == ["squeue: error: Invalid job format specification: "]
    assert render([J(3, "n")], compiled, header=False, now=NOW) == "3 %5\n"
    assert compile_format("%4294967297i").header_line == "J"  # the size wraps like a C int
    assert compile_format("%2147483648i").header_line == "JOBID "  # ... negative: "%s "
    compiled = compile_long_format("JobID:5|,bogus,name:.6")
    assert compiled.errors == ["squeue: error: Invalid job format specification: bogus"]
    assert compiled.header_line == "JOBID|  NAME"
    assert compile_Format("NUMTASKSX,numcpus:-1").header_line == "TASKS               CPUS "
    out = render([J(3, "n")], compile_Format("numcpus:-1,name:.3|"), header=False, now=NOW)
    assert out == "1   n|\n"


def test_select_format_rules() -> None:
    with pytest.raises(SlurmInputError) as err:
        select_format("%i", long=True)
    assert err.value.exit_code == 1 and "mutually exclusive" in err.value.message
    assert select_format(environ={"SQUEUE_FORMAT": "%i"}).header_line == "JOBID"
    assert select_format(environ={"SQUEUE_FORMAT2": "name:5"}).header_line == "NAME "
    assert select_format("%j", environ={"SQUEUE_FORMAT": "%i"}).header_line == "NAME"
    assert select_format(long=True).header_line == compile_format(LONG_FORMAT).header_line


def test_parse_states_forms() -> None:
    assert parse_states("R,PD") == {"RUNNING", "PENDING"}
    assert parse_states("pending,oom,cg") == {"PENDING", "OUT_OF_MEMORY", "COMPLETING"}
    assert "TIMEOUT" in parse_states("ALL")
    assert parse_states(",") == frozenset()
    with pytest.raises(SlurmInputError):
        parse_states("R,all")


def test_sort_spec() -> None:
    assert parse_sort("-t,u") == [("t", True), ("u", False)]
    assert parse_sort("P,t,-p") == [("P", False), ("t", False), ("p", True)]
    assert parse_sort("-cluster,i") == [("cluster", True), ("i", False)]
    with pytest.raises(SlurmInputError) as err:
        parse_sort("i,k")
    assert err.value.message == "squeue: error: Invalid sort specification: k"
    jobs = [J(1, "b", user="zed", state="RUNNING", start_time=NOW), J(2, "a", user="amy"),
            J(3, "c", user="amy", state="RUNNING", start_time=NOW)]
    assert [j.job_id for j in sort_jobs(jobs, "-t,u", now=NOW)] == [3, 1, 2]
    assert [j.job_id for j in sort_jobs(jobs, "ji", now=NOW)] == [2, 1, 3]


def test_array_spec_text() -> None:
    assert format_array_ids([0, 1, 2, 3, 5, 7, 8, 9], 2) == "0-3,5,7-9%2"
    assert format_array_ids(list(range(0, 101, 10))) == "0-100:10"
    assert format_array_ids([0, 5, 10]) == "0,5,10"
    long_text = format_array_ids(list(range(0, 400, 2)))
    assert long_text == "0-398:2"
    many = format_array_ids([i for i in range(300) if i % 3 == 0 or i % 7 == 0])
    assert len(many) == 63 and many.endswith("...")
    assert parse_array_ids("0-3,5,7-15:4%2") == [0, 1, 2, 3, 5, 7, 11, 15]


def test_fold_keeps_running_tasks_alone_and_uses_master_rows() -> None:
    tasks = [J(10, "a", array_job_id=10, array_task_id=0, state="RUNNING", start_time=NOW, node_list="vm"),
             J(11, "a", array_job_id=10, array_task_id=1, state="RUNNING", start_time=NOW, node_list="vm"),
             J(12, "a", array_job_id=10, array_task_id=2, array_throttle=2, reason="JobArrayTaskLimit"),
             J(13, "a", array_job_id=10, array_task_id=3, array_throttle=2, reason="JobArrayTaskLimit")]
    folded = fold_array_tasks(tasks)
    assert [j.display_id for j in folded] == ["10_0", "10_1", "10_[2-3%2]"]
    assert folded[2].job_id == 10 and folded[2].reason == "JobArrayTaskLimit"
    master = J(20, "m", array_job_id=20, array_spec="4-6", reason="Priority")
    split = J(25, "m", array_job_id=20, array_task_id=1, reason="Priority")
    assert [j.display_id for j in fold_array_tasks([master, split])] == ["20_[1,4-6]"]
    out = render([master, split], "%i %A", header=False, now=NOW, array_unfold=True)
    assert out == "20_1 20\n20_4 20\n20_5 20\n20_6 20\n"


def test_column_values() -> None:
    job = J(5, "n", state="RUNNING", start_time=NOW - 30, time_limit=90, priority=2147483647,
            submit_time=NOW - 40, mem_per_cpu_mb=1536, node_list="")
    out = render([job], "%p|%e|%m|%N|%B|%h|%z|%y|%G|%U|%g|%Z|%x|%X|%H", header=False, now=NOW,
                 node_name="vm")
    assert out == "0.49999999988358|2026-11-29T02:45:06|1.50G|vm|vm|OK|*:*:*|0|1001|1001|golden|" \
                  "/tmp/slurm-golden-work||N/A|*\n"
    assert sf.fmt_units(1536 * 1024, 2) == "1.50T" and sf.fmt_units(0, 2) == "0"
    assert sf.fmt_secs(366 * 86400) == "INVALID" and sf.fmt_secs(3600) == "1:00:00"


# --- fuzz and speed -------------------------------------------------------------------------


def test_fuzz_parsers_raise_only_slurm_errors() -> None:
    rng = random.Random(20261129)
    alphabet = "%.-+,:0123456789aAbBcCiIjJlLmMpPrRsStTuUxXzZ |_[]()*&^~\t"
    names = list(sf.LONG_FIELDS) + ["bogus", ""]
    job = J(1, "n", state="RUNNING", start_time=NOW, time_limit=5)
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        compiled = compile_format(text)
        render([job], compiled, now=NOW)
        long_text = ",".join(rng.choice(names) + rng.choice(["", ":", ":.", ":7", ":-3x", ":.x"])
                             for _ in range(rng.randint(0, 4)))
        render([job], compile_long_format(long_text + text), now=NOW)
        for parser in (parse_states, parse_sort, parse_array_ids):
            try:
                parser(text)
            except SlurmInputError:
                pass


def test_render_10000_jobs_is_fast() -> None:
    jobs = []
    for n in range(10000):
        running = n % 3 == 0
        jobs.append(J(100000 + n, f"job{n % 97}", state="RUNNING" if running else "PENDING",
                      reason="None" if running else "Priority", priority=n % 1000,
                      start_time=NOW - n if running else None, node_list="vm" if running else ""))
    compiled = compile_format(DEFAULT_FORMAT)
    render(jobs, compiled, now=NOW)
    best = min(_timed(lambda: render(jobs, compiled, now=NOW)) for _ in range(3))
    print(f"render 10000 jobs: {best * 1000:.1f} ms")
    assert best < 0.5


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
