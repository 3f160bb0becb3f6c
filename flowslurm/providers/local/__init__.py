"""The local backend: jobs run as processes on this machine, each watched by a shepherd."""
