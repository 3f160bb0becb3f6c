"""Containers on the local backend: pyxis's `--container-image`, `--container-mounts` and
`--container-workdir`, run with podman (preferred) or docker, whichever this machine has.

What runs where, as on a SLURM cluster with the pyxis plugin:

- `sbatch --container-image=IMG`: the batch script runs inside IMG (so `srun` is not available
  inside it, as with pyxis). `srun --container-image=IMG`: each task of the step runs inside IMG, one
  container per task. `salloc --container-image=IMG`: the command runs on the host, and the steps
  `srun` launches in the allocation run in IMG (a step's own `--container-*` options win).
- The job's working directory and submit directory are bind-mounted at the same path, and the
  working directory is the container's (unless `--container-workdir`); `--container-mounts` adds
  `SRC[:DST[:FLAGS]]` mounts (FLAGS joined with `+`, e.g. `ro`).
- The container shares the host's network, process, IPC and UTS namespaces (as enroot does), runs
  as the submitting user (`--user uid:gid`, or `--userns=keep-id` for rootless podman) so files it
  writes belong to the user, and gets the job's environment (SLURM_* included) except variables
  that describe the host rather than the job (PATH, HOME, LD_LIBRARY_PATH...: the image's own win).
- Output files are opened on the host by the shepherd (or srun) and handed to the runtime's client,
  which relays the container's stdout/stderr into them. The exit code is the script's (or the
  runtime's own 125-127 when it cannot start the container; its message is in the job's output).
- The job's token and step marker are passed into the container, so the shepherd's cancellation,
  time limit, memory accounting and leftover killing reach the container's processes directly
  (they are ordinary host processes: no PID namespace). The runtime's client is left out of
  those (it proxies signals itself), and every container is `--rm`; a client that was killed gets
  its container removed with `rm -f` so nothing is left behind.
- GPUs: with GPUs allocated, `--device nvidia.com/gpu=ID` is passed for each when a CDI spec for
  nvidia.com/gpu exists (/etc/cdi, /var/run/cdi), and CUDA_VISIBLE_DEVICES is renumbered 0..n-1
  inside (the container sees only its devices). Without a CDI spec only the variables are set.

The runtime is FLOWSLURM_CONTAINER_RUNTIME (or `local: container_runtime:` in the config file):
`podman`, `docker`, a path, or `none`; by default podman, else docker, from PATH.
"""

from __future__ import annotations

import os

from flowslurm.errors import SlurmInputError, SubmitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from flowslurm.engine.model import Job

RUNTIMES = ("podman", "docker")
NO_RUNTIME = ("--container-image needs podman or docker on this machine, and none was found (install one, "
              "e.g. `apt-get install podman`, or set FLOWSLURM_CONTAINER_RUNTIME to its path)")
LABEL = "flowslurm.home"  # every container carries its flowslurm home (and job) as labels
# The job's own markers: passed into the container, kept out of the runtime client's environment.
MARKERS = ("FLOWSLURM_JOB_TOKEN", "FLOWSLURM_STEP", "FLOWSLURM_HOME")
# Variables that describe the host, not the job: the image's own values (or none) apply inside.
NOT_PASSED = frozenset({
    "PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "_", "HOSTNAME", "TMPDIR", "XDG_RUNTIME_DIR", "LD_LIBRARY_PATH",
    "LD_PRELOAD", "PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV", "container", "SLURM_TASK_PID",
    "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF", "DOCKER_HOST", "DOCKER_CONFIG",
})
# What the runtime client itself may need, taken from our own environment when the job's lacks it.
CLIENT_VARS = ("PATH", "HOME", "XDG_RUNTIME_DIR", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF",
               "CONTAINERS_REGISTRIES_CONF", "DOCKER_HOST", "DOCKER_CONFIG", "TMPDIR")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Never bind-mounted over the image even when the job's directory is one of them.
SYSTEM_DIRS = frozenset({"/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc",
                         "/run", "/sbin", "/sys", "/usr", "/var"})
