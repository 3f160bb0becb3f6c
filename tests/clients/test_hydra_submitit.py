"""hydra-submitit-launcher 1.2.0, unchanged: a Hydra multirun sweep becomes one job array (clients.md §1)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import Cluster

APP = '''
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> int:
    x = int(cfg.x)
    task = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    Path(os.environ["RESULTS"], f"result-{x}.txt").write_text(f"{x * x} {task}\\n")
    return x * x


if __name__ == "__main__":
    main()
'''


def test_sweep_is_one_array(cluster: Cluster) -> None:
    (cluster.workdir / "app.py").write_text(APP)
    results = cluster.workdir / "results"
    results.mkdir()
    sweep = cluster.workdir / "sweep"
    proc = subprocess.run(
        [sys.executable, "app.py", "-m", "hydra/launcher=submitit_slurm", "+x=1,2,3", f"hydra.sweep.dir={sweep}",
         "hydra.launcher.timeout_min=5"],
        env={**cluster.env, "RESULTS": str(results)}, cwd=cluster.workdir, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = {p.name: p.read_text().split() for p in results.iterdir()}
    assert sorted(found) == ["result-1.txt", "result-2.txt", "result-3.txt"]
    assert [found[f"result-{x}.txt"][0] for x in (1, 2, 3)] == ["1", "4", "9"]
    arrays = {v[1].split("_")[0] for v in found.values()}
    assert len(arrays) == 1  # one sbatch --array for the whole sweep
    array = arrays.pop()
    assert sorted(v[1] for v in found.values()) == [f"{array}_0", f"{array}_1", f"{array}_2"]
    states = cluster.run("sacct", "-X", "-n", "-P", "-o", "JobID,JobName,State").stdout.split()
    assert states == [f"{array}_{i}|app|COMPLETED" for i in range(3)]
    # submitit's per-task folders (the `%j` of hydra's .submitit/%j) hold each task's logs
    assert all((sweep / ".submitit" / f"{array}_{i}" / f"{array}_{i}_0_log.out").exists() for i in range(3))
