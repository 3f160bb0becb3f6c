"""The shepherd of one Mithril job, started by the engine once the job's instance is up.

It logs in to the instance over SSH (host key pinned on first use), uploads what the startup
script waits for (the job's working directory honouring .flowignore, flowslurm itself, the secret
part of the environment and a key for the instance to cancel its own bid), then marks the job
RUNNING and, while the job runs, appends what the job writes to its output files to the same
files here. When the instance reports the end (exit.json), it records the state and exit code and
cancels the bid. scancel reaches it as SIGTERM: it asks the instance to cancel the job and still
waits for the end, so the output of the job's last seconds comes home too.

If it dies or loses the instance, nothing is lost: the engine starts another shepherd while the
instance is up (uploads are not repeated, output continues where the local files end), and turns
a preempted or vanished instance into a requeue or NODE_FAIL.

Usage (internal): python -m flowslurm.providers.mithril.shepherd JOB_ID TOKEN LOCK_FD
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from flowslurm import config
from flowslurm.engine import requeue
from flowslurm.engine.ledger import Ledger
from flowslurm.engine.remote import log
from flowslurm.errors import FlowError
from flowslurm.providers import base
from flowslurm.providers.mithril import layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.providers.mithril.remote import Remote

POLL_S = 1.0
CONNECT_DEADLINE_S = 600.0
SETUP_DEADLINE_S = 900.0  # an instance not set up this long after it was granted ends the job (NODE_FAIL)
END_STATES = ("COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL")


class CloudShepherd:
    def __init__(self, job_id: int, token: str) -> None:
        self.home = config.home_dir()
        self.ledger = Ledger.open(self.home)
        self.job_id = job_id
        self.token = token
        self.nudged = False

    def _nudge(self, *_: object) -> None:
        self.nudged = True

    def run(self) -> None:
        from flowslurm.providers.mithril.provider import provider

        job = self.ledger.job(self.job_id)
        row = self.ledger.conn.execute(
            "SELECT launch_token, (SELECT ssh_destination FROM cloud WHERE job_id = jobs.job_id),"
            " (SELECT instance FROM cloud WHERE job_id = jobs.job_id),"
            " (SELECT bid FROM cloud WHERE job_id = jobs.job_id),"
            " (SELECT bid_name FROM cloud WHERE job_id = jobs.job_id) FROM jobs WHERE job_id = ?", (self.job_id,)
        ).fetchone()
        if job is None or row is None or row[0] != self.token or job.state not in ("CONFIGURING", "RUNNING"):
            return
        _, destination, instance, bid, bid_name = row
        os.umask(int(str(job.spec.get("umask") or "0022"), 8))  # the output files are the job's
        with self.ledger.write() as conn:
            conn.execute("UPDATE jobs SET shepherd_pid = ? WHERE job_id = ?", (os.getpid(), self.job_id))
        signal.signal(signal.SIGTERM, self._nudge)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        cloud = provider()
        try:
            remote = cloud.connect(destination, instance, CONNECT_DEADLINE_S)
            try:
                if not remote.exists(layout.STATE + "/ready"):  # a new run (not a shepherd taking over)
                    self._wait_for_startup(remote)
                    cloud.upload(remote, job, self.ledger)
                    if job.spec.get("open_mode") != "append":  # as the run truncates its files there
                        for _, local in layout.output_pairs(job):
                            if os.path.isfile(local):
                                os.truncate(local, 0)
                self._mark_running()
                outcome = self._follow(remote, job)
            finally:
                remote.close()
            self._record(outcome)
            key_ref = self.ledger.conn.execute("SELECT api_key_fid FROM cloud WHERE job_id = ?",
                                               (self.job_id,)).fetchone()[0]
            cloud.cancel(base.Handle(self.job_id, bid, bid_name, key_ref=key_ref))
            with self.ledger.write() as conn:
                conn.execute("UPDATE cloud SET bid_live = 0, released_at = COALESCE(released_at, ?) WHERE job_id = ?",
                             (time.time(), self.job_id))
        except FlowError as exc:  # the engine's next poll decides: requeue, NODE_FAIL, or a new shepherd
            log(self.home, f"job {self.job_id}: {exc.message}", "mithril shepherd")
            from flowslurm.providers.mithril.remote import HostKeyChanged

            setting_up = self._state() == "CONFIGURING"
            if isinstance(exc, HostKeyChanged) or (setting_up and time.time() - (job.start_time or 0) > SETUP_DEADLINE_S):
                # an instance we may not trust, or one we could not set up: the job ends, the
                # engine's next pass cancels its bid (no instance bills on for nothing)
                self._record({"state": "NODE_FAIL", "exit_code": 0, "signal": 0})
        finally:
            cloud.close()
        from flowslurm.engine import runner

        runner.after_change(self.ledger, self.home, config.node())

    def _wait_for_startup(self, remote: Remote) -> None:
        """Upload only once the startup script has made the directories (and given them to the SSH
        user): it says so in `status`."""
        deadline = time.monotonic() + CONNECT_DEADLINE_S
        while True:
            try:
                word = remote.get_bytes(layout.STATE + "/status").decode().strip()
            except FileNotFoundError:
                word = ""
            if word and word != "booting":
                return
            if time.monotonic() > deadline:
                raise FlowError(f"the instance's startup script did not get ready within {CONNECT_DEADLINE_S:.0f} s")
            time.sleep(0.2)

    def _mark_running(self) -> None:
        with self.ledger.write() as conn:
            conn.execute("UPDATE jobs SET state = 'RUNNING' WHERE job_id = ? AND state = 'CONFIGURING'",
                         (self.job_id,))

    def _follow(self, remote: object, job: object) -> dict[str, object]:
        """Stream the output files home until the instance writes exit.json; returns its content."""
        from flowslurm.providers.mithril.logs import LogPuller

        puller = LogPuller(remote, layout.output_pairs(job))  # type: ignore[arg-type]
        asked_cancel = False
        while True:
            if not asked_cancel and self._cancel_requested():
                remote.put_bytes(b"", layout.STATE + "/cancel", 0o600)  # type: ignore[attr-defined]
                asked_cancel = True
            puller.poll()
            try:
                data = remote.get_bytes(layout.STATE + "/exit.json")  # type: ignore[attr-defined]
            except FileNotFoundError:
                data = b""
            if data:
                try:
                    outcome = json.loads(data)
                except ValueError:
                    outcome = None  # written as we read: the next look sees it whole
                if isinstance(outcome, dict):
                    puller.final()
                    remote.put_bytes(b"", layout.STATE + "/collected", 0o644)  # type: ignore[attr-defined]
                    return outcome
            deadline = time.monotonic() + POLL_S
            while not self.nudged and time.monotonic() < deadline:
                time.sleep(0.05)
            self.nudged = False

    def _state(self) -> str:
        row = self.ledger.conn.execute("SELECT state FROM jobs WHERE job_id = ?", (self.job_id,)).fetchone()
        return str(row[0]) if row else ""

    def _cancel_requested(self) -> bool:
        row = self.ledger.conn.execute("SELECT cancel_requested FROM jobs WHERE job_id = ?", (self.job_id,)).fetchone()
        return bool(row and row[0] is not None)

    def _record(self, outcome: dict[str, object]) -> None:
        state = str(outcome.get("state", "FAILED"))
        if state not in END_STATES:
            state = "FAILED"
        now = time.time()
        end = float(outcome.get("end_time") or now)  # type: ignore[arg-type]
        with self.ledger.write() as conn:
            row = conn.execute("SELECT state, cancel_requested FROM jobs WHERE job_id = ?", (self.job_id,)).fetchone()
            if row is None or row[0] not in ("CONFIGURING", "RUNNING"):
                return
            cancel_uid = row[1]
            conn.execute(
                "UPDATE jobs SET state = ?, reason = 'None', end_time = ?, exit_code = ?, exit_signal = ?,"
                " cancelled_by = CASE WHEN ? = 'CANCELLED' THEN COALESCE(?, cancelled_by) ELSE cancelled_by END,"
                " shepherd_pid = NULL WHERE job_id = ?",
                (state, min(end, now), int(outcome.get("exit_code") or 0), int(outcome.get("signal") or 0),  # type: ignore[call-overload]
                 state, cancel_uid, self.job_id),
            )
            requeue.end_run(conn, self.job_id, now)


def main(argv: list[str]) -> int:
    job_id, token = int(argv[0]), argv[1]  # argv[2]: the job's launch lock, inherited and held until we exit
    CloudShepherd(job_id, token).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
