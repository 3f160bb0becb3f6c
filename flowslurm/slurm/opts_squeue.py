"""The squeue option table (SLURM 22.05), in --help order, with SLURM's getopt table order.

squeue permutes its arguments like GNU getopt; a leftover word becomes the job list when -j was
given without a value (`squeue -j 12`), or the step list after -s. Bad options exit 1.
Note that 22.05 squeue has no --helpformat (the golden transcripts show it is refused).
"""

from __future__ import annotations

from flowslurm.slurm.options import CLUSTER, HELP, NO_FED, VIEW, CommandSpec, Option, row_maker, support

N, R, OPT = "none", "required", "optional"


_o = row_maker(VIEW)


OPTIONS: tuple[Option, ...] = (
    _o("accounts", "A", R, "account(s)", "only jobs charged to these accounts",
       short_aliases=("U",)),
    _o("all", "a", N, "", "include jobs in hidden partitions", action="store_true"),
    _o("array-unique", None, N, "", "one line per unique pending array element",
       action="store_true"),
    _o("federation", None, N, "", "show jobs of the whole federation", NO_FED,
       action="store_true"),
    _o("noheader", "h", N, "", "do not print the header line", action="store_true"),
    _o("hide", None, N, "", "leave out jobs in hidden partitions", action="store_true"),
    _o("iterate", "i", R, "seconds", "print the listing again every so many seconds"),
    _o("jobs", "j", OPT, "job(s)", "only these job ids (comma separated)"),
    _o("json", None, N, "", "print the listing as JSON", action="store_true"),
    _o("local", None, N, "", "only jobs of the local cluster", NO_FED, action="store_true"),
    _o("long", "l", N, "", "show more columns", action="store_true"),
    _o("licenses", "L", R, "names", "only jobs using these licenses"),
    _o("clusters", "M", R, "cluster_name", "clusters to ask", CLUSTER, aliases=("cluster",)),
    _o("me", None, N, "", "only my own jobs", action="store_true"),
    _o("name", "n", R, "job_name(s)", "only jobs with these names"),
    _o("noconvert", None, N, "", "print sizes in their stored unit", action="store_true"),
    _o("format", "o", R, "format", "columns given as %-codes"),
    _o("Format", "O", R, "format", "columns given by field name", dest="format_long"),
    _o("partitions", "p", R, "partition(s)", "only jobs in these partitions"),
    _o("priority", "P", N, "", "one line per partition a job is pending in, by priority",
       action="store_true"),
    _o("qos", "q", R, "qos(s)", "only jobs with these qualities of service"),
    _o("reservation", "R", R, "name", "only jobs in this reservation"),
    _o("array", "r", N, "", "one line per array task", action="store_true"),
    _o("sibling", None, N, "", "show sibling jobs of a federation", NO_FED,
       action="store_true", aliases=("sib",)),
    _o("steps", "s", OPT, "step(s)", "list job steps instead of jobs"),
    _o("sort", "S", R, "fields", "sort by these fields"),
    _o("start", None, N, "", "show the expected start time of pending jobs",
       support("emulated", "emulated", "estimated from the current queue"),
       action="store_true"),
    _o("states", "t", R, "states", "only jobs in these states ('all' for every state)"),
    _o("user", "u", R, "user_name(s)", "only jobs of these users", aliases=("users",)),
    _o("verbose", "v", N, "", "print more messages", action="count"),
    _o("version", "V", N, "", "show the version and exit", action="store_true",
       immediate=True),
    _o("nodelist", "w", R, "hostlist", "only jobs on these nodes", aliases=("node", "nodes")),
    _o("yaml", None, N, "", "print the listing as YAML", action="store_true"),
    _o("help", None, N, "", "show this help and exit", group=HELP, action="store_true",
       immediate=True),
    _o("usage", None, N, "", "show a short usage summary and exit", group=HELP,
       action="store_true", immediate=True),
)

# SLURM 22.05's long_options[] order (src/squeue/opts.c).
GETOPT_ORDER: tuple[str, ...] = (
    "accounts", "all", "array", "array-unique", "Format", "format", "federation", "help",
    "hide", "iterate", "jobs", "local", "long", "licenses", "cluster", "clusters", "me", "name",
    "noconvert", "node", "nodes", "nodelist", "noheader", "partitions", "priority", "qos",
    "reservation", "sib", "sibling", "sort", "start", "steps", "states", "usage", "user",
    "users", "verbose", "version", "json", "yaml",
)

SPEC = CommandSpec(
    name="squeue",
    options=OPTIONS,
    usage_line="squeue [OPTIONS]",
    positional="",
    stops_at_first_positional=False,
    summary="show the jobs in the flowslurm queue",
    groups=("", HELP),
    bad_option_exit=1,
    try_help=True,
    help_col=34,
    getopt_order=GETOPT_ORDER,
)