MOUNT_FLAGS = frozenset({"ro", "rw", "z", "Z", "bind", "rbind", "private", "rprivate", "shared", "rshared", "slave",
                         "rslave", "nosuid", "suid", "nodev", "dev", "noexec", "exec"})
CDI_DIRS = ("/etc/cdi", "/var/run/cdi", "/run/cdi")
GPU_VARS = ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL")


# ---- the runtime ------------------------------------------------------------------------------


def _which(name: str, path: str | None = None) -> str | None:
    """shutil.which without shutil (it imports re and functools, which every sbatch would pay for)."""
    if "/" in name:
        return os.path.abspath(name) if os.path.isfile(name) and os.access(name, os.X_OK) else None
    for folder in (path if path is not None else os.environ.get("PATH", _DEFAULT_PATH)).split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def runtime() -> str | None:
    """The container runtime's path: the configured one, else podman, else docker; None when there is none."""
    from flowslurm import config

    choice = str(config.setting("local", "container_runtime", "FLOWSLURM_CONTAINER_RUNTIME", "") or "").strip()
    if choice.lower() in ("none", "off", "no", "false", "0"):
        return None
    for name in [choice] if choice else RUNTIMES:
        found = _which(name)
        if found:
            return found
    return None


def is_docker(path: str) -> bool:
    return "docker" in os.path.basename(path)


# ---- checking what was asked -------------------------------------------------------------------


def parse_mounts(text: str, base: str) -> list[tuple[str, str, str]]:
    """pyxis's `SRC[:DST[:FLAGS]][,...]` as (src, dst, runtime options); relative sources are from `base`."""
    mounts = []
    for item in text.split(","):
        if not item.strip():
            continue
        parts = item.split(":")
        if len(parts) > 3 or not parts[0]:
            raise SlurmInputError(f"--container-mounts: invalid mount '{item}' (expected SRC[:DST[:FLAGS]])", 1)
        src = os.path.normpath(os.path.join(base, os.path.expanduser(parts[0])))
        dst = parts[1] if len(parts) > 1 and parts[1] else src
        if not dst.startswith("/"):
            raise SlurmInputError(f"--container-mounts: the destination of '{item}' must be an absolute path", 1)
        flags = [f for f in (parts[2].split("+") if len(parts) > 2 else []) if f]
        bad = [f for f in flags if f not in MOUNT_FLAGS]
        if bad:
            raise SlurmInputError(f"--container-mounts: unknown mount flag '{bad[0]}' in '{item}' "
                                  f"(known: {', '.join(sorted(MOUNT_FLAGS))})", 1)
        mounts.append((src, os.path.normpath(dst), ",".join(flags)))
    return mounts


def check_option(dest: str, value: object, cwd: str | None = None) -> None:
    """Submit-time check of one container option on the local backend (sbatch, srun, salloc).

    `--container-image` needs a runtime here; `--container-mounts` must parse; `--container-workdir`
    must be absolute. Raises SubmitError ("<prog>: error: ...", exit 1) otherwise.
    """
    try:
        if dest == "container_image":
            if not str(value or "").strip():
                raise SlurmInputError("--container-image: no image given", 1)
            if runtime() is None:
                raise SlurmInputError(NO_RUNTIME, 1)
        elif dest == "container_mounts":
            parse_mounts(str(value or ""), cwd or os.getcwd())
        elif dest == "container_workdir" and not str(value or "").startswith("/"):
            raise SlurmInputError(f"--container-workdir: '{value}' must be an absolute path", 1)
    except SlurmInputError as err:
        raise SubmitError(err.message) from None


def requested(*specs: Mapping[str, object]) -> dict[str, str]:
    """The container options in effect: for each, the first of `specs` that sets it (a step's own
    options, then its job's)."""
    found: dict[str, str] = {}
    for key in ("container_image", "container_mounts", "container_workdir"):
        for spec in specs:
            if spec.get(key):
                found[key] = str(spec[key])
                break
    return found


