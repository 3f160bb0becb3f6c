"""The sbatch option table: every option of SLURM 22.05 sbatch plus flowslurm's container options.

`SPEC.options` is in --help order (grouped as SLURM's help groups them); `SPEC.getopt_order`
is the order of SLURM's own getopt table, which decides how an ambiguous prefix is reported.
The same table parses #SBATCH directive words (with the same errors).
"""

from __future__ import annotations

from flowslurm.slurm.options import CommandSpec, Option, Support, support

N, R, OPT = "none", "required", "optional"

# Support presets: (local, mithril).
BOTH = support("honoured", "honoured")
RECORDED = support("honoured", "honoured", "recorded and shown by squeue/sacct, not enforced")
SIZING = support("honoured", "emulated", "", "used to choose the instance type")
NO_EFFECT = support("ignored", "ignored", "accepted; no effect on this backend")
ONE_NODE = support("ignored", "ignored", "accepted; one node per job, so no effect")
NO_BINDING = support("ignored", "ignored", "accepted; tasks are not bound to CPUs/memory/GPUs")
NO_MAIL = support("warned", "warned", "accepted; no mail is sent")
FILES = support("honoured", "emulated", "", "written on the instance and fetched back")
ENV = support("honoured", "emulated", "", "variables are sent to the instance")
NODES = support("warned", "ignored", "only this host exists", "instances are not named nodes")
# Accepted, but the local engine does not act on them yet: users get a warning, never silence.
NOT_YET = support("warned", "warned", "not implemented yet")
ROOT_ONLY = support("refused", "refused", "running as another user is not supported")
# pyxis's container options (shared by sbatch, srun and salloc): on the local backend podman or docker
# runs the script or tasks in the image (flowslurm/providers/local/container.py, docs/containers.md).
EXTENSION = support("emulated", "refused", "flowslurm extension (pyxis spelling): runs in podman or docker on this machine",
                    "flowslurm extension (pyxis spelling); containers are not available on this backend yet")
CLUSTER = support("emulated", "emulated", "only the local cluster exists; its own name is accepted")

RUN, CONS, CR, AFF, GPU, HELP, OTHER, EXT = (
    "Parallel run options",
    "Constraint options",
    "Consumable resources related options",
    "Affinity/Multi-core options",
    "GPU scheduling options",
    "Help options",
    "Other options",
    "Container options (flowslurm extensions)",
)


def _o(
    long: str,
    short: str | None,
    arg: str,
    meta: str,
    text: str,
    sup: dict[str, Support],
    group: str,
    **kw: object,
) -> Option:
    """Shorthand for one table row."""
    return Option(
        long, short, arg, meta, text, support=sup, group=group, **kw  # type: ignore[arg-type]
    )


