"""Where flowslurm keeps things on a Mithril instance, and how a job's paths map there.

On a real instance these paths are absolute; the emulator's sandboxes put them under FLOW_ROOT,
which both the startup script and commands over SSH prefix to every one of them (see
flowslurm.emulator). The job's working directory is uploaded to WORKSPACE: a path under it keeps
its place there; any other output path lands in WORKSPACE/.flowslurm-out/ under its own name.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.engine.model import Job

STATE = "/var/lib/flowslurm"
PACKAGE = "/opt/flowslurm"
WORKSPACE = "/workspace"
OTHER_OUTPUT = WORKSPACE + "/.flowslurm-out"


def instance_path(local: str, work_dir: str) -> str:
    """The instance's path for a local file the job names (its output files, its stdin)."""
    if local == "/dev/null":
        return local
    rel = os.path.relpath(local, work_dir)
    if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
        return f"{OTHER_OUTPUT}/{os.path.basename(local)}" if rel != "." else WORKSPACE
    return f"{WORKSPACE}/{rel}"


def output_pairs(job: Job) -> list[tuple[str, str]]:
    """(instance path, local path) of the job's output files, stdout first; one pair when they are
    the same file."""
    pairs = [(instance_path(job.stdout, job.work_dir), job.stdout)]
    if job.stderr and job.stderr != job.stdout:
        pairs.append((instance_path(job.stderr, job.work_dir), job.stderr))
    return pairs
