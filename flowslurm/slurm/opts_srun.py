"""The srun option table: every option of SLURM 22.05 srun plus flowslurm's container options.

Options srun shares with sbatch (resources, names, times, files...) are the very rows of the
sbatch table, so both commands parse and document them alike; the rows below are srun's own
or mean something else for srun (`-i`, `-o`, `-e` are per-task patterns, `-W` takes seconds).
`GETOPT_ORDER` is SLURM 22.05's getopt table order for srun (src/common/slurm_opt.c).
"""

from __future__ import annotations

from flowslurm.slurm import opts_sbatch as sb
from flowslurm.slurm.options import CommandSpec, Option, support

N, R, OPT = "none", "required", "optional"

STEP = support("honoured", "honoured")
NO_EFFECT = sb.NO_EFFECT
NO_BINDING = sb.NO_BINDING
NO_PLUGINS = support("ignored", "ignored", "accepted; no MPI or launch plugins: tasks are plain processes")
PTY = support("honoured", "warned", "", "not implemented yet: runs without a pseudo-terminal")
REFUSED_X11 = support("refused", "refused", "no X11 forwarding on this backend")
NOT_YET = sb.NOT_YET

_o = sb._o
RUN, CONS, CR, AFF, GPU, HELP, OTHER, EXT = sb.RUN, sb.CONS, sb.CR, sb.AFF, sb.GPU, sb.HELP, sb.OTHER, sb.EXT

# sbatch rows that mean the same for srun (sbatch-only ones such as --array or --wrap are absent)
_SHARED = (
    "account", "acctg-freq", "begin", "bb", "bbf", "cluster-constraint", "chdir", "cluster", "clusters", "comment",
    "container", "context", "contiguous", "constraint", "core-spec", "cores-per-socket", "cpu-freq", "cpus-per-gpu",
    "cpus-per-task", "deadline", "delay-boot", "dependency", "distribution", "exclude", "exclusive", "export",
    "extra-node-info", "gid", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node", "gpus-per-socket", "gpus-per-task",
    "gres", "gres-flags", "help", "hint", "hold", "job-name", "licenses", "mail-type", "mail-user", "mcs-label",
    "mem", "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus", "network", "nice", "no-kill", "nodefile", "nodelist",
    "nodes", "ntasks", "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket",
    "ntasks-per-tres", "open-mode", "overcommit", "oversubscribe", "partition", "power", "prefer", "priority",
    "profile", "propagate", "qos", "quiet", "reboot", "reservation", "signal", "sockets-per-node", "spread-job",
    "switches", "test-only", "thread-spec", "threads-per-core", "time", "time-min", "tmp", "uid", "use-min-nodes",
    "verbose", "version", "usage", "wckey", "container-image", "container-mounts", "container-workdir",
)
_BY_LONG = {opt.long: opt for opt in sb.OPTIONS}

