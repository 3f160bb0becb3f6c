"""Arrays, dependencies and polling: what issue 3 asks to measure, as ratios to baselines run here.

    python benchmarks/bench_arrays.py [--runs N]

- `sbatch --hold --array=0-999` (one call, 1,000 tasks) and `squeue` over six such arrays, against
  `python -c pass` and against real SLURM's medians for the same (shared/slurm-golden/PERF.md).
- A chain of 20 jobs, each `--dependency=afterok` on the one before: how long from the first
  submission until the last job ends, per job.
- A CPU-bound job (a fixed Python loop) run alone, then while a client polls `squeue` and `sacct`
  at 10 Hz: the ratio of its run times says whether polling slows running jobs.

Each scenario uses a private FLOWSLURM_HOME in a temporary directory and cleans up after itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BIN = Path(sys.executable).parent  # the venv's console scripts
REAL_MS = {"array": 9.0, "squeue_arrays": 15.0}  # PERF.md medians


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env.update(FLOWSLURM_HOME=str(home), FLOWSLURM_CPUS="2", FLOWSLURM_KILL_WAIT="2")
    return env


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _median_ms(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    return statistics.median(_timed(argv, env, cwd) for _ in range(runs)) * 1000


def _wait_all_done(env: dict[str, str], cwd: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while subprocess.run([str(BIN / "squeue"), "-h"], env=env, cwd=cwd, capture_output=True, text=True).stdout:
        if time.monotonic() > deadline:
            raise SystemExit("jobs did not finish")
        time.sleep(0.05)


def _stop_engine(home: Path) -> None:
    marker = f"FLOWSLURM_HOME={home}\0".encode()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker in Path(f"/proc/{name}/environ").read_bytes():
                    os.kill(int(name), 9)
            except OSError:
                pass


def _cpu_job_seconds(env: dict[str, str], cwd: Path, poll: bool) -> float:
    script = f"{sys.executable} -c 'sum(i * i for i in range(25_000_000))'"
    out = cwd / "cpu.out"
    stop = threading.Event()

    def poller() -> None:
        while not stop.is_set():
            subprocess.run([str(BIN / "squeue")], env=env, cwd=cwd, stdout=subprocess.DEVNULL)
            subprocess.run([str(BIN / "sacct"), "-X", "-P", "-o", "JobID,State"], env=env, cwd=cwd,
                           stdout=subprocess.DEVNULL)
            stop.wait(0.1)

    thread = threading.Thread(target=poller) if poll else None
    if thread:
        thread.start()
    try:
        subprocess.run([str(BIN / "sbatch"), "--wait", "-o", str(out), "--wrap",
                        f"s=$(date +%s.%N); {script}; e=$(date +%s.%N); echo $s $e"],
                       env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    finally:
        stop.set()
        if thread:
            thread.join()
    start, end = map(float, out.read_text().split()[-2:])
    return end - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="flowslurm-bench-"))
    home, work = root / "home", root / "work"
    work.mkdir(parents=True)
    env = _env(home)
    try:
        base = _median_ms([sys.executable, "-c", "pass"], env, work, args.runs * 2)
        array = _median_ms([str(BIN / "sbatch"), "--parsable", "--hold", "--array=0-999", "--wrap", "true"], env, work,
                           args.runs)
        while int(subprocess.run([str(BIN / "squeue"), "-h", "-o", "%i"], env=env, cwd=work, capture_output=True,
                                 text=True).stdout.count("\n")) < 6:
            _timed([str(BIN / "sbatch"), "--parsable", "--hold", "--array=0-999", "--wrap", "true"], env, work)
        listing = _median_ms([str(BIN / "squeue")], env, work, args.runs)
        subprocess.run([str(BIN / "scancel"), "-u", os.environ.get("USER", str(os.getuid()))], env=env, cwd=work)

        chain_start = time.perf_counter()
        previous = None
        for _ in range(20):
            dep = [f"--dependency=afterok:{previous}"] if previous else []
            previous = subprocess.run([str(BIN / "sbatch"), "--parsable", *dep, "--wrap", "true"], env=env, cwd=work,
                                      check=True, capture_output=True, text=True).stdout.strip()
        _wait_all_done(env, work)
        chain = (time.perf_counter() - chain_start) / 20 * 1000

        alone = statistics.median(_cpu_job_seconds(env, work, poll=False) for _ in range(3))
        polled = statistics.median(_cpu_job_seconds(env, work, poll=True) for _ in range(3))
    finally:
        _stop_engine(home)
        shutil.rmtree(root, ignore_errors=True)

    print(f"baseline: python -c pass = {base:.1f} ms (median)")
    print(f"{'scenario':52} {'ms':>8} {'x python':>9} {'x real':>7}")
    print(f"{'sbatch --hold --array=0-999 (one call)':52} {array:8.1f} {array / base:9.2f} {array / REAL_MS['array']:7.2f}")
    print(f"{'squeue, six held 1000-task arrays':52} {listing:8.1f} {listing / base:9.2f}"
          f" {listing / REAL_MS['squeue_arrays']:7.2f}")
    print(f"{'afterok chain of 20 jobs, per job, submit to end':52} {chain:8.1f} {chain / base:9.2f} {'-':>7}")
    print(f"CPU-bound job alone {alone:.2f} s, with squeue+sacct polled at 10 Hz {polled:.2f} s:"
          f" x{polled / alone:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
