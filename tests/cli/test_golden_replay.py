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
from tests.conftest import Cluster

LATER_ISSUE = re.compile(r"^(?:\w+=\S*\s+)*(?:scontrol(?! requeue)|sinfo)\b|[|;]\s*(?:scontrol|sinfo)\b(?![^']*'$)")

# (file, regex searched in the command) -> why the record is not compared
NOT_COMPARED: dict[tuple[str, str], str] = {
    ("sbatch-basic.txt", "--test-only"): "flowslurm's --test-only reports each directive (and a sane start time)",
    ("sbatch-errors.txt", "--array=0-3%0"): "a %0 throttle: SLURM runs two tasks there because of its own timing",
    ("sbatch-errors.txt", "-j 69 "): "array task order while running is timing dependent",
    ("sbatch-errors.txt", "-j 75 "): "SLURM shows 2 nodes for 3 tasks on 2-CPU nodes; flowslurm keeps 1 node",
    ("sbatch-errors.txt", "-j (67|68) "): "SLURM starts jobs about 1 s after submission, flowslurm at once",
    ("sbatch-errors.txt", "-j (82|87|88) "): "SLURM shows Priority for a job behind others on a busy oracle",
    ("sbatch-errors.txt", "--nodelist=nosuchnode"): "node names are checked with scontrol/sinfo (issue 3)",
    ("scancel.txt", "cat slurm-237.out"): "timing: bash runs the USR1 trap only after its sleep ends, and the KILL came first",
    ("job-states.txt", "1512"): "scontrol suspend (issue 3)",
    ("job-states.txt", "%L"): "SLURM started the job about 5 s after submission; flowslurm at once",
    ("scancel.txt", "-j 233 "): "pending array tasks cancelled one by one vanish from squeue in SLURM (issue 3)",
    ("job-states.txt", "1516"): "needs --deadline, not yet",
    ("exit-codes.txt", "exit 200'|exit 3'"): "the oracle was busy: SLURM queued these sruns, flowslurm starts them at once",
    ("srun-salloc.txt", "srun -v "): "srun -v prints SLURM's launch-plugin debug lines",
    ("srun-salloc.txt", "salloc -N1 srun hostname"): "SLURM's 'has been revoked' after relinquishing is a race of its own",
    ("sacct.txt", "--name=acct-a|^sacct [|]|sacct -a "): "lists the oracle's jobs from earlier transcripts",
    ("sacct.txt", "--json"): "sacct --json is not implemented",
}

# Records not even run: on the oracle a watchdog cancelled them after 5 s (tests/e2e/test_srun.py
# covers the same waits and their cancellation).
NOT_RUN: dict[tuple[str, str], str] = {
    ("srun-salloc.txt", "-N 2 |-n 3 "): "waits forever for resources the node does not have",
}

# Scripts a transcript uses without showing them with `cat`.
EXTRA_FILES = {
    "empty.sh": "",
    "dos.sh": "#!/bin/sh\r\necho dos\r\n",
    "blankfirst.sh": "\n#!/bin/sh\necho blank first\n",
    "directivefirst.sh": "#SBATCH --job-name=x\n#!/bin/sh\necho directive first\n",
}

