"""A task's status in Flow's words, from the SLURM state the engine keeps.

Flow users think in pending / provisioning / running / completed / failed / cancelled; the ledger
holds SLURM's states (the same job shows PENDING in squeue and "pending" in `flow status`). The
SLURM state stays available as `Task.slurm_state` for whoever needs the finer distinction
(TIMEOUT, NODE_FAIL, OUT_OF_MEMORY all read as "failed" here, with the reason in `Task.message`).
Plain string constants, not an Enum: `flow status` starts without importing `enum`.
"""

from __future__ import annotations

__all__ = ["TaskStatus", "TERMINAL", "from_slurm"]


class TaskStatus:
    """The statuses a task has; each is a plain string (`task.status == TaskStatus.RUNNING`)."""

    PENDING = "pending"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    PAUSED = "paused"
    PREEMPTED = "preempted"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    ALL = (PENDING, PROVISIONING, RUNNING, PAUSED, PREEMPTED, COMPLETED, FAILED, CANCELLED)


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.PREEMPTED})

_FROM_SLURM = {
    "PENDING": TaskStatus.PENDING,
    "REQUEUED": TaskStatus.PENDING,
    "REQUEUE_HOLD": TaskStatus.PENDING,
    "CONFIGURING": TaskStatus.PROVISIONING,
    "RUNNING": TaskStatus.RUNNING,
    "COMPLETING": TaskStatus.RUNNING,
    "SUSPENDED": TaskStatus.PAUSED,
    "STOPPED": TaskStatus.PAUSED,
    "COMPLETED": TaskStatus.COMPLETED,
    "CANCELLED": TaskStatus.CANCELLED,
    "PREEMPTED": TaskStatus.PREEMPTED,
}

# SLURM states each Flow status stands for (for `flow status --state` and list_tasks(status=)).
SLURM_STATES: dict[str, tuple[str, ...]] = {}
for _slurm, _flow in _FROM_SLURM.items():
    SLURM_STATES.setdefault(_flow, ())
    SLURM_STATES[_flow] += (_slurm,)
SLURM_STATES[TaskStatus.FAILED] = ("FAILED", "TIMEOUT", "NODE_FAIL", "BOOT_FAIL", "OUT_OF_MEMORY", "DEADLINE",
                                   "SPECIAL_EXIT", "REVOKED")


def from_slurm(state: str) -> str:
    """The Flow status of a SLURM state (anything ending badly that is not a cancel is "failed")."""
    return _FROM_SLURM.get(state, TaskStatus.FAILED)
