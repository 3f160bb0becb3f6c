"""scontrol show job/partition/node/config text against the golden transcripts, byte for byte."""

from __future__ import annotations

import random
import time

import pytest

from flowslurm.config import Node
from flowslurm.engine.model import Job
from flowslurm.errors import SlurmInputError
from flowslurm.slurm import scontrol_format as sf
from tests.cli.golden import GOLDEN



def _record(name: str, command: str) -> str:
    """The stdout of `$ command` in a golden transcript."""
    text = (GOLDEN / name).read_text()
    start = text.index(f"$ {command}\n--- stdout ---\n") + len(f"$ {command}\n--- stdout ---\n")
    return text[start:text.index("--- stderr ---", start)]


def _epoch(stamp: str) -> float:
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))


NODE = Node(name="vm", cpus=2, memory_mb=24105, gpus=8, partition="debug", def_mem_per_cpu_mb=1024,
            kill_wait_s=30, cluster="oracle", account="")


def _golden_job(**kw: object) -> Job:
    base: dict[str, object] = dict(
        job_id=1519, name="pend1", user="golden", uid=1001, gid=1001, group="golden", account="research",
        partition="debug", state="PENDING", reason="Resources", priority=4294901394,
        submit_time=_epoch("2026-11-29T01:15:32"), eligible_time=_epoch("2026-11-29T01:15:32"),
        num_cpus=1, mem_mb=1024, work_dir="/tmp/slurm-golden-work", spec={"sid": 2277},
    )
    base.update(kw)
    return Job(**base)  # type: ignore[arg-type]


needs_golden = pytest.mark.skipif(not GOLDEN.is_dir(), reason="golden transcripts not available")


@needs_golden
def test_pending_job_matches_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    job = _golden_job()
    # LastSchedEval differs (the real scheduler looked again 3 s later): patch that one value
    got = sf.render_jobs([job], now=job.submit_time + 5)
    want = _record("squeue.txt", "scontrol show job 1519")
    assert got == want.replace("LastSchedEval=2026-11-29T01:15:35", "LastSchedEval=2026-11-29T01:15:32")


@needs_golden
def test_running_job_matches_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    t = _epoch("2026-11-29T01:15:32")
    job = _golden_job(job_id=1517, name="run1", state="RUNNING", reason="None", priority=4294901396, start_time=t,
                      time_limit=10, node_list="vm", batch_host="vm")
    assert sf.render_jobs([job], now=t + 5) == _record("squeue.txt", "scontrol show job 1517")


@needs_golden
def test_held_job_oneliner_matches_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    job = _golden_job(job_id=1521, name="held", reason="JobHeldUser", priority=0, held="user", eligible_time=None)
    got = sf.render_jobs([job], now=job.submit_time, oneliner=True)
    assert got == _record("squeue.txt", "scontrol show job -o 1521")


@needs_golden
def test_pending_array_first_line() -> None:
    job = _golden_job(job_id=1525, name="arr", array_job_id=1525, array_spec="0-9%2", array_throttle=2)
    lines = sf.job_lines(job, now=0)
    assert lines[0] == "JobId=1525 ArrayJobId=1525 ArrayTaskId=0-9%2 ArrayTaskThrottle=2 JobName=arr"
    assert "StdOut=/tmp/slurm-golden-work/slurm-1525_4294967294.out" in lines
    task = job.copy(array_task_id=3, job_id=1529)
    assert sf.job_lines(task, now=0)[0] == "JobId=1529 ArrayJobId=1525 ArrayTaskId=3 JobName=arr"


def test_states_exit_codes_and_limits() -> None:
    job = _golden_job(state="FAILED", reason="NonZeroExitCode", exit_code=3, exit_signal=0, start_time=100.0,
                      end_time=189.0, time_limit=1)
    text = sf.render_jobs([job], now=1000)
    assert "   JobState=FAILED Reason=NonZeroExitCode Dependency=(null)\n" in text  # job-states.txt
    assert "Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0\n" in text
    assert "   RunTime=00:01:29 TimeLimit=00:01:00 TimeMin=N/A\n" in text
    job = _golden_job(time_limit=10, spec={"time_min": 1})  # time-limits.txt, job 209
    assert "TimeLimit=00:10:00 TimeMin=00:01:00" in sf.render_jobs([job], now=0)
    job = _golden_job(dependency="afterok:262(failed)", reason="DependencyNeverSatisfied")
    assert "Reason=DependencyNeverSatisfied Dependency=afterok:262(failed)\n" in sf.render_jobs([job], now=0)