# ---- running -----------------------------------------------------------------------------------


def _cdi_gpus() -> bool:
    """Whether a CDI spec for NVIDIA GPUs is installed (nvidia-ctk cdi generate)."""
    for folder in CDI_DIRS:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not name.endswith((".yaml", ".yml", ".json")):
                continue
            try:
                with open(os.path.join(folder, name), "rb") as fh:
                    if b"nvidia.com/gpu" in fh.read():
                        return True
            except OSError:
                continue
    return False


def _stdio_flags(stdio: tuple[int, int] | None) -> list[str]:
    """-i (attach stdin) and -t (a terminal) for the runtime's client.

    A task runs in its own process group, so the terminal srun was started from is not its to read:
    the client would be stopped by SIGTTIN. Its stdin is then left unattached. A terminal that is not
    ours (one made for the task, as --pty does) is attached, with -t when stdout is a terminal too.
    """
    if stdio is None or not os.isatty(stdio[0]):
        return ["-i"]
    try:
        os.tcgetpgrp(stdio[0])  # succeeds only on our controlling terminal
    except OSError:
        return ["-i", "-t"] if os.isatty(stdio[1]) else ["-i"]
    return []


class Container:
    """How to run commands of one job (or step) in its image: the runtime's `run` command lines."""

    def __init__(self, runtime_path: str, image: str, *, home: str, job_id: int, prefix: str, dirs: Iterable[str],
                 mounts: list[tuple[str, str, str]], workdir: str, gpu_ids: list[str], umask: int | None = None,
                 cdi: bool | None = None) -> None:
        self.runtime = runtime_path
        self.docker = is_docker(runtime_path)
        self.image = image
        self.home = home
        self.job_id = job_id
        self.prefix = prefix  # container names are <prefix>-<task> (or <prefix> for the batch script)
        self.workdir = workdir
        self.gpu_ids = [g for g in gpu_ids if g]
        self.umask = umask
        self.cdi = _cdi_gpus() if cdi is None and self.gpu_ids else bool(cdi)
        self.names: list[str] = []
        self.volumes: list[str] = []
        outer: list[str] = []
        for d in sorted({os.path.normpath(d) for d in dirs if d}, key=len):  # a directory inside one mounted is skipped
            if d not in SYSTEM_DIRS and not any(d.startswith(o.rstrip("/") + "/") for o in outer):
                outer.append(d)
                self.volumes.append(f"{d}:{d}")
        for src, dst, flags in mounts:
            if not os.path.exists(src):
                raise SlurmInputError(f"--container-mounts: {src}: No such file or directory", 1)
            self.volumes.append(f"{src}:{dst}" + (f":{flags}" if flags else ""))

    def _user_args(self) -> list[str]:
        if not self.docker and os.geteuid() != 0:
            return ["--userns=keep-id"]  # rootless podman: the user's own uid inside and outside
        return ["--user", f"{os.getuid()}:{os.getgid()}"]

    def command(self, name: str, argv: list[str], env: Mapping[str, str], *, stdio: tuple[int, int] | None = None,
                extra_volumes: Iterable[str] = ()) -> tuple[list[str], dict[str, str]]:
        """(argv of the runtime client, its environment) that run `argv` with `env` in a new container `name`;
        `stdio` is the (stdin, stdout) the client will get, when they may be terminals.

        Values travel in the client's environment (`-e NAME` copies them), never on its command line.
        """
        self.names.append(name)
        args = [self.runtime, "run", "--rm", *_stdio_flags(stdio), "--name", name, "--label", f"{LABEL}={self.home}",
                "--label", f"flowslurm.job={self.job_id}", "--network=host", "--pid=host", "--ipc=host", "--uts=host",
                "--log-driver=none", *self._user_args()]
        if self.umask is not None and not self.docker:
            args += ["--umask", f"{self.umask:04o}"]
        for volume in [*self.volumes, *extra_volumes]:
            args += ["-v", volume]
        client_env = {k: v for k, v in env.items() if k not in MARKERS}
        for key in CLIENT_VARS:
            if key not in client_env and key in os.environ:
                client_env[key] = os.environ[key]
        client_env.setdefault("PATH", _DEFAULT_PATH)
        for key in sorted(env):
            if key in MARKERS:
                args += ["-e", f"{key}={env[key]}"]  # the job's own markers: not in the client's environment
            elif key not in NOT_PASSED and key.isidentifier() and key not in GPU_VARS:
                args += ["-e", key]
        gpu_env = {k: env[k] for k in GPU_VARS if k in env}
        if self.gpu_ids and self.cdi:
            for gpu in self.gpu_ids:
                args += ["--device", f"nvidia.com/gpu={gpu}"]
            gpu_env = {k: ",".join(str(i) for i in range(len(self.gpu_ids))) for k in GPU_VARS if k in env}
        for key, value in gpu_env.items():
            args += ["-e", f"{key}={value}"]
        args += ["-w", self.workdir, "--entrypoint=", self.image, *argv]
        return args, client_env

    # ---- ending ----------------------------------------------------------------------------

    def _quiet(self, *argv: str) -> None:
        """Run the runtime with no output, waiting at most a few seconds (no subprocess: the shepherd stays lean)."""
        import time

        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            pid = os.posix_spawn(self.runtime, [self.runtime, *argv], dict(os.environ),
                                 file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                                               (os.POSIX_SPAWN_DUP2, devnull, 2)])
        except OSError:
            return
        finally:
            os.close(devnull)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            time.sleep(0.02)
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def kill(self, sig: int) -> None:
        """Signal the containers' processes through the runtime (when they could not be found directly)."""
        if self.names:
            self._quiet("kill", "--signal", str(int(sig)), *self.names)

    def remove(self) -> None:
        """Remove the containers, killing what still runs in them (`--rm` does this unless the client was killed)."""
        if self.names:
            self._quiet(*(["rm", "-f"] if self.docker else ["rm", "-f", "-t", "0", "--ignore"]), *self.names)


