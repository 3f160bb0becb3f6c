"""The salloc option table (SLURM 22.05): sbatch's and srun's rows where salloc shares them, plus its own.

`GETOPT_ORDER` is SLURM 22.05's getopt table order for salloc (src/common/slurm_opt.c).
"""

from __future__ import annotations

from flowslurm.slurm import opts_sbatch as sb
from flowslurm.slurm import opts_srun as sr
from flowslurm.slurm.options import CommandSpec, Option, support

N, R, OPT = "none", "required", "optional"
ALLOC = support("honoured", "honoured")

GETOPT_ORDER: tuple[str, ...] = (
    "account", "acctg-freq", "begin", "bell", "bb", "bbf", "cluster-constraint", "chdir", "cluster", "clusters",
    "comment", "container", "context", "contiguous", "constraint", "core-spec", "cores-per-socket", "cpu-freq",
    "cpus-per-gpu", "cpus-per-task", "deadline", "delay-boot", "dependency", "distribution", "exclude", "exclusive",
    "extra-node-info", "get-user-env", "gid", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node", "gpus-per-socket",
    "gpus-per-task", "gres", "gres-flags", "help", "hint", "hold", "immediate", "job-name", "kill-command",
    "licenses", "mail-type", "mail-user", "mcs-label", "mem", "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus",
    "network", "nice", "no-bell", "no-kill", "no-shell", "nodefile", "nodelist", "nodes", "ntasks",
    "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket", "ntasks-per-tres", "overcommit",
    "oversubscribe", "partition", "power", "prefer", "priority", "profile", "qos", "quiet", "reboot", "reservation",
    "signal", "sockets-per-node", "spread-job", "switches", "tasks-per-node", "thread-spec", "threads-per-core",
    "time", "time-min", "tmp", "uid", "use-min-nodes", "verbose", "version", "usage", "wait-all-nodes", "wckey",
    "x11", "container-image", "container-mounts", "container-workdir",
)

OWN: tuple[Option, ...] = (
    sb._o("bell", None, N, "", "ring the terminal bell when the allocation is granted",
          support("ignored", "ignored", "no bell is rung"), sb.OTHER, action="store_true"),
    sb._o("no-bell", None, N, "", "never ring the terminal bell", ALLOC, sb.OTHER, action="store_true"),
    sb._o("kill-command", "K", OPT, "signal", "signal the command when the allocation ends", ALLOC, sb.RUN),
    sb._o("no-shell", None, N, "", "grant the allocation and exit, running no command", ALLOC, sb.RUN,
          action="store_true"),
)

_ROWS = {o.long: o for o in (*sb.OPTIONS, *sr.OWN, *OWN)}
OPTIONS: tuple[Option, ...] = tuple(
    sorted({id(_ROWS[n]): _ROWS[n] for n in GETOPT_ORDER if n in _ROWS}.values(),
           key=lambda o: (sb.SPEC.groups.index(o.group), o.long or ""))
)

SPEC = CommandSpec(
    name="salloc",
    options=OPTIONS,
    usage_line="salloc [OPTIONS(0)...] [ : [OPTIONS(N)...]] [command(0) [args(0)...]]",
    positional="command [args...]",
    stops_at_first_positional=True,
    summary="obtain a job allocation and run a command (or a shell) in it",
    groups=sb.SPEC.groups,
    bad_option_exit=255,
    try_help=True,
    help_col=30,
    getopt_order=GETOPT_ORDER,
)

INPUT_ENV: dict[str, str] = {
    "SALLOC_ACCOUNT": "account", "SALLOC_BELL": "bell", "SALLOC_CLUSTERS": "clusters",
    "SALLOC_CONSTRAINT": "constraint", "SALLOC_CPUS_PER_GPU": "cpus-per-gpu", "SALLOC_EXCLUSIVE": "exclusive",
    "SALLOC_GPUS": "gpus", "SALLOC_GPUS_PER_NODE": "gpus-per-node", "SALLOC_GPUS_PER_TASK": "gpus-per-task",
    "SALLOC_GRES": "gres", "SALLOC_IMMEDIATE": "immediate", "SALLOC_KILL_CMD": "kill-command",
    "SALLOC_MEM_PER_CPU": "mem-per-cpu", "SALLOC_MEM_PER_GPU": "mem-per-gpu", "SALLOC_MEM_PER_NODE": "mem",
    "SALLOC_NETWORK": "network", "SALLOC_NO_BELL": "no-bell", "SALLOC_PARTITION": "partition",
    "SALLOC_QOS": "qos", "SALLOC_RESERVATION": "reservation", "SALLOC_SIGNAL": "signal",
    "SALLOC_TIMELIMIT": "time", "SALLOC_WAIT_ALL_NODES": "wait-all-nodes", "SALLOC_WCKEY": "wckey",
}
