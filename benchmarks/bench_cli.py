"""Latency of flowslurm's SLURM commands, as ratios to a baseline measured in the same run.

    python benchmarks/bench_cli.py [--runs N] [--real]

Every figure is the median wall time of N runs of a whole command (process start to exit), in a
private FLOWSLURM_HOME. The baseline is `python -c pass` in the same interpreter: the floor any
Python command pays. With --real, and a real SLURM up (shared/tools/real-slurm/setup.sh), the same
loop also times SLURM's own C clients and prints our/real ratios.

Targets (issue 2): sbatch <= 3x real, squeue <= 2x real (also with 10,000 jobs), sacct <= 0.5x
real, `sbatch --wait --wrap true` <= 0.1x real (real SLURM 22.05 here: sbatch 8 ms, squeue 8-16 ms,
sacct 91 ms, sbatch --wait 2.0 s; shared/slurm-golden/PERF.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL_SLURM_PERF = {"sbatch": 0.008, "squeue": 0.010, "sacct": 0.091, "scancel": 0.007, "sbatch --wait": 2.0}


def timed(argv: list[str], env: dict[str, str], cwd: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {proc.stderr.decode()}")
    return statistics.median(samples)


def command(name: str) -> list[str]:
    """Our command as a user runs it: the venv's console script if installed, else the bin/ shim."""
    installed = Path(sys.executable).parent / name
    return [str(installed)] if installed.exists() else [str(ROOT / "bin" / name)]


def fill_ledger(env: dict[str, str], count: int, state: str) -> int:
    """Insert `count` held jobs (or finished ones) through the engine's own ledger API; returns one id."""
    code = f"""
import os, time
from flowslurm import config
from flowslurm.engine.ledger import Ledger
from flowslurm.engine.spec import JobSpec
from flowslurm.engine.submit import build_jobs
from flowslurm.slurm.jobenv import job_user
u = job_user()
spec = JobSpec(script="#!/bin/sh\\ntrue\\n", name="bench", user=u[0], uid=u[1], gid=u[2], group=u[3],
               work_dir=os.getcwd(), submit_dir=os.getcwd(), hold=True)
node = config.node()
ledger = Ledger.open()
jobs = [j for _ in range({count}) for j in build_jobs(spec, node, time.time())]
for j in jobs:
    j.state = "{state}"
    if j.state != "PENDING":
        j.start_time = j.end_time = time.time(); j.exit_code = 0; j.exit_signal = 0; j.held = ""
with ledger.write() as conn:
    sid = ledger.insert_script(conn, spec.script, [], {{}})
    print(ledger.insert_jobs(conn, jobs, sid)[-1])
"""
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def real_slurm_up() -> bool:
    return bool(shutil.which("scontrol")) and subprocess.run(
        ["scontrol", "ping"], capture_output=True).returncode == 0 and Path("/usr/bin/sbatch").exists()


def measure_real(runs: int) -> dict[str, float]:
    """Median wall time of real SLURM's C clients (from /usr/bin), run in the same loop as ours."""
    env, cwd = dict(os.environ), tempfile.mkdtemp(prefix="real-slurm-bench-")
    out = subprocess.run(["/usr/bin/sbatch", "--parsable", "--hold", "--wrap", "true"], env=env, cwd=cwd,
                         capture_output=True, text=True, check=True)
    job = out.stdout.strip().split(";")[0]
    try:
        return {
            "sbatch": timed(["/usr/bin/sbatch", "--parsable", "--hold", "--wrap", "true"], env, cwd, runs),
            "squeue": timed(["/usr/bin/squeue"], env, cwd, runs),
            "sacct": timed(["/usr/bin/sacct", "-j", job], env, cwd, runs),
            "scancel": timed(["/usr/bin/scancel", job], env, cwd, runs),
            "sbatch --wait": timed(["/usr/bin/sbatch", "--wait", "--wrap", "true"], env, cwd, max(3, runs // 5)),
        }
    finally:
        subprocess.run(["/usr/bin/scancel", "--me", "--state=PENDING"], env=env, capture_output=True)
        shutil.rmtree(cwd, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--real", action="store_true", help="also time a real SLURM's clients, if one is up")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flowslurm-bench-"))
    env = dict(os.environ, FLOWSLURM_HOME=str(tmp / "home"), PYTHONPATH=str(ROOT))
    env.pop("FLOWSLURM_DEBUG", None)
    cwd = str(tmp)
    runs = args.runs
    try:
        base = timed([sys.executable, "-c", "pass"], env, cwd, runs)
        rows: list[tuple[str, float, str]] = []

        def measure(label: str, argv: list[str], key: str, n: int = runs) -> None:
            rows.append((label, timed(argv, env, cwd, n), key))

        measure("squeue (0 jobs)", command("squeue"), "squeue")
        measure("sbatch --parsable --hold --wrap true", command("sbatch") + ["--parsable", "--hold", "--wrap", "true"], "sbatch")
        held = fill_ledger(env, 1, "PENDING")
        measure("scancel <held job>", command("scancel") + [str(held)], "scancel")
        done = fill_ledger(env, 10_000, "COMPLETED")
        measure("squeue (10,000 finished jobs in ledger)", command("squeue"), "squeue")
        measure("sacct -X -n", command("sacct") + ["-X", "-n"], "sacct")
        measure("sacct -j ID", command("sacct") + ["-j", str(done)], "sacct")
        fill_ledger(env, 10_000, "PENDING")
        measure("squeue (10,000 pending jobs listed)", command("squeue"), "squeue")
        measure("sbatch --wait --wrap true", command("sbatch") + ["--wait", "--wrap", "true"], "sbatch --wait",
                max(5, runs // 3))
        reference = dict(REAL_SLURM_PERF)
        if args.real and real_slurm_up():
            reference = measure_real(runs)
            print("x real: against the real SLURM clients, timed in this same run")
        else:
            print("x real: against real SLURM 22.05's medians recorded on this machine kind (shared/slurm-golden/PERF.md)")
        print(f"baseline: python -c pass = {base * 1000:.1f} ms (median of {runs})")
        print(f"{'command':45} {'median ms':>10} {'x python':>9} {'x real':>8}")
        for label, secs, key in rows:
            ref = reference.get(key)
            print(f"{label:45} {secs * 1000:10.1f} {secs / base:9.2f} {secs / ref if ref else float('nan'):8.2f}")
    finally:
        subprocess.run(["pkill", "-f", f"FLOWSLURM_HOME={tmp}"], capture_output=True)
        pid_file = tmp / "home" / "engine.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), 15)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