def test_memory_comment_and_gres() -> None:
    job = _golden_job(mem_mb=2048, spec={"mem_mb": 2048}, comment="kept", gpus=1, tres_per_node="gres:gpu:1")
    lines = sf.job_lines(job, now=0)
    assert "MinCPUsNode=1 MinMemoryNode=2G MinTmpDiskNode=0" in lines
    assert "Comment=kept " in lines  # sbatch-directives.txt shows the trailing blank
    assert "TRES=cpu=1,mem=2G,node=1,billing=1,gres/gpu=1" in lines
    assert lines[-2:] == ["TresPerNode=gres:gpu:1", ""]


def test_details_line() -> None:
    lines = sf.job_lines(_golden_job(), now=0, details=True)
    assert lines[5] == "DerivedExitCode=0:0"


def test_no_jobs() -> None:
    assert sf.render_jobs([], now=0) == "No jobs in the system\n"


@needs_golden
def test_partition_matches_golden() -> None:
    assert sf.render_record(sf.partition_lines(NODE)) == _record("sinfo-scontrol.txt", "scontrol show partition")
    assert sf.render_record(sf.partition_lines(NODE), oneliner=True) == _record(
        "sinfo-scontrol.txt", "scontrol show partition debug -o")


@needs_golden
def test_node_matches_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    usage = sf.NodeUsage(cpu_load=0.13, free_mem_mb=23506, boot_time=_epoch("2026-11-29T00:20:52"),
                         start_time=_epoch("2026-11-29T00:52:16"), last_busy=_epoch("2026-11-29T01:02:06"),
                         os_name="Linux 6.18.44-fc-v857 #1 SMP PREEMPT_DYNAMIC @0")
    assert sf.render_record(sf.node_lines(NODE, usage)) == _record("sinfo-scontrol.txt", "scontrol show node vm")
    busy = sf.NodeUsage(alloc_cpus=1, alloc_mem_mb=1024, alloc_gpus=8)
    lines = sf.node_lines(NODE, busy)
    assert "AllocTRES=cpu=1,mem=1G,gres/gpu=8" in lines  # pending-reasons.txt
    assert lines[8].startswith("State=MIXED ")
    assert sf.node_lines(NODE, sf.NodeUsage(alloc_cpus=2))[8].startswith("State=ALLOCATED ")


@needs_golden
def test_config_lines_use_golden_layout() -> None:
    lines = sf.config_lines(NODE, now=0, boot_time=0, next_job_id=271, user="slurm", uid=64030, home="/h", conf="/c")
    golden = _record("sinfo-scontrol.txt", "scontrol show config").splitlines()
    for key in ("ClusterName", "MaxArraySize", "MinJobAge", "DefMemPerCPU", "KillWait", "NEXT_JOB_ID",
                "SLURM_VERSION", "SelectType", "AccountingStorageBackupHost"):
        want = next(line for line in golden if line.startswith(key + " "))
        assert want in lines
    assert lines[-1] == "Slurmctld(primary) at vm is UP"


def test_fuzz_jobs_render_without_errors() -> None:
    rng = random.Random(1234)
    states = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"]
    for _ in range(2000):
        job = _golden_job(
            state=rng.choice(states), time_limit=rng.choice([None, -1, 0, 1, 10**6]),
            start_time=rng.choice([None, 0.0, 1e9]), end_time=rng.choice([None, 1e9 + 5]),
            array_job_id=rng.choice([None, 7]), array_task_id=rng.choice([None, 3]), array_spec="0-3",
            name="".join(rng.choice("ab%_ \n") for _ in range(rng.randint(0, 6))),
            spec={"output": rng.choice([None, "", "x-%A_%a.out", "/abs/%j"]), "time_min": rng.choice([None, 5])},
        )
        try:
            text = sf.render_jobs([job], now=2e9, oneliner=rng.random() < 0.5)
        except SlurmInputError:
            continue
        assert text.endswith("\n")
