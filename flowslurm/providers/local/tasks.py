"""Running the tasks of one job step on this machine: what slurmstepd and srun's I/O do together.

Every task is a child of the calling process (srun), exec'd with its own SLURM_* variables and
its own standard streams: srun's own (inherited as they are, so nothing is buffered on the way),
a file from an --output/--error/--input pattern, or a pipe that srun relays line by line with
`-l/--label`. Every task carries a step marker in its environment, so whatever a task leaves
behind is found and killed when the step ends, as SLURM's proctrack does.
"""

from __future__ import annotations

import os
import select
import signal
import time

from flowslurm.providers.local import proctree
from flowslurm.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from flowslurm.providers.local.container import Container

STEP_VAR = "FLOWSLURM_STEP"
_CHUNK = 65536


class Stream(Record):
    """Where one standard stream of one task goes: an fd to hand over, or a pipe to relay."""

    __slots__ = ("fd", "relay_to", "label")

    def __init__(self, fd: int | None = None, relay_to: int | None = None, label: str = "") -> None:
        self.fd = fd  # given to the task as it is (srun's own stream, a file, /dev/null)
        self.relay_to = relay_to  # else: a pipe whose lines srun writes here, prefixed with `label`
        self.label = label


class Pty:
    """srun --pty: task 0 runs on a pseudo-terminal of its own, in its own session with the
    terminal as its controlling one; srun copies its own terminal's keys in (raw, so Ctrl-C
    reaches the task's foreground program through the pty's line discipline) and the output out,
    and passes window size changes on."""

    def __init__(self, user_in: int, user_out: int) -> None:
        import termios
        import tty

        self.user_in, self.user_out = user_in, user_out
        self.reading = True  # until the user's terminal ends
        self.master, self.slave = os.openpty()
        os.set_inheritable(self.master, False)
        self.saved = termios.tcgetattr(user_in)
        self.resize()
        tty.setraw(user_in, termios.TCSANOW)

    def resize(self) -> None:
        import fcntl
        import termios

        try:
            size = fcntl.ioctl(self.user_in, termios.TIOCGWINSZ, b"\0" * 8)
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)  # the task's foreground gets SIGWINCH
        except OSError:
            pass

    def restore(self) -> None:
        import termios

        try:
            termios.tcsetattr(self.user_in, termios.TCSADRAIN, self.saved)  # keys typed ahead stay for the shell
        except termios.error:
            pass


class Task(Record):
    __slots__ = ("task_id", "pid", "status", "ended_at")

    def __init__(self, task_id: int, pid: int) -> None:
        self.task_id = task_id
        self.pid = pid
        self.status: int | None = None  # exit code, or -signal
        self.ended_at: float | None = None


class _Relay:
    """One pipe from a task, copied to srun's stream; whole lines get the task's label."""

    __slots__ = ("fd", "out", "label", "partial", "unbuffered")

    def __init__(self, fd: int, out: int, label: str, unbuffered: bool) -> None:
        self.fd, self.out, self.label, self.partial, self.unbuffered = fd, out, label, b"", unbuffered

    def feed(self, data: bytes) -> None:
        if not self.label:
            _write_all(self.out, data)
            return
        *lines, rest = (self.partial + data).split(b"\n")
        label = self.label.encode()
        text = b"".join(label + line + b"\n" for line in lines)
        if self.unbuffered and rest:  # SLURM's -u: a partial line goes on at once, labelled too
            text, rest = text + label + rest, b""
        self.partial = rest
        if text:
            _write_all(self.out, text)

    def close(self) -> None:
        if self.partial:
            _write_all(self.out, (self.label.encode() if self.label else b"") + self.partial + b"\n")
            self.partial = b""
        os.close(self.fd)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
            continue
        except OSError:
            return  # srun's own stream is gone (a closed pipe): the task's output is dropped, as SLURM's
        data = data[n:]


