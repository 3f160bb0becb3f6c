"""Start-up latency of the native `flow` CLI, against the peer product's measured figure.

    python benchmarks/bench_flow.py [--runs N]

Each figure is the median wall time of N whole runs (process start to exit) of `flow --help`,
`flow --version`, `flow status` over an empty ledger and over 200 finished tasks, and
`flow status TASK`, next to `python -c pass` (the floor any Python command pays) in the same run.
The target (issue 5): `flow --help` and `flow status` well under half of flow-compute's
`flow --help`, 0.185 s on the reference machine (shared/research/flow-compute.md, section 6).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_cli import once  # noqa: E402 - one way to time a whole command, shared by the benchmarks
PEER_HELP_S = 0.185  # flow-compute 3.28.2 `flow --help`, median of 10 (research notes)
ENTRY = "import sys; sys.argv = ['flow', *sys.argv[1:]]; from flowslurm.cli.flow import main; main()"


def timed(argv: list[str], env: dict[str, str], cwd: str, runs: int) -> float:
    once(argv, env, cwd)  # warm the page cache and the bytecode cache
    return statistics.median([once(argv, env, cwd) for _ in range(runs)])


def fill(env: dict[str, str], cwd: str, count: int) -> None:
    """`count` finished tasks, submitted through the API as a user would."""
    code = (f"import flow\nfor i in range({count}):\n    flow.run('true', name=f'bench-{{i}}')\n"
            "import time\nfrom flowslurm.engine.ledger import Ledger\nl = Ledger.open()\n"
            "while l.count(\"state NOT IN ('COMPLETED')\"): time.sleep(0.05)\n")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, check=True, timeout=600)


def dev_rows(flow: list[str], env: dict[str, str], cwd: str, image: str, runs: int) -> list[tuple[str, float]]:
    """`flow dev -c true` on a warm dev environment, and the bare container start it contains: the
    difference is the client's own overhead (issue 6: under one second)."""
    from flowslurm.providers.local.container import runtime

    engine = runtime()
    if engine is None:
        return []
    once([*flow, "dev"], env, cwd)
    try:
        bare_argv = [engine, "run", "--rm", "--network=host", "--log-driver=none", "--entrypoint=", image, "true"]
        bare = timed(bare_argv, env, cwd, runs)
        warm = timed([*flow, "dev", "-c", "true", "--image", image], env, cwd, runs)
    finally:
        once([*flow, "dev", "--stop"], env, cwd)
    return [("container run (bare)", bare), ("flow dev -c true (warm)", warm),
            ("flow dev overhead", warm - bare)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--dev-image", default=os.environ.get("FLOW_DEV_IMAGE", ""),
                        help="also time `flow dev -c true` on a warm dev environment in this image "
                             "(against a bare `podman run --rm IMAGE true`)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        env = dict(os.environ, FLOWSLURM_HOME=os.path.join(tmp, "home"), PYTHONPATH=str(ROOT))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        flow = [sys.executable, "-c", ENTRY]
        rows = [("python -c pass", timed([sys.executable, "-c", "pass"], env, tmp, args.runs))]
        rows.append(("flow --help", timed([*flow, "--help"], env, tmp, args.runs)))
        rows.append(("flow --version", timed([*flow, "--version"], env, tmp, args.runs)))
        rows.append(("flow status (empty)", timed([*flow, "status"], env, tmp, args.runs)))
        fill(env, tmp, 200)
        rows.append(("flow status (200 tasks)", timed([*flow, "status"], env, tmp, args.runs)))
        rows.append(("flow status TASK", timed([*flow, "status", "bench-7"], env, tmp, args.runs)))
        if args.dev_image:
            rows += dev_rows(flow, env, tmp, args.dev_image, args.runs)
    print(f"{'command':28} {'median':>9} {'x peer help':>12}")
    for label, seconds in rows:
        print(f"{label:28} {seconds * 1000:7.1f}ms {seconds / PEER_HELP_S:11.2f}x")
    worst = max(s for label, s in rows if label.startswith(("flow --help", "flow status")))
    overhead = [s for label, s in rows if label == "flow dev overhead"]
    if overhead:
        print(f"flow dev -c overhead: {overhead[0] * 1000:.0f} ms (target under 1000 ms): "
              f"{'met' if overhead[0] < 1.0 else 'NOT met'}")
    print(f"\ntarget: under {PEER_HELP_S / 2 * 1000:.0f} ms (half of the peer's {PEER_HELP_S * 1000:.0f} ms): "
          f"{'met' if worst < PEER_HELP_S / 2 else 'NOT met'} (slowest {worst * 1000:.1f} ms)")


if __name__ == "__main__":
    main()