def for_job(job: Job, home: str, token: str) -> Container | None:
    """The container of a batch job's script, or None when it asked for none."""
    options = requested(job.spec)
    if not options.get("container_image"):
        return None
    path = runtime()
    if path is None:
        raise SlurmInputError(NO_RUNTIME, 1)
    mounts = parse_mounts(options.get("container_mounts", ""), job.submit_dir or job.work_dir)
    return Container(path, options["container_image"], home=home, job_id=job.job_id,
                     prefix=f"flowslurm-{_safe(token) or job.job_id}-batch", dirs=(job.work_dir, job.submit_dir),
                     mounts=mounts, workdir=options.get("container_workdir") or job.work_dir,
                     gpu_ids=(job.gpu_ids or "").split(","), umask=int(job.spec.get("umask", "0022"), 8))


def for_step(step_options: Mapping[str, object], job: Job, home: str, token: str, number: int, work_dir: str,
             gpu_ids: list[str]) -> Container | None:
    """The container every task of an srun step runs in (one each), or None: the step's own
    `--container-*` options, else its job's (salloc --container-image, or a containerized job's)."""
    options = requested(step_options, job.spec)
    if not options.get("container_image"):
        return None
    path = runtime()
    if path is None:
        raise SlurmInputError(NO_RUNTIME, 1)
    mounts = parse_mounts(options.get("container_mounts", ""), work_dir)
    umask = os.umask(0o022)
    os.umask(umask)
    prefix = f"flowslurm-{_safe(token) or job.job_id}-{number}-{os.getpid()}"
    return Container(path, options["container_image"], home=home, job_id=job.job_id, prefix=prefix,
                     dirs=(work_dir, job.submit_dir), mounts=mounts,
                     workdir=options.get("container_workdir") or work_dir, gpu_ids=gpu_ids, umask=umask)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in text)