# Shell steps the recorder took off the record before some records: (file, regex, shell).
SETUP = [
    ("output-patterns.txt", r"^cd pat && sbatch", "rm -rf pat && mkdir pat"),
    ("output-patterns.txt", "--chdir=sub", "mkdir -p pat/sub"),
    ("output-patterns.txt", "--output=outdir", "mkdir -p pat/outdir"),
]
# Settings that differ from the oracle's for one transcript.
ENV_OVERRIDES = {
    # SLURM's ~1 s start latency kept its two CPUs free for the cancel case; here the OOM and
    # TIMEOUT jobs would still hold them, so the cancelled job would never have started.
    "job-states.txt": {"FLOWSLURM_CPUS": "4"},
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


_EARLY = re.compile(r"(?<=\s)0:0[0-4](?=\s)")
LABELLED = re.compile(r"\bsrun\b.* (-l|--label) ")


def _sorted_lines(text: object) -> object:
    return "".join(sorted(text.splitlines(keepends=True))) if isinstance(text, str) else text


def _not_run(name: str, rec: Record) -> bool:
    return any(file == name and re.search(pattern, rec.command) for file, pattern in NOT_RUN)


def _reason_not_compared(name: str, rec: Record) -> str | None:
    if rec.root:
        return "run as root on the oracle"
    if LATER_ISSUE.search(rec.command):
        return "command of a later issue"
    for (file, pattern), why in NOT_COMPARED.items():
        if file == name and (re.search(pattern, rec.command) or f"line:{rec.line}" in pattern.split("|")):
            return why
    return None


def _wait_for_outputs(replay: Replay, cluster: Cluster, command: str) -> None:
    """Before `cat`, `ls` or `sacct`, let the jobs the record looks at get as far as they will
    (SLURM's records were taken after they had ended): those it names by id, and every job
    submitted since the last such wait. Waits while one runs or could still start, at most 90 s in
    all (one job times out after 60 s)."""
    # (srun and salloc too: they need the CPUs earlier jobs of the transcript had freed on the oracle)
    reads_results = re.match(r"(cat|ls|sacct|srun|salloc)\b", command) or re.match(r"squeue .*-t all", command)
    if not reads_results or not (cluster.home / "ledger.db").exists():
        return
    named = re.findall(r"slurm-(\d+)\.out", command)
    for ids in re.findall(r"-j ([\d,]+)", command):
        named += ids.split(",")
    conn = sqlite3.connect(cluster.home / "ledger.db", timeout=30)
    try:
        jobs = [int(replay.ids.get(j, j)) for j in named]
        # (an array is known by its own id: its tasks have no ids of their own until they start)
        jobs += [r[0] for r in conn.execute("SELECT DISTINCT COALESCE(array_job_id, job_id) FROM jobs"
                                            " WHERE COALESCE(array_job_id, job_id) > ?", (replay.settled_upto,))]
        replay.settled_upto = conn.execute("SELECT COALESCE(MAX(COALESCE(array_job_id, job_id)), 0) FROM jobs").fetchone()[0]
        deadline = time.monotonic() + 90

        def settled(job_id: int) -> bool:
            # (an allocation from salloc --no-shell runs until it is cancelled: waiting for it is pointless)
            row = conn.execute("SELECT state, held, reason, json_extract(spec, '$.interactive') FROM jobs"
                               " WHERE job_id = ? OR array_job_id = ?", (job_id, job_id)).fetchall()
            return all(r[0] not in ("PENDING", "RUNNING") or (r[0] == "PENDING" and (bool(r[1]) or r[2] in _STUCK))
                       or (r[0] == "RUNNING" and r[3]) for r in row)

        while not all(settled(j) for j in jobs) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        conn.close()


_STUCK = ("PartitionConfig", "Dependency", "DependencyNeverSatisfied", "BeginTime", "JobHeldUser", "JobHeldAdmin")


def replay_file(name: str, cluster: Cluster) -> tuple[int, list[str]]:
    """Replay one transcript; returns (records compared, mismatch reports)."""
    env = {**cluster.env, **ORACLE_ENV, **ENV_OVERRIDES.get(name, {})}
    replay = Replay(cluster.workdir, env)
    records = parse(name)
    setup_lines = replay.setup_files(records)
    for file, text in EXTRA_FILES.items():
        (cluster.workdir / file).write_text(text)
    compared, problems = 0, []
    ledger = cluster.home / "ledger.db"
    # an empty ledger, so ids can be aligned with SLURM's from the first submission on
    Replay(cluster.workdir, env).run(Record("squeue -h", "", "", 0))
    for rec in records:
        why = _reason_not_compared(name, rec)
        for file, pattern, shell in SETUP:
            if file == name and re.search(pattern, rec.command):
                _wait_for_outputs(replay, cluster, "ls")
                replay.run(Record(shell, "", "", 0))
        if SBATCH_CALL.search(rec.command):
            replay.align_ids(rec, ledger)
        if rec.line in setup_lines or _not_run(name, rec):
            continue  # a script, written by setup_files; or a record that would wait forever
        if why is not None:
            # run it (it may change state later records rely on) unless it needs another program
            if not rec.root and not LATER_ISSUE.search(rec.command):
                got_out, got_err, _ = replay.run(rec)
                if SBATCH_CALL.search(rec.command):
                    replay.learn_ids(rec, got_out, got_err)
            continue
        _wait_for_outputs(replay, cluster, rec.command)
        got = replay.run(rec)
        if SBATCH_CALL.search(rec.command):
            replay.learn_ids(rec, got[0], got[1])
        want = replay.expect(rec)
        got_n = tuple(replay.normalise(x) if isinstance(x, str) else x for x in got)
        want_n = tuple(replay.normalise(x) if isinstance(x, str) else x for x in want)
        if rec.command.startswith("squeue"):  # a running job's first seconds depend on the machine's load
            got_n, want_n = ((_EARLY.sub("0:00", x[0]), *x[1:]) for x in (got_n, want_n))
        if LABELLED.search(rec.command):  # tasks' lines interleave in any order, in SLURM too
            got_n, want_n = ((_sorted_lines(x[0]), *x[1:]) for x in (got_n, want_n))
        compared += 1
        if got_n != want_n:
            problems.append(f"line {rec.line}: $ {rec.command}\n  want {want_n!r}\n  got  {got_n!r}")
    return compared, problems


@pytest.mark.skipif(not GOLDEN.is_dir(), reason="shared/slurm-golden is not beside the checkout")
@pytest.mark.parametrize("name", ["sbatch-basic.txt", "sbatch-errors.txt", "sbatch-directives.txt", "scancel.txt", "output-patterns.txt", "job-states.txt", "exit-codes.txt", "sacct.txt", "srun-salloc.txt"])
def test_transcript(name: str, cluster: Cluster) -> None:
    start = time.monotonic()
    compared, problems = replay_file(name, cluster)
    assert compared >= 10
    assert not problems, f"{len(problems)} of {compared} records differ from real SLURM:\n" + "\n".join(problems)
    assert time.monotonic() - start < 120


def test_not_compared_entries_name_real_records() -> None:
    if not GOLDEN.is_dir():
        pytest.skip("no golden files")
    for (file, pattern) in NOT_COMPARED:
        assert any(re.search(pattern, rec.command) or f"line:{rec.line}" in pattern for rec in parse(file)), (file, pattern)


def test_parser_reads_every_transcript() -> None:
    if not GOLDEN.is_dir():
        pytest.skip("no golden files")
    for path in sorted(Path(GOLDEN).glob("*.txt")):
        records = parse(path.name)
        assert records, path.name
        assert all(isinstance(r.exit_code, int) for r in records)
