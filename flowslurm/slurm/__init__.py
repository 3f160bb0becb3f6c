"""SLURM-compatible value parsing and formatting shared by the flowslurm commands."""