OWN: tuple[Option, ...] = (
    _o("accel-bind", None, R, "type", "bind tasks to accelerators", NO_BINDING, AFF),
    _o("bcast", None, OPT, "dest_path", "copy the executable to the nodes first",
       support("ignored", "ignored", "one shared file system: nothing to copy"), RUN),
    _o("bcast-exclude", None, R, "paths", "libraries --send-libs leaves out",
       support("ignored", "ignored", "one shared file system: nothing to copy"), RUN),
    _o("compress", None, OPT, "type", "compress --bcast transfers", NO_EFFECT, RUN),
    _o("cpu-bind", None, R, "type", "bind tasks to CPUs", NO_BINDING, AFF, aliases=("cpu_bind",)),
    _o("debugger-test", None, N, "", "check the launch under a debugger", NO_EFFECT, RUN,
       action="store_true", hidden=True),
    _o("disable-status", "X", N, "", "Ctrl-C is sent to the tasks at once, no status report", STEP, RUN,
       action="store_true"),
    _o("epilog", None, R, "program", "run this on the submit host after the step", NOT_YET, RUN),
    _o("error", "e", R, "pattern", "file for each task's standard error (%t, %j, %s...)", sb.FILES, RUN),
    _o("exact", None, N, "", "give the step only the resources it asks for", NO_BINDING, RUN,
       action="store_true"),
    _o("het-group", None, R, "idx", "heterogeneous job component to run in",
       support("refused", "refused", "no heterogeneous jobs on this backend"), RUN, aliases=("pack-group",)),
    _o("immediate", "I", OPT, "secs", "fail unless resources are free within this many seconds", STEP, RUN),
    _o("input", "i", R, "mode", "standard input of the tasks: all, none, a task id, or a file pattern", sb.FILES, RUN),
    _o("interactive", None, N, "", "internal: an interactive step", NO_EFFECT, RUN, action="store_true",
       hidden=True),
    _o("jobid", None, R, "id", "run the step in this existing job", STEP, RUN),
    _o("kill-on-bad-exit", "K", OPT, "0|1", "end the step when a task exits non-zero", STEP, RUN),
    _o("label", "l", N, "", "prefix each line of output with its task number", STEP, RUN, action="store_true"),
    _o("threads", "T", R, "n", "threads srun uses to launch tasks", NO_EFFECT, RUN),
    _o("mpi", None, R, "type", "MPI plugin to launch with", NO_PLUGINS, RUN),
    _o("msg-timeout", None, R, "secs", "launch message timeout", NO_EFFECT, RUN),
    _o("multi-prog", None, N, "", "run a different program per task from a config file", STEP, RUN,
       action="store_true"),
    _o("no-allocate", "Z", N, "", "run without an allocation (SlurmUser only)", sb.ROOT_ONLY, RUN,
       action="store_true"),
    _o("output", "o", R, "pattern", "file for each task's standard output (%t, %j, %s...)", sb.FILES, RUN),
    _o("overlap", None, OPT, "", "let this step share resources with other steps", STEP, RUN),
    _o("preserve-env", "E", N, "", "pass SLURM_NNODES and SLURM_NTASKS through unchanged", STEP, RUN,
       action="store_true"),
    _o("prolog", None, R, "program", "run this on the submit host before the step", NOT_YET, RUN),
    _o("pty", None, N, "", "run task 0 in a pseudo-terminal", PTY, RUN, action="store_true"),
    _o("quit-on-interrupt", None, N, "", "one Ctrl-C ends the step", STEP, RUN, action="store_true"),
    _o("relative", "r", R, "n", "start the step on this node of the allocation", sb.ONE_NODE, RUN),
    _o("resv-ports", None, OPT, "count", "reserve communication ports for the step", NO_EFFECT, RUN),
    _o("send-libs", None, OPT, "yes|no", "copy the executable's libraries with --bcast", NO_EFFECT, RUN),
    _o("slurmd-debug", None, R, "level", "debug level of the step daemon", NO_EFFECT, RUN),
    _o("task-epilog", None, R, "program", "run this after each task", NOT_YET, RUN),
    _o("task-prolog", None, R, "program", "run this before each task", NOT_YET, RUN),
    _o("unbuffered", "u", N, "", "forward output as it comes, not line by line", STEP, RUN, action="store_true"),
    _o("wait", "W", R, "seconds", "end the step this long after the first task ends", STEP, RUN),
    _o("whole", None, N, "", "give the step whole nodes", NO_BINDING, RUN, action="store_true"),
    _o("x11", None, OPT, "all|first|last", "forward X11 to the tasks", REFUSED_X11, RUN),
)

_OWN_BY_LONG = {opt.long: opt for opt in OWN}
OPTIONS: tuple[Option, ...] = tuple(
    sorted((*(_BY_LONG[n] for n in _SHARED), *OWN), key=lambda o: (sb.SPEC.groups.index(o.group), o.long or ""))
)