class StepRun:
    """Start the tasks, relay their output, wait for them; `signals` are forwarded as srun does."""

    def __init__(self, marker: str, token: str, unbuffered: bool = False) -> None:
        self.marker = marker  # "<job>.<step>"
        self.token = token
        self.unbuffered = unbuffered
        self.tasks: list[Task] = []
        self.relays: dict[int, _Relay] = {}
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.pending_signals: list[int] = []
        self.container: Container | None = None  # srun --container-image: each task runs in one (container.py)
        self.pty: Pty | None = None  # srun --pty: task 0's terminal

    # ---- launching ----------------------------------------------------------------------------

    def start(self, task_id: int, argv: list[str], env: dict[str, str], cwd: str, streams: tuple[Stream, Stream, Stream],
              umask: int | None = None) -> Task:
        fds: list[int] = []
        parent_ends: list[tuple[int, Stream]] = []
        to_close: list[int] = []
        on_pty = self.pty is not None and task_id == 0
        for target, stream in enumerate(streams):
            if on_pty:
                fds.append(self.pty.slave)  # type: ignore[union-attr]
            elif stream.fd is not None:
                fds.append(stream.fd)
            else:
                r, w = os.pipe2(os.O_CLOEXEC)
                fds.append(w)
                to_close.append(w)
                parent_ends.append((r, stream))
        env = dict(env)
        env[STEP_VAR] = self.marker
        if self.token:
            env[proctree.TOKEN_VAR] = self.token
        if self.container is not None:  # the runtime's client runs the task in a container; markers go inside
            argv, env = self.container.command(f"{self.container.prefix}-{task_id}", argv, env, stdio=(fds[0], fds[1]))
        pid = os.fork()
        if pid == 0:  # the task: its own process group (so srun's signals reach it on purpose only), then exec
            try:
                if on_pty:  # a session of its own, the pty its controlling terminal
                    import fcntl
                    import termios

                    os.setsid()
                    fcntl.ioctl(fds[0], termios.TIOCSCTTY, 0)
                else:
                    os.setpgid(0, 0)
                os.chdir(cwd)
                if umask is not None:
                    os.umask(umask)
                for target, fd in enumerate(fds):
                    os.dup2(fd, target)
                    os.set_inheritable(target, True)
                os.closerange(3, 1 << 16)
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE, signal.SIGCHLD,
                            signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                env["SLURM_TASK_PID"] = str(os.getpid())
                os.execvpe(argv[0], argv, env)
            except BaseException as exc:  # noqa: BLE001 - nothing may escape a forked child
                code = exc.errno if isinstance(exc, OSError) and exc.errno else 1  # SLURM exits with errno
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                try:
                    os.write(2, f"slurmstepd-{env.get('SLURMD_NODENAME', 'localhost')}: error: execve(): "
                                f"{argv[0]}: {reason}\n".encode())
                finally:
                    os._exit(code)
        for fd in to_close:
            os.close(fd)
        if on_pty:
            os.close(self.pty.slave)  # type: ignore[union-attr]  # the task holds it now: its exit ends the output
            os.set_blocking(self.pty.master, False)  # type: ignore[union-attr]
            self.relays[self.pty.master] = _Relay(self.pty.master, self.pty.user_out, "", True)  # type: ignore[union-attr]
        for r, stream in parent_ends:
            os.set_blocking(r, False)
            assert stream.relay_to is not None
            self.relays[r] = _Relay(r, stream.relay_to, stream.label, self.unbuffered)
        task = Task(task_id, pid)
        self.tasks.append(task)
        return task

    # ---- signals ------------------------------------------------------------------------------

    def install_signals(self, sigs: tuple[int, ...]) -> None:
        """Catch these signals into `pending_signals` (handled by `wait`'s caller via on_signal)."""
        signal.set_wakeup_fd(self.wake_w)

        def note(signum: int, _frame: object) -> None:
            self.pending_signals.append(signum)

        for sig in sigs:
            signal.signal(sig, note)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def forward(self, sig: int) -> None:
        for task in self.tasks:
            if task.status is None:
                try:
                    os.killpg(task.pid, sig)
                except (ProcessLookupError, PermissionError):
                    try:
                        os.kill(task.pid, sig)
                    except (ProcessLookupError, PermissionError):
                        pass

    def kill_leftovers(self) -> None:
        """Processes the tasks left behind (background children): the step is over, so are they."""
        for pid in proctree.pids_with(STEP_VAR, self.marker, self.token):  # this job's step, not another home's
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # ---- waiting ------------------------------------------------------------------------------

    def running(self) -> list[Task]:
        return [t for t in self.tasks if t.status is None]

    def _reap(self) -> list[Task]:
        ended = []
        for task in self.tasks:
            if task.status is not None:
                continue
            try:
                pid, status = os.waitpid(task.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = task.pid, 0
            if pid:
                task.status = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                if self.container is not None and 128 < task.status <= 192:  # podman/docker: 128+N = killed by N
                    task.status = 128 - task.status
                task.ended_at = time.monotonic()
                ended.append(task)
        return ended

    def _pump(self, timeout: float) -> None:
        fds = [self.wake_r, *self.relays]
        pty = self.pty
        keys = pty.user_in if pty is not None and pty.reading and pty.master in self.relays else None
        if keys is not None:
            fds.append(keys)
        try:
            ready, _, _ = select.select(fds, [], [], max(timeout, 0.0))
        except InterruptedError:
            return
        for fd in ready:
            if fd == keys:  # what the user types goes to the task's terminal as it is
                try:
                    data = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    _write_all(pty.master, data)  # type: ignore[union-attr]
                else:
                    pty.reading = False  # type: ignore[union-attr]
                continue
            if fd == self.wake_r:
                try:
                    while os.read(self.wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            relay = self.relays[fd]
            try:
                data = os.read(fd, _CHUNK)
            except BlockingIOError:
                continue
            except OSError:  # EIO: a pty whose task (and every holder of its slave end) is gone
                data = b""
            if data:
                relay.feed(data)
            else:
                relay.close()
                del self.relays[fd]

    def wait(self, on_event: Callable[[list[Task], list[int]], float | None]) -> None:
        """Relay output until every task has ended, then end what they left behind and drain the pipes.

        `on_event(ended_tasks, signals)` runs whenever tasks end or signals arrive (or at the
        monotonic time it last returned); it returns when it next wants to run, or None.
        """
        wake_at: float | None = None
        while True:
            ended = self._reap()
            sigs, self.pending_signals = self.pending_signals, []
            now = time.monotonic()
            if ended or sigs or (wake_at is not None and now >= wake_at):
                wake_at = on_event(ended, sigs)
            if not self.running():
                break
            self._pump(0.5 if wake_at is None else min(0.5, wake_at - now))
        self.kill_leftovers()
        deadline = time.monotonic() + 2.0
        while self.relays and time.monotonic() < deadline:
            self._pump(0.05)
        for relay in list(self.relays.values()):
            relay.close()
        self.relays.clear()