OPTIONS: tuple[Option, ...] = (
    # ---- parallel run options
    _o("array", "a", R, "indexes", "submit a job array with these task indexes", BOTH, RUN),
    _o("account", "A", R, "name", "charge the job to this account", RECORDED, RUN),
    _o("acctg-freq", None, R, "type=secs", "how often to sample usage for accounting",
       support("ignored", "ignored", "no usage sampling yet"), RUN),
    _o("batch", None, R, "features", "node features the batch step must run on", NO_EFFECT, RUN),
    _o("bb", None, R, "spec", "burst buffer request",
       support("refused", "refused", "no burst buffers on this backend"), RUN),
    _o("bbf", None, R, "file_name", "file holding a burst buffer request",
       support("refused", "refused", "no burst buffers on this backend"), RUN),
    _o("begin", "b", R, "time", "keep the job pending until this time", BOTH, RUN),
    _o("comment", None, R, "text", "free text stored with the job", RECORDED, RUN),
    _o("container", None, R, "path", "run the job inside this OCI bundle",
       support("refused", "refused", "containers are not available yet"), RUN),
    _o("cpu-freq", None, R, "min[-max[:gov]]", "ask for a CPU frequency or governor",
       NO_EFFECT, RUN),
    _o("cpus-per-task", "c", R, "ncpus", "CPUs for each task", SIZING, RUN),
    _o("dependency", "d", R, "type:jobid[:jobid]", "start only when these jobs reach a state",
       BOTH, RUN),
    _o("deadline", None, R, "time", "cancel the job if it cannot end before this time",
       BOTH, RUN),
    _o("delay-boot", None, R, "mins", "wait this long before rebooting nodes for features",
       NO_EFFECT, RUN),
    _o("chdir", "D", R, "directory", "working directory of the batch script", FILES, RUN),
    _o("error", "e", R, "pattern", "file for the script's standard error", FILES, RUN),
    _o("export", None, R, "names", "which environment variables the job receives", ENV, RUN),
    _o("export-file", None, R, "file|fd", "read extra environment variables from here",
       ENV, RUN),
    _o("get-user-env", None, OPT, "timeout", "start from the user's login environment",
       support("emulated", "ignored", "taken from the submitting environment"), RUN),
    _o("gid", None, R, "group", "run the job as this group (root only)", ROOT_ONLY, RUN),
    _o("gres", None, R, "list", "generic resources needed, e.g. gpu:2",
       support("honoured", "honoured", "gpu is honoured; other kinds are recorded"), RUN),
    _o("gres-flags", None, R, "type", "GRES binding policy", NO_BINDING, RUN),
    _o("hold", "H", N, "", "submit the job held until released", BOTH, RUN,
       action="store_true"),
    _o("ignore-pbs", None, N, "", "do not read #PBS or #BSUB lines in the script", BOTH, RUN,
       action="store_true"),
    _o("input", "i", R, "pattern", "file connected to the script's standard input", FILES, RUN),
    _o("job-name", "J", R, "name", "name of the job", BOTH, RUN),
    _o("kill-on-invalid-dep", None, R, "yes|no", "cancel the job if a dependency can never hold",
       BOTH, RUN),
    _o("no-kill", "k", OPT, "off", "keep the job alive if one of its nodes fails",
       NO_EFFECT, RUN),
    _o("licenses", "L", R, "names", "licenses the job needs",
       support("ignored", "ignored", "accepted and recorded; licenses are not counted"), RUN),
    _o("clusters", "M", R, "names", "submit to these clusters", CLUSTER, RUN),
    _o("distribution", "m", R, "type", "how tasks are laid out over nodes and sockets",
       NO_BINDING, RUN),
    _o("mail-type", None, R, "type", "job events that send mail", NO_MAIL, RUN),
    _o("mail-user", None, R, "user", "who receives job mail", NO_MAIL, RUN),
    _o("mcs-label", None, R, "mcs", "MCS label of the job", NO_EFFECT, RUN),
    _o("ntasks", "n", R, "ntasks", "number of tasks to launch", SIZING, RUN),
    _o("nice", None, OPT, "value", "lower the job's priority by this much",
       support("honoured", "honoured", "orders pending jobs"), RUN),
    _o("no-requeue", None, N, "", "never requeue the job", BOTH, RUN, action="store_false", dest="requeue"),
    _o("ntasks-per-node", None, R, "n", "tasks on each node", SIZING, RUN,
       aliases=("tasks-per-node",)),
    _o("nodes", "N", R, "min[-max]", "number of nodes",
       support("emulated", "emulated", "one node; more stays pending as on a full cluster",
               "one instance per node"), RUN),
    _o("output", "o", R, "pattern", "file for the script's standard output", FILES, RUN),
    _o("open-mode", None, R, "append|truncate", "how output files are opened", FILES, RUN),
    _o("overcommit", "O", N, "", "allow more tasks than CPUs", NO_EFFECT, RUN,
       action="store_true"),
    _o("partition", "p", R, "names", "partition to run in",
       support("honoured", "honoured", "partitions come from the flowslurm configuration",
               "a partition names an instance type"), RUN),
    _o("parsable", None, N, "", "print only 'jobid[;cluster]' after submitting", BOTH, RUN,
       action="store_true"),
    _o("power", None, R, "flags", "power management flags", NO_EFFECT, RUN),
    _o("prefer", None, R, "list", "node features preferred but not required", NO_EFFECT, RUN),
    _o("priority", None, R, "value", "set the job's priority",
       support("honoured", "honoured", "orders pending jobs"), RUN),
    _o("profile", None, R, "types", "detailed profiling to collect", NO_EFFECT, RUN),
    _o("propagate", None, OPT, "rlimits", "copy these resource limits to the job",
       support("ignored", "ignored", "jobs run with the engine's resource limits",
               "instances use their own limits"), RUN),
    _o("qos", "q", R, "qos", "quality of service", RECORDED, RUN),
    _o("quiet", "Q", N, "", "print fewer messages", BOTH, RUN, action="store_true"),
    _o("reboot", None, N, "", "reboot the nodes before the job starts",
       support("ignored", "emulated", "this host is never rebooted",
               "every job gets a fresh instance"),
       RUN, action="store_true"),
    _o("requeue", None, N, "", "allow the job to be requeued", BOTH, RUN, action="store_true"),
    _o("oversubscribe", "s", N, "", "let the job share resources with other jobs",
       support("ignored", "ignored", "resources are never oversubscribed"), RUN,
       action="store_true"),
    _o("core-spec", "S", R, "cores", "cores kept back for the system", NO_EFFECT, RUN),
    _o("signal", None, R, "[R|B:]sig[@secs]", "send a signal this long before the time limit",
       support("honoured", "warned", "sent once, secs before the (possibly updated) time limit; "
               "R: has no effect, there are no reservations", "not implemented yet"), RUN),
    _o("spread-job", None, N, "", "spread the job over as many nodes as possible", ONE_NODE, RUN,
       action="store_true"),
    _o("switches", None, R, "count[@time]", "wanted number of leaf switches", ONE_NODE, RUN),
    _o("test-only", None, N, "", "say when the job would start, but do not submit it",
       support("emulated", "emulated", "the estimate assumes the queue as it is now"), RUN,
       action="store_true"),
    _o("thread-spec", None, R, "threads", "threads kept back for the system", NO_EFFECT, RUN),
    _o("time", "t", R, "time", "time limit of the job", BOTH, RUN),
    _o("time-min", None, R, "time", "smallest acceptable time limit",
       support("ignored", "ignored", "recorded; the limit is never shortened"), RUN),
    _o("uid", None, R, "user", "run the job as this user (root only)", ROOT_ONLY, RUN),
    _o("use-min-nodes", None, N, "", "prefer the smaller node count of a range", ONE_NODE, RUN,
       action="store_true"),
    _o("verbose", "v", N, "", "print more messages (repeat for more)", BOTH, RUN,
       action="count"),
    _o("wait", "W", N, "", "wait for the job to end and exit with its status", BOTH, RUN,
       action="store_true"),
    _o("wait-all-nodes", None, R, "0|1", "start only when every node is booted", ONE_NODE, RUN),
    _o("wckey", None, R, "wckey", "workload characterisation key", RECORDED, RUN),
    _o("wrap", None, R, "command", "submit this command line as a small sh script", BOTH, RUN),
    # ---- constraints
    _o("cluster-constraint", None, R, "[!]list", "features the cluster must have", NO_EFFECT,
       CONS),
    _o("contiguous", None, N, "", "nodes must be contiguous", ONE_NODE, CONS,
       action="store_true"),
    _o("constraint", "C", R, "list", "node features the job needs",
       support("ignored", "emulated", "this host has no features",
               "matched against instance-type features"), CONS),
    _o("nodefile", "F", R, "file", "file listing the nodes to use", NODES, CONS),
    _o("mem", None, R, "size[units]", "memory per node",
       support("honoured", "emulated", "limited and accounted", "used to choose the instance type"),
       CONS),
    _o("mincpus", None, R, "n", "at least this many CPUs per node", SIZING, CONS),
    _o("network", None, R, "type", "network or switch settings", NO_EFFECT, CONS),
    _o("reservation", None, R, "names", "run inside these reservations",
       support("refused", "refused", "no reservations exist on this backend"), CONS),
    _o("tmp", None, R, "size[units]", "temporary disk space per node",
       support("ignored", "emulated", "not checked", "used to size the instance disk"), CONS),
    _o("nodelist", "w", R, "hosts", "run on exactly these nodes", NODES, CONS),
    _o("exclude", "x", R, "hosts", "never run on these nodes", NODES, CONS),
    # ---- consumable resources
    _o("exclusive", None, OPT, "user|mcs", "do not share nodes with other jobs",
       support("emulated", "honoured", "the job runs alone on this machine",
               "each job has its own instance anyway"), CR),
    _o("mem-per-cpu", None, R, "size[units]", "memory for each allocated CPU",
       support("honoured", "emulated", "limited and accounted", "used to choose the instance type"),
       CR),
    # ---- affinity / multi-core
    _o("sockets-per-node", None, R, "S", "sockets per node", ONE_NODE, AFF),
    _o("cores-per-socket", None, R, "C", "cores per socket", ONE_NODE, AFF),
    _o("threads-per-core", None, R, "T", "hardware threads per core", ONE_NODE, AFF),
    _o("extra-node-info", "B", R, "S[:C[:T]]", "sockets, cores and threads in one option",
       ONE_NODE, AFF),
    _o("hint", None, R, "type", "hint for task layout (compute_bound, nomultithread...)",
       NO_BINDING, AFF),
    _o("mem-bind", None, R, "type", "bind tasks to memory", NO_BINDING, AFF),
    _o("ntasks-per-core", None, R, "n", "tasks on each core", NO_BINDING, AFF),
    _o("ntasks-per-socket", None, R, "n", "tasks on each socket", NO_BINDING, AFF),
    # ---- GPUs
    _o("cpus-per-gpu", None, R, "n", "CPUs for each allocated GPU", SIZING, GPU),
    _o("gpus", "G", R, "[type:]n", "GPUs for the whole job",
       support("honoured", "honoured", "CUDA_VISIBLE_DEVICES set from this host's GPUs",
               "chooses a GPU instance"), GPU),
    _o("gpu-bind", None, R, "type", "bind tasks to GPUs", NO_BINDING, GPU),
    _o("gpu-freq", None, R, "spec", "ask for GPU clock settings", NO_EFFECT, GPU),
    _o("gpus-per-node", None, R, "[type:]n", "GPUs on each node", SIZING, GPU),
    _o("gpus-per-socket", None, R, "[type:]n", "GPUs on each socket", NOT_YET, GPU),
    _o("gpus-per-task", None, R, "[type:]n", "GPUs for each task", SIZING, GPU),
    _o("mem-per-gpu", None, R, "size[units]", "memory for each allocated GPU", SIZING, GPU),
    _o("ntasks-per-gpu", None, R, "n", "tasks for each GPU", NOT_YET, GPU),
    # ---- help and other
    _o("help", "h", N, "", "show this help and exit", BOTH, HELP, action="store_true",
       immediate=True),
    _o("usage", None, N, "", "show a short usage summary and exit", BOTH, HELP,
       action="store_true", immediate=True),
    _o("version", "V", N, "", "show the version and exit", BOTH, OTHER, action="store_true",
       immediate=True),
    # ---- accepted by SLURM 22.05 but not in its man page
    _o("cluster", None, R, "names", "older spelling of --clusters", CLUSTER, RUN,
       dest="clusters", hidden=True),
    _o("context", None, R, "context", "SELinux context of the job", NO_EFFECT, RUN, hidden=True),
    _o("ntasks-per-tres", None, R, "n", "older spelling of --ntasks-per-gpu", NOT_YET, GPU,
       hidden=True),
    # ---- flowslurm extensions (the spelling of the pyxis plugin)
    _o("container-image", None, R, "image", "run the job in this container image", EXTENSION,
       EXT, extension=True),
    _o("container-mounts", None, R, "src:dst[,...]", "bind mounts for the container", EXTENSION,
       EXT, extension=True),
    _o("container-workdir", None, R, "dir", "working directory inside the container", EXTENSION,
       EXT, extension=True),
)