GETOPT_ORDER: tuple[str, ...] = (
    "accel-bind", "account", "acctg-freq", "bcast", "bcast-exclude", "begin", "bb", "bbf", "cluster-constraint",
    "chdir", "cluster", "clusters", "comment", "compress", "container", "context", "contiguous", "constraint",
    "core-spec", "cores-per-socket", "cpu-bind", "cpu_bind", "cpu-freq", "cpus-per-gpu", "cpus-per-task", "deadline",
    "debugger-test", "delay-boot", "dependency", "disable-status", "distribution", "epilog", "error", "exact",
    "exclude", "exclusive", "export", "extra-node-info", "gid", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node",
    "gpus-per-socket", "gpus-per-task", "gres", "gres-flags", "help", "het-group", "hint", "hold", "immediate",
    "input", "interactive", "jobid", "job-name", "kill-on-bad-exit", "label", "licenses", "mail-type", "mail-user",
    "threads", "mcs-label", "mem", "mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus", "mpi", "msg-timeout",
    "multi-prog", "network", "nice", "no-allocate", "no-kill", "nodefile", "nodelist", "nodes", "ntasks",
    "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket", "ntasks-per-tres", "open-mode",
    "output", "overcommit", "overlap", "oversubscribe", "pack-group", "partition", "power", "prefer",
    "preserve-env", "priority", "profile", "prolog", "propagate", "pty", "qos", "quiet", "quit-on-interrupt",
    "reboot", "relative", "reservation", "resv-ports", "send-libs", "signal", "slurmd-debug", "sockets-per-node",
    "spread-job", "switches", "task-epilog", "task-prolog", "tasks-per-node", "test-only", "thread-spec",
    "threads-per-core", "time", "time-min", "tmp", "uid", "unbuffered", "use-min-nodes", "verbose", "version",
    "usage", "wait", "wckey", "whole", "x11", "container-image", "container-mounts", "container-workdir",
)

SPEC = CommandSpec(
    name="srun",
    options=OPTIONS,
    usage_line="srun [OPTIONS(0)... [executable(0) [args(0)...]]] [ : [OPTIONS(N)...]] executable(N) [args(N)...]",
    positional="executable [args...]",
    stops_at_first_positional=True,
    summary="run parallel tasks as a job step (inside a job) or as a job of their own",
    groups=(RUN, CONS, CR, AFF, GPU, EXT, HELP, OTHER),
    bad_option_exit=255,
    try_help=True,
    help_col=30,
    getopt_order=GETOPT_ORDER,
)

# srun's input environment variables (srun(1) "INPUT ENVIRONMENT VARIABLES") and the option each sets
INPUT_ENV: dict[str, str] = {
    "SLURM_ACCOUNT": "account", "SLURM_CPU_BIND": "cpu-bind", "SLURM_CPUS_PER_GPU": "cpus-per-gpu",
    "SLURM_DEPENDENCY": "dependency", "SLURM_DISTRIBUTION": "distribution", "SLURM_EXCLUSIVE": "exclusive",
    "SLURM_EXPORT_ENV": "export", "SLURM_GPUS": "gpus", "SLURM_GPUS_PER_NODE": "gpus-per-node",
    "SLURM_GPUS_PER_TASK": "gpus-per-task", "SLURM_GRES": "gres", "SLURM_JOB_NAME": "job-name",
    "SLURM_KILL_BAD_EXIT": "kill-on-bad-exit", "SLURM_LABELIO": "label", "SLURM_MEM_PER_CPU": "mem-per-cpu",
    "SLURM_MEM_PER_GPU": "mem-per-gpu", "SLURM_MEM_PER_NODE": "mem", "SLURM_MPI_TYPE": "mpi",
    "SLURM_NTASKS_PER_NODE": "ntasks-per-node", "SLURM_OPEN_MODE": "open-mode", "SLURM_OVERLAP": "overlap",
    "SLURM_PARTITION": "partition", "SLURM_QOS": "qos", "SLURM_TIMELIMIT": "time", "SLURM_UNBUFFEREDIO": "unbuffered",
    "SLURM_WAIT": "wait", "SLURM_WCKEY": "wckey", "SLURM_WORKING_DIR": "chdir",
    "SLURM_STDERRMODE": "error", "SLURM_STDINMODE": "input", "SLURM_STDOUTMODE": "output",
    "SLURM_NTASKS": "ntasks", "SLURM_NPROCS": "ntasks", "SLURM_NNODES": "nodes", "SRUN_CPUS_PER_TASK": "cpus-per-task",
}
# Inside an allocation these describe the job, not the step: srun(1) ignores them there.
JOB_ONLY_ENV = frozenset({"SLURM_JOB_NAME", "SLURM_NNODES", "SLURM_MEM_PER_CPU", "SLURM_MEM_PER_NODE", "SLURM_GPUS",
                          "SLURM_GPUS_PER_NODE", "SLURM_PARTITION", "SLURM_QOS", "SLURM_ACCOUNT", "SLURM_TIMELIMIT"})
