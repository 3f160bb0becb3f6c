"""One srun job step on this machine: its tasks' environment and streams, signals, and outcome.

This is srun's side of a step (slurmstepd's side is flowslurm.providers.local.tasks): it numbers
the step in the ledger, builds each task's SLURM_* environment as SLURM 22.05 does
(shared/slurm-golden/env-vars.txt), wires --input/--output/--error/--label, handles Ctrl-C and
the other signals as srun does, prints srun's task-exit messages, and records the step's end.
"""

from __future__ import annotations

import os
import signal
import time

from flowslurm.engine import steps
from flowslurm.errors import SlurmInputError
from flowslurm.providers.local.tasks import Stream, StepRun, Task
from flowslurm.record import Record
from flowslurm.slurm import jobenv
from flowslurm.slurm.patterns import resolve_output_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowslurm.cli.common import Env
    from flowslurm.config import Node
    from flowslurm.engine.ledger import Ledger
    from flowslurm.engine.model import Job
    from flowslurm.engine.spec import JobSpec

CAUGHT = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
          signal.SIGCONT, signal.SIGALRM, signal.SIGPIPE)
STEP_ABORT_S = 2  # SLURM's STEP_ABORT_TIME, added to KillWait in "Waiting up to N seconds"
FORCE_GRACE_S = 1.0
REPORT_BATCH_S = 0.02


class Outcome(Record):
    __slots__ = ("state", "code", "signal", "exit_status")

    def __init__(self, state: str, code: int, signal: int, exit_status: int) -> None:
        self.state = state
        self.code = code
        self.signal = signal
        self.exit_status = exit_status  # srun's own exit status


def task_ranges(ids: list[int]) -> str:
    """0,1,2,5 -> '0-2,5', as srun names groups of tasks."""
    parts, ids = [], sorted(ids)
    start = prev = ids[0]
    for i in ids[1:] + [None]:  # type: ignore[list-item]
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(parts)


def multi_prog(path: str, ntasks: int) -> list[list[str]]:
    """The command of each task from a --multi-prog file ("ranks command args", %t and %o expanded)."""
    import shlex

    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise SlurmInputError(f"Unable to open configuration file {path}: {exc.strerror}", 1) from None
    commands: list[list[str] | None] = [None] * ntasks
    for line in lines:
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if len(words) < 2:
            raise SlurmInputError(f"Invalid MPMD configuration line: {line}", 1)
        ranks: list[int] = []
        for part in words[0].split(","):
            if part == "*":
                ranks = [r for r in range(ntasks) if commands[r] is None]
                break
            lo, _, hi = part.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()):
                raise SlurmInputError(f"Invalid task range specification ({part})", 1)
            ranks.extend(range(int(lo), int(hi or lo) + 1))
        for offset, rank in enumerate(ranks):
            if rank < ntasks and commands[rank] is None:
                commands[rank] = [w.replace("%t", str(rank)).replace("%o", str(offset)) for w in words[1:]]
    missing = [i for i, c in enumerate(commands) if c is None]
    if missing:
        raise SlurmInputError(f"Configuration file {path} invalid, no record for task id {missing[0]}", 1)
    return commands  # type: ignore[return-value]


