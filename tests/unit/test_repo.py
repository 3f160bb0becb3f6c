"""The repository keeps its promises: README's commands are what CI runs, generated docs are
current, and every console script and bin/ shim leads to a real entry point."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_ci_runs_readme_commands() -> None:
    install, tests = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert install in ci and tests in ci
    assert "sbatch --wait" in install and "pytest" in tests


def test_generated_docs_are_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_installed_commands_and_shims() -> None:
    """Each installed command (a script with a `#!python` line pip points at the venv) and its
    bin/ shim (for a checkout) lead to the same `main` of flowslurm.cli.<command>."""
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["script-files"]
    names = {Path(f).name for f in files}
    assert names == {"sbatch", "srun", "salloc", "squeue", "scancel", "sacct", "scontrol", "sinfo", "flow"}
    for file in files:
        name = Path(file).name
        text = (ROOT / file).read_text()
        assert text.startswith("#!python\n") and "import re" not in text
        assert f"from flowslurm.cli.{name} import main\n" in text
        assert callable(importlib.import_module(f"flowslurm.cli.{name}").main)
        shim = ROOT / "bin" / name
        assert shim.exists() and shim.stat().st_mode & 0o111, name
        assert f"flowslurm.cli.{name}" in shim.read_text()