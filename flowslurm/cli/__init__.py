"""Front doors: one module per command. SLURM-style messages and exit codes live only here."""
