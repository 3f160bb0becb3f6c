"""`python -m flowslurm.cli.flow ...` is the `flow` command."""

from flowslurm.cli.flow import main

main()
