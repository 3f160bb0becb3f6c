"""The shepherd: one small process per running local job, SLURM's slurmstepd for the batch step.

It is started detached (its own session, no terminal, stdio on /dev/null) with the job's launch
lock inherited, so the job survives the submitting shell and whatever process launched it. It
runs the script snapshot from the ledger with the job's environment and output files, enforces
the time limit and memory limit, delivers cancellation, kills every leftover process of the job
when the batch script ends, and records the outcome in the ledger. Then it runs a scheduling
pass, so the next pending job starts at once.

Usage (internal): python -m flowslurm.providers.local.shepherd JOB_ID TOKEN LOCK_FD
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

from flowslurm import config
from flowslurm.engine import requeue
from flowslurm.engine.ledger import Ledger
from flowslurm.engine.model import Job, Step
from flowslurm.errors import SlurmInputError
from flowslurm.providers.local import proctree
from flowslurm.slurm import jobenv

TYPE_CHECKING = False
if TYPE_CHECKING:
    from flowslurm.providers.local.container import Container

EXIT_LAUNCH_FAILED = 53  # what SLURM reports when the batch step cannot open its files or work dir
OOM_SIGNAL_CODE = 125


class Child:
    """The batch shell, forked and exec'd by hand (subprocess costs the shepherd ~10 ms of imports)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, fds: tuple[int, int, int], umask: int) -> None:
        self.returncode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: become the job's session leader, then exec
            try:
                os.setsid()
                os.chdir(cwd)
                os.umask(umask)
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                os.closerange(3, 1 << 16)
                for sig in (signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1):
                    signal.signal(sig, signal.SIG_DFL)
                signal.set_wakeup_fd(-1)
                os.execve(argv[0], argv, env)
            except BaseException as exc:  # noqa: BLE001 - nothing may escape a forked child
                try:
                    os.write(2, f"slurmstepd: error: execve(): {argv[0]}: {exc}\n".encode())
                finally:
                    os._exit(127)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        return self.returncode


def warning_spec(text: str | None) -> tuple[int, int, str] | None:
    """sbatch --signal as the shepherd acts on it: (signal, seconds before the end, "steps" or "batch").
    None when there is none, or when it asks for 0 seconds (slurmctld never sends that one)."""
    if not text:
        return None
    from flowslurm.slurm.values import parse_signal_spec

    try:
        signum, secs, flags = parse_signal_spec(text)
    except SlurmInputError:  # checked by sbatch; a ledger from elsewhere gets no warning rather than a crash
        return None
    if secs <= 0 or not 0 < signum < signal.NSIG:  # a number no process can receive is never delivered
        return None
    return signum, secs, "batch" if "B" in flags else "steps"


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