class StepLauncher:
    """Everything one srun does for one step, from numbering it to its exit status."""

    def __init__(self, v: dict[str, Any], spec: JobSpec, command: list[str], job: Job, token: str, ledger: Ledger,
                 node: Node, env: Env, owner: bool = False) -> None:
        self.v, self.spec, self.command, self.job, self.token = v, spec, command, job, token
        self.ledger, self.node, self.env = ledger, node, env
        self.ntasks = spec.ntasks
        self.ncpus = spec.ntasks * spec.cpus_per_task
        self.number = -1
        self.label = bool(v.get("label"))
        self.last_intr = 0.0
        self.force_at: float | None = None
        self.first_exit: float | None = None
        self.forced = False
        self.aborted = False
        self.run_: StepRun | None = None
        self.unreported: list[Task] = []
        self.owner = owner
        self.start_time = 0.0

    @property
    def step_name(self) -> str:
        return f"StepId={self.job.job_id}.{self.number}"

    def _say(self, text: str) -> None:
        self.env.stderr.write(f"srun: {text}\n")
        self.env.stderr.flush()

    # ---- checks and layout ----------------------------------------------------------------

    def _check(self) -> None:
        job = self.job
        if self.ncpus > job.num_cpus and not self.v.get("overcommit"):
            raise SlurmInputError(
                f"Unable to create step for job {job.job_id}: More processors requested than permitted", 1)
        if self.spec.gpus > job.gpus:
            raise SlurmInputError(
                f"Unable to create step for job {job.job_id}: Invalid generic resource (gres) specification", 1)
        if self.v.get("container_image") or job.spec.get("container_image"):  # before the step exists
            from flowslurm.providers.local.container import NO_RUNTIME, runtime

            if runtime() is None:
                raise SlurmInputError(NO_RUNTIME, 1)

    def _commands(self) -> list[list[str]]:
        if self.v.get("multi_prog"):
            return multi_prog(os.path.join(self.env.cwd, self.command[0]), self.ntasks)
        return [self.command] * self.ntasks

    def _base_environ(self) -> dict[str, str]:
        job, node, spec, env = self.job, self.node, self.spec, self.env
        environ = jobenv.exported_environ(env.environ, spec.export, job.user, node.name)
        job_vars = jobenv.batch_environ(job, cluster=node.cluster, node=node.name,
                                        submit_host=job.spec.get("submit_host", node.name))
        del job_vars["ENVIRONMENT"]
        for key, value in job_vars.items():
            environ.setdefault(key, value)  # a stripped environment (Snakemake keeps only SLURM_JOB_ID) is refilled
        n = str(self.ntasks)
        umask = os.umask(0o022)
        os.umask(umask)
        environ.update(
            SLURM_STEP_ID=str(self.number), SLURM_STEPID=str(self.number), SLURM_STEP_NUM_TASKS=n,
            SLURM_STEP_NUM_NODES="1", SLURM_STEP_NODELIST=node.name, SLURM_STEP_TASKS_PER_NODE=n,
            SLURM_TASKS_PER_NODE=n, SLURM_GTIDS=",".join(map(str, range(self.ntasks))), SLURM_NODEID="0",
            SLURM_LAUNCH_NODE_IPADDR="127.0.0.1", SLURM_SRUN_COMM_HOST="127.0.0.1", SLURM_UMASK=f"{umask:04o}",
        )
        if not self.v.get("preserve_env"):
            environ["SLURM_NTASKS"] = environ["SLURM_NPROCS"] = n
        if spec.cpus_per_task_given:
            environ["SLURM_CPUS_PER_TASK"] = str(spec.cpus_per_task)
        if self.ntasks > 1:
            environ["SLURM_DISTRIBUTION"] = "block"
        if self.label:
            environ["SLURM_LABELIO"] = "1"
        if self.v.get("unbuffered"):
            environ["SLURM_UNBUFFEREDIO"] = "1"
        if spec.gpus and job.gpu_ids:
            ids = ",".join(job.gpu_ids.split(",")[: spec.gpus])
            for name in ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES", "SLURM_STEP_GPUS"):
                environ[name] = ids
            environ["SLURM_GPUS_ON_NODE"] = str(spec.gpus)
        environ.pop("SLURM_TASK_PID", None)
        return environ

    def _container(self) -> Any:
        """srun --container-image (or the allocation's): the container each task runs in, or None."""
        if not (self.v.get("container_image") or self.job.spec.get("container_image")):
            return None
        from flowslurm import config
        from flowslurm.providers.local.container import for_step

        ids = [g for g in (self.job.gpu_ids or "").split(",") if g]
        return for_step(self.v, self.job, config.home_dir(), self.token, self.number, self.spec.work_dir,
                        ids[: self.spec.gpus] if self.spec.gpus else ids)

    # ---- streams ----------------------------------------------------------------------------

    def _open(self, pattern: str, task: int, flags: int, cache: dict[str, int]) -> int:
        path = resolve_output_path(
            pattern, self.spec.work_dir, job_id=self.job.job_id, array_job_id=self.job.array_job_id,
            array_task_id=self.job.array_task_id, job_name=self.job.name, user=self.job.user, node=self.node.name,
            task_id=task, step_id=self.number,
        )
        if path not in cache:
            try:
                cache[path] = os.open(path, flags | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                which = "stdin" if flags == os.O_RDONLY else "stdout"
                raise SlurmInputError(f"Could not open {which} file {path}: {exc.strerror}", 1) from None
        return cache[path]

    def _out(self, mode: str | None, task: int, own_fd: int, devnull: int, cache: dict[str, int],
             width: int) -> tuple[Stream, bool]:
        """(stream, is a file) for stdout or stderr of one task."""
        if mode == "none" or (mode and mode.isdigit() and int(mode) != task):
            return Stream(fd=devnull), False
        if mode and mode not in ("all",) and not mode.isdigit():
            append = self.spec.open_mode == "append"
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
            return Stream(fd=self._open(mode, task, flags, cache)), True
        if self.label:
            return Stream(relay_to=own_fd, label=f"{task:>{width}}: "), False
        return Stream(fd=own_fd), False

    def _streams(self, task: int, devnull_r: int, devnull_w: int, cache: dict[str, int]) -> tuple[Stream, Stream, Stream]:
        width = len(str(self.ntasks - 1))
        out, out_is_file = self._out(self.v.get("output"), task, 1, devnull_w, cache, width)
        err_mode = self.v.get("error")
        err = out if err_mode is None and out_is_file else self._out(err_mode, task, 2, devnull_w, cache, width)[0]
        mode = self.v.get("input")
        if mode is None or mode == "all":
            inp = Stream(fd=0 if task == 0 else devnull_r)
        elif mode == "none" or (mode.isdigit() and int(mode) != task):
            inp = Stream(fd=devnull_r)
        elif mode.isdigit():
            inp = Stream(fd=0)
        else:
            inp = Stream(fd=self._open(mode, task, os.O_RDONLY, cache))
        return inp, out, err

    # ---- the run ----------------------------------------------------------------------------

    def run(self) -> Outcome:
        self._check()
        commands = self._commands()
        name = str(self.v.get("job_name") or os.path.basename(self.command[0]))  # srun names a step as a job
        self.number = steps.begin(self.ledger, self.job, name, self.ntasks, self.ncpus, self.node.name)
        self.start_time = time.time()
        run = self.run_ = StepRun(f"{self.job.job_id}.{self.number}", self.token, bool(self.v.get("unbuffered")))
        cache: dict[str, int] = {}
        devnull_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        devnull_w = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        try:
            self.env.stdout.flush()
            self.env.stderr.flush()
            run.install_signals(CAUGHT + (signal.SIGWINCH,) if self.v.get("pty") else CAUGHT)
            environ = self._base_environ()
            run.container = self._container()
            if self.v.get("pty"):  # task 0 on a terminal of its own; the others' output is dropped, as SLURM's
                from flowslurm.providers.local.tasks import Pty

                run.pty = Pty(0, 1)
            for task in range(self.ntasks):
                streams = self._streams(task, devnull_r, devnull_w, cache)
                if run.pty is not None and task:
                    streams = (Stream(fd=devnull_r), Stream(fd=devnull_w), Stream(fd=devnull_w))
                task_env = dict(environ, SLURM_PROCID=str(task), SLURM_LOCALID=str(task))
                run.start(task, commands[task], task_env, self.spec.work_dir, streams)
        except BaseException:
            if run.pty is not None:
                run.pty.restore()
            run.forward(signal.SIGKILL)
            steps.finish(self.ledger, self.job, self.number, name, "FAILED", 1, 0, self.ntasks, self.ncpus,
                         self.node.name, self.start_time)
            raise
        finally:
            for fd in (devnull_r, devnull_w, *cache.values()):
                os.close(fd)
        try:
            run.wait(self._on_event)
        finally:
            if run.pty is not None:
                run.pty.restore()
        if run.container is not None and any(t.status is not None and t.status < 0 for t in run.tasks):
            run.container.remove()  # a killed client leaves its container behind: `--rm` did not run
        if self.unreported:
            self._report(self.unreported)
        outcome = self._outcome(run.tasks)
        steps.finish(self.ledger, self.job, self.number, name, outcome.state, outcome.code, outcome.signal,
                     self.ntasks, self.ncpus, self.node.name, self.start_time)
        return outcome

    def _on_event(self, ended: list[Task], sigs: list[int]) -> float | None:
        run = self.run_
        assert run is not None
        now = time.monotonic()
        wakes: list[float] = []
        for sig in sigs:
            self._on_signal(sig, now)
        if ended:
            if not self.aborted and any(t.status is not None and t.status < 0 for t in ended):
                ending = self._job_ending()
                if ending is not None:
                    self._abort(ending)
            self.unreported.extend(ended)
            if self.first_exit is None:
                self.first_exit = now
            if any(t.status for t in ended) and self._kill_on_bad_exit() and run.running() and not self.forced:
                self._report(self.unreported)
                self.unreported = []
                self._say(f"Terminating {self.step_name}")
                self.forced = True
                run.forward(signal.SIGKILL)
        if self.unreported:  # tasks ending together are reported together, as slurmstepd batches them
            if ended and run.running():
                wakes.append(now + REPORT_BATCH_S)
            else:
                self._report(self.unreported)
                self.unreported = []
        wait_s = self.v.get("wait")
        if wait_s and self.first_exit is not None and run.running() and not self.forced:
            limit = self.first_exit + float(wait_s)
            if now >= limit:
                self._say(f"First task exited {wait_s}s ago")
                self._say(f"Terminating {self.step_name}")
                self.forced = True
                run.forward(signal.SIGKILL)
            else:
                wakes.append(limit)
        if self.force_at is not None:
            if now >= self.force_at:
                run.forward(signal.SIGKILL)
                self.force_at = None
            else:
                wakes.append(self.force_at)
        return min(wakes) if wakes else None

    def _kill_on_bad_exit(self) -> bool:
        return "kill_on_bad_exit" in self.v and str(self.v["kill_on_bad_exit"] or "1") != "0"

    def _job_ending(self) -> str | None:
        """'' when the job is being cancelled, 'TIME LIMIT' when it ran out of time, None otherwise."""
        state, cancel, limit, start = self.ledger.conn.execute(
            "SELECT state, cancel_requested, time_limit, start_time FROM jobs WHERE job_id = ?", (self.job.job_id,)
        ).fetchone()
        if state == "TIMEOUT" or (limit and limit > 0 and start and time.time() >= start + limit * 60 - 1):
            return " DUE TO TIME LIMIT"
        if cancel is not None or state == "CANCELLED":
            return ""
        return None

    def _on_signal(self, sig: int, now: float) -> None:
        run = self.run_
        assert run is not None
        if sig == signal.SIGINT:
            if self.v.get("quit_on_interrupt") or now - self.last_intr < 1.0:
                self._say(f"sending Ctrl-C to {self.step_name}")
                run.forward(signal.SIGINT)
                self._force()
            elif self.v.get("disable_status"):
                self._say(f"sending Ctrl-C to {self.step_name}")
                run.forward(signal.SIGINT)
            else:
                self._say("interrupt (one more within 1 sec to abort)")
                running = [t.task_id for t in run.running()]
                if running:
                    self._say(f"{self.step_name} task{'s' if len(running) > 1 else ''} {task_ranges(running)}: running")
            self.last_intr = now
        elif sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            ending = self._job_ending()
            if ending is not None:  # the job is ending: its shepherd signals the tasks and gives them KillWait
                self._abort(ending)
                return
            if sig == signal.SIGQUIT:
                self._say("Quit")
            self._say("forcing job termination")
            self.forced = True
            run.forward(signal.SIGKILL)
        elif sig == signal.SIGPIPE:
            run.forward(signal.SIGKILL)
        elif sig == signal.SIGWINCH:
            if run.pty is not None:
                run.pty.resize()
        elif sig != signal.SIGCONT:
            run.forward(sig)

    def _abort(self, ending: str) -> None:
        """The job is ending under the step (scancel, time limit): say so once, as srun and slurmstepd do."""
        if self.aborted:
            return
        self.aborted = True
        self._say(f"Job step aborted: Waiting up to {int(self.node.kill_wait_s) + STEP_ABORT_S} seconds "
                  "for job step to finish.")
        if self.owner:  # a batch job's shepherd writes this line itself
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            self.env.stderr.write(f"slurmstepd-{self.node.name}: error: *** STEP {self.job.job_id}.{self.number} "
                                  f"ON {self.node.name} CANCELLED AT {stamp}{ending} ***\n")
            self.env.stderr.flush()

    def _force(self) -> None:
        if not self.forced:
            self._say("forcing job termination")
            self.forced = True
            self.force_at = time.monotonic() + FORCE_GRACE_S
        else:
            self._say("job abort in progress")
            self.run_.forward(signal.SIGKILL)  # type: ignore[union-attr]

    def _report(self, ended: list[Task]) -> None:
        """srun's lines for tasks that exited non-zero or were killed, grouped by outcome."""
        groups: dict[int, list[int]] = {}
        for task in ended:
            if task.status:
                groups.setdefault(task.status, []).append(task.task_id)
        for status, ids in sorted(groups.items()):
            what = f"{'tasks' if len(ids) > 1 else 'task'} {task_ranges(ids)}"
            if status > 0:
                self._say(f"error: {self.node.name}: {what}: Exited with exit code {status}")
            elif not (self.aborted or self.forced):
                self._say(f"error: {self.node.name}: {what}: {signal.strsignal(-status)}")

    def _outcome(self, tasks: list[Task]) -> Outcome:
        code = sig = 0
        for task in tasks:
            status = task.status or 0
            if status < 0 and -status > sig:
                sig = -status
            elif status > code:
                code = status
        if sig:
            code = 0
        ending = self._job_ending() if (sig or self.aborted) else None
        if ending is not None or self.aborted:
            state = "CANCELLED"
        elif self.forced and sig:
            state = "CANCELLED"
        elif sig or code:
            state = "FAILED"
        else:
            state = "COMPLETED"
        if sig and state == "FAILED" and not self.aborted:
            self._say(f"Force Terminated {self.step_name}")
        return Outcome(state, code, sig, 128 + sig if sig else code)
