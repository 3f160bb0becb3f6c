"""Turning job ids as users write them (123, 123_4, 123_[1-3]) into ledger rows."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from flowslurm.engine.ledger import Ledger
    from flowslurm.slurm.jobrefs import JobIdSelector


def raw_ids(ledger: Ledger, selectors: Iterable[JobIdSelector]) -> list[int]:
    """The raw job ids the selectors name, in ledger order; unknown ids name nothing."""
    found: list[int] = []
    seen: set[int] = set()
    for sel in selectors:
        if sel.tasks is None:
            rows = ledger.conn.execute(
                "SELECT job_id FROM jobs WHERE job_id = ? OR array_job_id = ? ORDER BY job_id", (sel.job_id, sel.job_id)
            ).fetchall()
        else:
            marks = ",".join("?" * len(sel.tasks))
            rows = ledger.conn.execute(
                f"SELECT job_id FROM jobs WHERE (array_job_id = ? AND array_task_id IN ({marks}))"
                f" OR (job_id = ? AND array_job_id IS NULL AND 0 IN ({marks})) ORDER BY job_id",
                (sel.job_id, *sel.tasks, sel.job_id, *sel.tasks),
            ).fetchall()
        for (job_id,) in rows:
            if job_id not in seen:
                seen.add(job_id)
                found.append(job_id)
    return found
