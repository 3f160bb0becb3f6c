"""Where flowslurm keeps its state, and the settings of the local node.

Everything lives under one directory: `FLOWSLURM_HOME` when set (tests point it at a temporary
directory), else the platformdirs user data dir. Settings come from, in order of precedence, the
environment (`FLOWSLURM_CPUS`, ...), then `config.yaml` in the user config dir (or in
`FLOWSLURM_HOME` when that is set), then what is detected on this machine.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP = "flowslurm"


def home() -> Path:
    """The state directory (ledger, spool, engine socket), created with mode 0700."""
    env = os.environ.get("FLOWSLURM_HOME")
    if env:
        path = Path(env)
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir(APP))
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def config_file() -> Path:
    env = os.environ.get("FLOWSLURM_CONFIG")
    if env:
        return Path(env)
    if os.environ.get("FLOWSLURM_HOME"):
        return Path(os.environ["FLOWSLURM_HOME"]) / "config.yaml"
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP)) / "config.yaml"


_settings_cache: dict[str, Any] | None = None


def settings() -> dict[str, Any]:
    """The parsed config file (empty when there is none). YAML is imported only if a file exists."""
    global _settings_cache
    if _settings_cache is None:
        path = config_file()
        data: Any = {}
        if path.is_file():
            import yaml

            data = yaml.safe_load(path.read_text()) or {}
        _settings_cache = data if isinstance(data, dict) else {}
    return _settings_cache


def setting(section: str, key: str, env: str, default: Any) -> Any:
    if env in os.environ:
        return os.environ[env]
    value = settings().get(section, {})
    if isinstance(value, dict) and key in value:
        return value[key]
    return default


@dataclass(frozen=True, slots=True)
class Node:
    """The local backend's single node: what jobs may use at once."""

    name: str
    cpus: int
    memory_mb: int
    gpus: int
    partition: str
    def_mem_per_cpu_mb: int
    kill_wait_s: float
    cluster: str
    account: str  # the default account of jobs that name none ("" = the user's name)


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
        name=str(setting("local", "node_name", "FLOWSLURM_NODE_NAME", "")) or socket.gethostname().split(".")[0],
        cpus=cpus,
        memory_mb=mem,
        gpus=gpus,
        partition=str(setting("local", "partition", "FLOWSLURM_PARTITION", "local")),
        def_mem_per_cpu_mb=int(setting("local", "def_mem_per_cpu_mb", "FLOWSLURM_DEF_MEM_PER_CPU", 1024)),
        kill_wait_s=float(setting("local", "kill_wait_s", "FLOWSLURM_KILL_WAIT", 30)),
        cluster=str(setting("local", "cluster", "FLOWSLURM_CLUSTER", "flowslurm")),
        account=str(setting("local", "account", "FLOWSLURM_ACCOUNT", "")),
    )
