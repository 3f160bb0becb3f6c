"""The `flow` command line: the dispatcher (dispatch.py) and one module per subcommand.

`from flowslurm.cli.flow import main` is the entry point, as `from flowslurm.cli.sbatch import
main` is sbatch's (entry/flow, bin/flow, `python -m flowslurm.cli.flow`).
"""

from flowslurm.cli.flow.dispatch import main

__all__ = ["main"]
