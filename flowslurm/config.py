"""Where flowslurm keeps its state, and the settings of the local node.

Everything lives under one directory: `FLOWSLURM_HOME` when set (tests point it at a temporary
directory), else the platformdirs user data dir. Settings come from, in order of precedence, the
environment (`FLOWSLURM_CPUS`, ...), then `config.yaml` in the user config dir (or in
`FLOWSLURM_HOME` when that is set), then what is detected on this machine.
"""

from __future__ import annotations

import os

from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

APP = "flowslurm"


def home_dir() -> str:
    """The state directory (ledger, spool, engine socket) as a string, created with mode 0700."""
    path = os.environ.get("FLOWSLURM_HOME")
    if not path:
        from platformdirs import user_data_dir

        path = user_data_dir(APP)
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def home() -> Path:
    """`home_dir()` as a Path."""
    from pathlib import Path

    return Path(home_dir())


def config_path(environ: Mapping[str, str] | None = None) -> str:
    """The config file (it may not exist): FLOWSLURM_CONFIG, else config.yaml in FLOWSLURM_HOME
    when that is set, else in the platformdirs user config dir."""
    env = os.environ if environ is None else environ
    if env.get("FLOWSLURM_CONFIG"):
        return env["FLOWSLURM_CONFIG"]
    if env.get("FLOWSLURM_HOME"):
        return os.path.join(env["FLOWSLURM_HOME"], "config.yaml")
    from platformdirs import user_config_dir

    return os.path.join(user_config_dir(APP), "config.yaml")


def config_file() -> Path:
    from pathlib import Path

    return Path(config_path())


_settings_cache: dict[str, Any] | None = None


def settings() -> dict[str, Any]:
    """The parsed config file (empty when there is none). YAML is imported only if a file exists."""
    global _settings_cache
    if _settings_cache is None:
        path = config_path()
        data: Any = {}
        if os.path.isfile(path):
            import yaml

            with open(path) as fh:
                data = yaml.safe_load(fh.read()) or {}
        _settings_cache = data if isinstance(data, dict) else {}
    return _settings_cache


def setting(section: str, key: str, env: str, default: Any) -> Any:
    if env in os.environ:
        return os.environ[env]
    value = settings().get(section, {})
    if isinstance(value, dict) and key in value:
        return value[key]
    return default


class Node(FrozenRecord):
    """The local backend's single node: what jobs may use at once."""

    __slots__ = ("name", "cpus", "memory_mb", "gpus", "partition", "def_mem_per_cpu_mb", "kill_wait_s", "cluster",
                 "account")

    def __init__(
        self,
        name: str,
        cpus: int,
        memory_mb: int,
        gpus: int,
        partition: str,
        def_mem_per_cpu_mb: int,
        kill_wait_s: float,
        cluster: str,
        account: str,  # the default account of jobs that name none ("" = the user's name)
    ) -> None:
        init = object.__setattr__
        init(self, "name", name)
        init(self, "cpus", cpus)
        init(self, "memory_mb", memory_mb)
        init(self, "gpus", gpus)
        init(self, "partition", partition)
        init(self, "def_mem_per_cpu_mb", def_mem_per_cpu_mb)
        init(self, "kill_wait_s", kill_wait_s)
        init(self, "cluster", cluster)
        init(self, "account", account)

    if TYPE_CHECKING:
        name: str
        cpus: int
        memory_mb: int
        gpus: int
        partition: str
        def_mem_per_cpu_mb: int
        kill_wait_s: float
        cluster: str
        account: str


def _detect_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _detect_memory_mb() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 1024


def _detect_gpus() -> int:
    """NVIDIA GPUs visible through their device nodes (no driver library is loaded)."""
    try:
        return sum(1 for n in os.listdir("/dev") if n.startswith("nvidia") and n[6:].isdigit())
    except OSError:
        return 0


def node() -> Node:
    cpus = int(setting("local", "cpus", "FLOWSLURM_CPUS", 0)) or _detect_cpus()
    mem = int(setting("local", "memory_mb", "FLOWSLURM_MEMORY_MB", 0)) or _detect_memory_mb()
    gpus_setting = setting("local", "gpus", "FLOWSLURM_GPUS", None)
    gpus = _detect_gpus() if gpus_setting in (None, "") else int(gpus_setting)
    return Node(
        name=str(setting("local", "node_name", "FLOWSLURM_NODE_NAME", "")) or os.uname().nodename.split(".")[0],
        cpus=cpus,
        memory_mb=mem,
        gpus=gpus,
        partition=str(setting("local", "partition", "FLOWSLURM_PARTITION", "local")),
        def_mem_per_cpu_mb=int(setting("local", "def_mem_per_cpu_mb", "FLOWSLURM_DEF_MEM_PER_CPU", 1024)),
        kill_wait_s=float(setting("local", "kill_wait_s", "FLOWSLURM_KILL_WAIT", 30)),
        cluster=str(setting("local", "cluster", "FLOWSLURM_CLUSTER", "flowslurm")),
        account=str(setting("local", "account", "FLOWSLURM_ACCOUNT", "")),
    )


def remote_poll_interval() -> float:
    """Seconds between the engine's batched polls of remote providers (FLOWSLURM_REMOTE_POLL)."""
    try:
        return max(0.1, float(setting("engine", "remote_poll_s", "FLOWSLURM_REMOTE_POLL", 5.0)))
    except (TypeError, ValueError):
        return 5.0
