"""flowslurm: run SLURM batch scripts and the tools that drive SLURM, anywhere, unchanged."""

__version__ = "0.1.0"