# SLURM 22.05's getopt table order (src/common/slurm_opt.c), with the extensions appended last
# as a SPANK plugin's options would be. Unlike a SPANK plugin's, they are reached by a prefix only
# when no SLURM option matches it (`--co` and `--conta` behave exactly as in SLURM).
GETOPT_ORDER: tuple[str, ...] = (
    "account", "acctg-freq", "array", "batch", "begin", "bb", "bbf", "cluster-constraint",
    "chdir", "cluster", "clusters", "comment", "container", "context", "contiguous",
    "constraint", "core-spec", "cores-per-socket", "cpu-freq", "cpus-per-gpu", "cpus-per-task",
    "deadline", "delay-boot", "dependency", "distribution", "error", "exclude", "exclusive",
    "export", "export-file", "extra-node-info", "get-user-env", "gid", "gpu-bind", "gpu-freq",
    "gpus", "gpus-per-node", "gpus-per-socket", "gpus-per-task", "gres", "gres-flags", "help",
    "hint", "hold", "ignore-pbs", "input", "job-name", "kill-on-invalid-dep", "licenses",
    "mail-type", "mail-user", "mcs-label", "mem", "mem-bind", "mem-per-cpu", "mem-per-gpu",
    "mincpus", "network", "nice", "no-kill", "no-requeue", "nodefile", "nodelist", "nodes",
    "ntasks", "ntasks-per-core", "ntasks-per-gpu", "ntasks-per-node", "ntasks-per-socket",
    "ntasks-per-tres", "open-mode", "output", "overcommit", "oversubscribe", "parsable",
    "partition", "power", "prefer", "priority", "profile", "propagate", "qos", "quiet",
    "reboot", "requeue", "reservation", "signal", "sockets-per-node", "spread-job", "switches",
    "tasks-per-node", "test-only", "thread-spec", "threads-per-core", "time", "time-min", "tmp",
    "uid", "use-min-nodes", "verbose", "version", "usage", "wait", "wait-all-nodes", "wckey",
    "wrap", "container-image", "container-mounts", "container-workdir",
)

SPEC = CommandSpec(
    name="sbatch",
    options=OPTIONS,
    usage_line="sbatch [OPTIONS(0)...] [ : [OPTIONS(N)...]] script(0) [args(0)...]",
    positional="executable [args...]",
    stops_at_first_positional=True,
    summary="submit a batch script to flowslurm",
    groups=(RUN, CONS, CR, AFF, GPU, EXT, HELP, OTHER),
    bad_option_exit=255,
    try_help=True,
    help_col=30,
    getopt_order=GETOPT_ORDER,
)