class Shepherd:
    def __init__(self, job_id: int, token: str) -> None:
        self.home = config.home_dir()
        self.node = config.node()
        self.ledger = Ledger.open(self.home)
        self.job_id = job_id
        self.token = token
        self.cancel_uid: int | None = None
        self.container: Container | None = None  # --container-image: the script runs in it (container.py)
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    # ---- signals from scancel / the engine ---------------------------------------------------

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, lambda *_: None)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _mailbox(self) -> tuple[int | None, str | None, str | None]:
        """Read (cancel_requested, signal_request, requeue_request) and clear the signal request."""
        try:  # empty the wake-up pipe first: one read answers every nudge so far
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass
        with self.ledger.write() as conn:
            row = conn.execute(
                "SELECT cancel_requested, signal_request, requeue_request FROM jobs WHERE job_id = ?", (self.job_id,)
            ).fetchone()
            if row and row[1]:
                conn.execute("UPDATE jobs SET signal_request = NULL WHERE job_id = ?", (self.job_id,))
        return (row[0], row[1], row[2]) if row else (None, None, None)

    # ---- the run -----------------------------------------------------------------------------

    def run(self) -> None:
        job = self.ledger.job(self.job_id)
        if job is None or job.state != "RUNNING":
            return
        token_now = self.ledger.internal(self.job_id, "launch_token")[0]
        if token_now != self.token:
            return
        if job.spec.get("interactive"):  # an allocation for srun/salloc: no script, the owner runs steps
            from flowslurm.providers.local.holder import hold

            self._install_signals()
            hold(self, job)
            return
        script_id = self.ledger.internal(self.job_id, "script_id")[0]
        text, argv, environ = self.ledger.script(script_id)
        self._install_signals()
        spool = os.path.join(self.home, "spool", str(self.job_id))
        os.makedirs(spool, mode=0o700, exist_ok=True)
        script_path = os.path.join(spool, "slurm_script")
        fd = os.open(script_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)

        files = self._open_files(job)
        now = time.time()
        if files is None:
            self._finish(job, now, "FAILED", "JobLaunchFailure", 0, EXIT_LAUNCH_FAILED, "CANCELLED")
            return

        env = jobenv.exported_environ(environ, job.spec.get("export", "ALL"), job.user, self.node.name)
        env.update(
            jobenv.batch_environ(
                job, cluster=self.node.cluster, node=self.node.name, submit_host=job.spec.get("submit_host", self.node.name),
            )
        )
        env[proctree.TOKEN_VAR] = self.token
        env["FLOWSLURM_HOME"] = self.home
        env.setdefault("PWD", job.work_dir)
        umask = int(job.spec.get("umask", "0022"), 8)
        stderr = files[2]
        # SLURM_TASK_PID is the batch shell's own pid: a tiny sh sets it, then execs the script.
        argv_sh = ["/bin/sh", "-c", 'SLURM_TASK_PID=$$; export SLURM_TASK_PID; exec "$@"', "slurmstepd", script_path, *argv]
        if job.spec.get("container_image"):  # --container-image: podman/docker runs the script in the image
            from flowslurm.providers.local import container

            try:
                self.container = container.for_job(job, self.home, self.token)
            except SlurmInputError as err:  # no runtime any more, or a mount source that is gone
                self._log(stderr, err.message)
                self._finish(job, time.time(), "FAILED", "JobLaunchFailure", 0, EXIT_LAUNCH_FAILED, "CANCELLED")
                return
            assert self.container is not None
            argv_sh, env = self.container.command(self.container.prefix, [script_path, *argv], env,
                                                  extra_volumes=[f"{script_path}:{script_path}:ro"])
        proc = Child(argv_sh, env, job.work_dir, files, umask)
        env_task_pid = proc.pid
        with self.ledger.write() as conn:
            self.ledger.update(conn, self.job_id, shepherd_pid=os.getpid(), job_pid=env_task_pid)
            self.ledger.upsert_step(conn, Step(self.job_id, "batch", "batch", "RUNNING", start_time=job.start_time,
                                               ncpus=job.num_cpus, node_list=self.node.name))
        os.write(self.wake_w, b"m")  # read the mailbox once: a cancel may have come before the pid was known
        outcome = self._watch(job, proc, stderr)
        self._finish(job, time.time(), *outcome)

    def _open_files(self, job: Job) -> tuple[int, int, int] | None:
        """Open stdin/stdout/stderr as the batch step does; None when the job cannot start (SLURM's 0:53).

        A submitter may create the output directory just after sbatch returns (submitit does), so a
        missing directory is waited for a little before the job fails.
        """
        grace = float(config.setting("local", "output_dir_wait_s", "FLOWSLURM_OUTPUT_DIR_WAIT", 5.0))
        deadline = time.monotonic() + grace
        paths = [job.work_dir, os.path.dirname(job.stdout), os.path.dirname(job.stderr or job.stdout)]
        while not all(os.path.isdir(p) for p in paths):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if job.spec.get("open_mode") == "append" else os.O_TRUNC)
        try:
            out = os.open(job.stdout, flags, 0o644)
            err = out if not job.stderr or job.stderr == job.stdout else os.open(job.stderr, flags, 0o644)
            stdin = os.open(job.stdin or "/dev/null", os.O_RDONLY)
        except OSError:
            return None
        return stdin, out, err

    def _watch(self, job: Job, proc: Child, stderr_fd: int) -> tuple[str, str, int, int, str]:
        """Wait for the batch script; returns (state, reason, exit_code, exit_signal, batch_step_state)."""
        limit = job.time_limit
        deadline = job.start_time + limit * 60 if limit and limit > 0 and job.start_time else None
        mem_limit = job.mem_mb if job.spec.get("mem_mb") or job.spec.get("mem_per_cpu_mb") else 0
        try:
            pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        ending: tuple[str, str] | None = None  # (state, reason) once we decided to end the job
        oom_events = 0
        kill_at: float | None = None
        warning = warning_spec(job.spec.get("signal"))  # sbatch --signal: (signal, seconds, scope), sent once
        while proc.poll() is None:
            now = time.time()
            waits = [0.25 if mem_limit else 5.0]
            if deadline is not None and ending is None:
                waits.append(deadline - now)
                if warning is not None:
                    waits.append(deadline - warning[1] - now)
            if kill_at is not None:
                waits.append(kill_at - now)
            timeout = max(0.0, min(waits))
            fds = [self.wake_r] + ([pidfd] if pidfd is not None else [])
            ready, _, _ = select.select(fds, [], [], timeout if pidfd is not None else min(timeout, 0.05))
            if self.wake_r in ready:
                cancel_uid, sig, requeue_asked = self._mailbox()
                if sig:
                    self._deliver(sig, proc.pid)
                if requeue_asked and ending is None:  # scontrol requeue: end this run; _finish requeues the job
                    self._log(stderr_fd, f"*** JOB {job.job_id} ON {self.node.name} CANCELLED AT {_stamp(time.time())} "
                                         "DUE TO JOB REQUEUE ***")
                    self._log_steps(stderr_fd, job, " DUE TO JOB REQUEUE")
                    ending, kill_at = ("CANCELLED", job.reason), self._terminate(proc)
                if cancel_uid is not None and ending is None:
                    self.cancel_uid = cancel_uid
                    self._log(stderr_fd, f"*** JOB {job.job_id} ON {self.node.name} CANCELLED AT {_stamp(time.time())} ***")
                    self._log_steps(stderr_fd, job, "")
                    ending, kill_at = ("CANCELLED", job.reason), self._terminate(proc)
            now = time.time()
            if ending is None:  # `scontrol update TimeLimit=` may have moved the limit
                limit = self.ledger.internal(self.job_id, "time_limit")[0]
                deadline = job.start_time + limit * 60 if limit and limit > 0 and job.start_time else None
            if warning is not None and deadline is not None and ending is None and now >= deadline - warning[1]:
                # slurmctld's send_job_warn_signal: SIGCONT first, then the signal, to the steps or (B:) the shell
                for signum in (signal.SIGCONT, warning[0]):
                    self._deliver(f"{int(signum)}:{warning[2]}", proc.pid)
                warning = None
            if deadline is not None and ending is None and now >= deadline:
                self._log(stderr_fd, f"*** JOB {job.job_id} ON {self.node.name} CANCELLED AT {_stamp(now)} DUE TO TIME LIMIT ***")
                self._log_steps(stderr_fd, job, " DUE TO TIME LIMIT")
                ending, kill_at = ("TIMEOUT", "TimeLimit"), self._terminate(proc)
            sizes = proctree.rss_kb(self.token) if mem_limit else {}
            if sizes and sum(sizes.values()) > mem_limit * 1024:
                # as the kernel's OOM killer does: kill the biggest process; its shell reports "Killed"
                biggest = max(sizes, key=sizes.__getitem__)
                try:
                    os.kill(biggest, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                if ending is None:
                    oom_events += 1
                    ending = ("OUT_OF_MEMORY", "OutOfMemory")
            if kill_at is not None and time.time() >= kill_at:
                proctree.signal_job(self.token, signal.SIGKILL, proc.pid)
                kill_at = None
        status = proc.returncode
        if oom_events:
            self._log(stderr_fd, f"Detected {oom_events} oom-kill event(s) in StepId={job.job_id}.batch. Some of your "
                                 "processes may have been killed by the cgroup out-of-memory handler.")
        # The batch script is done: nothing of the job may outlive it (SLURM's proctrack does the same).
        proctree.signal_job(self.token, signal.SIGKILL, proc.pid)
        if self.container is not None and status < 0:  # its client was killed: `--rm` may not have happened
            self.container.remove()
        if pidfd is not None:
            os.close(pidfd)
        if ending is not None:
            state, reason = ending
            if state == "OUT_OF_MEMORY":
                return state, reason, 0, OOM_SIGNAL_CODE, "OUT_OF_MEMORY"
            return state, reason, 0, signal.SIGTERM, "CANCELLED"
        if status < 0:
            return "FAILED", "JobLaunchFailure", 0, -status, "CANCELLED"
        if status > 0:
            return "FAILED", "NonZeroExitCode", status, 0, "FAILED"
        return "COMPLETED", "None", 0, 0, "COMPLETED"

    def _deliver(self, request: str, shell_pid: int) -> None:
        """A signal from scancel: "SIG:scope" with scope steps, batch or full."""
        signum, _, scope = request.partition(":")
        if scope == "batch":  # the batch shell itself, not its children
            try:
                os.kill(shell_pid, int(signum))
            except (ProcessLookupError, PermissionError):
                pass
        elif scope == "full":
            self._signal_all(int(signum), shell_pid)
        else:  # SLURM's default: job steps (processes srun started), never the batch step
            for pid in proctree.job_pids(self.token, also="SLURM_STEP_ID"):
                if pid != shell_pid:
                    try:
                        os.kill(pid, int(signum))
                    except (ProcessLookupError, PermissionError):
                        pass

    def _terminate(self, proc: Child) -> float:
        for sig in proctree.SIGNALS_TERMINATE:
            self._signal_all(sig, proc.pid)
        return time.time() + self.node.kill_wait_s

    def _signal_all(self, sig: int, shell_pid: int) -> None:
        """Every process of the job. In a container, the runtime's client (the shell pid) is spared:
        the container's processes carry the token and get the signal once, directly; the runtime is
        asked only when none of them can be seen."""
        if self.container is None:
            proctree.signal_job(self.token, sig, shell_pid)
        elif not proctree.signal_job(self.token, sig) and sig != signal.SIGCONT:
            self.container.kill(sig)

    def _log_steps(self, fd: int, job: Job, why: str) -> None:
        """slurmstepd's line for each running srun step, which ends with the job."""
        for (step_id,) in self.ledger.conn.execute(
            "SELECT step_id FROM steps WHERE job_id = ? AND state = 'RUNNING' AND step_id != 'batch'", (job.job_id,)
        ).fetchall():
            self._log(fd, f"*** STEP {job.job_id}.{step_id} ON {self.node.name} CANCELLED AT {_stamp(time.time())}{why} ***")

    def _log(self, fd: int, text: str) -> None:
        try:
            os.write(fd, f"slurmstepd-{self.node.name}: error: {text}\n".encode())
        except OSError:
            pass

    def _finish(self, job: Job, now: float, state: str, reason: str, code: int, sig: int, step_state: str) -> None:
        with self.ledger.write() as conn:
            row = conn.execute("SELECT cancel_requested FROM jobs WHERE job_id = ?", (self.job_id,)).fetchone()
            cancel_uid = self.cancel_uid if self.cancel_uid is not None else (row[0] if row else None)
            if cancel_uid is not None and state not in ("TIMEOUT", "OUT_OF_MEMORY"):
                state, reason, code, sig, step_state = "CANCELLED", job.reason, 0, signal.SIGTERM, "CANCELLED"
            self.ledger.update(
                conn, self.job_id, state=state, reason=reason, exit_code=code, exit_signal=sig, end_time=now,
                cancelled_by=cancel_uid if state == "CANCELLED" else None, shepherd_pid=None,
            )
            self.ledger.upsert_step(conn, Step(self.job_id, "batch", "batch", step_state, code, sig, job.start_time, now,
                                               1, job.num_cpus, self.node.name))
            # steps whose srun was killed with the job end with it
            conn.execute("UPDATE steps SET state = 'CANCELLED', exit_code = 0, exit_signal = ?, end_time = ?"
                         " WHERE job_id = ? AND state = 'RUNNING'", (signal.SIGKILL, now, self.job_id))
            requeue.end_run(conn, self.job_id, now)  # scontrol requeue: keep this run, the job waits again
        from flowslurm.engine import runner

        runner.after_change(self.ledger, self.home, self.node)


def main(argv: list[str]) -> int:
    job_id, token, lock_fd = int(argv[0]), argv[1], int(argv[2])
    os.set_inheritable(lock_fd, False)
    try:
        Shepherd(job_id, token).run()
    finally:
        os.close(lock_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
