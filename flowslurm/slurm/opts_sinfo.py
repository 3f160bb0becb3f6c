"""The sinfo option table (SLURM 22.05), in --help order, with SLURM's getopt table order.

sinfo permutes its arguments; it takes no positional words. Bad options exit 1.
"""

from __future__ import annotations

from flowslurm.slurm.options import CLUSTER, HELP, NO_FED, VIEW, CommandSpec, Option, row_maker, support

N, R, OPT = "none", "required", "optional"

IGNORED = support("ignored", "ignored", "accepted, no effect")


_o = row_maker(VIEW)


OPTIONS: tuple[Option, ...] = (
    _o("all", "a", N, "", "show all partitions, hidden ones too", action="store_true"),
    _o("dead", "d", N, "", "only nodes that do not respond", action="store_true"),
    _o("exact", "e", N, "", "group only nodes with identical settings", action="store_true"),
    _o("federation", None, N, "", "show the whole federation", NO_FED, action="store_true"),
    _o("noheader", "h", N, "", "do not print the header line", action="store_true"),
    _o("hide", None, N, "", "leave out hidden partitions", action="store_true"),
    _o("iterate", "i", R, "seconds", "print the report again every so many seconds", IGNORED),
    _o("json", None, N, "", "print the report as JSON", IGNORED, action="store_true"),
    _o("local", None, N, "", "only the local cluster", NO_FED, action="store_true"),
    _o("long", "l", N, "", "show more columns", action="store_true"),
    _o("clusters", "M", R, "cluster_name", "clusters to ask", CLUSTER, aliases=("cluster",)),
    _o("nodes", "n", R, "nodes", "only these nodes"),
    _o("noconvert", None, N, "", "print sizes in their stored unit", action="store_true"),
    _o("Node", "N", N, "", "one line per node", action="store_true", dest="node_oriented"),
    _o("format", "o", R, "format", "columns given as %-codes"),
    _o("Format", "O", R, "format", "columns given by field name", dest="format_long"),
    _o("partition", "p", R, "partition", "only these partitions", aliases=("partitions",)),
    _o("responding", "r", N, "", "only nodes that respond", action="store_true"),
    _o("list-reasons", "R", N, "", "list why nodes are down or drained", action="store_true"),
    _o("summarize", "s", N, "", "one summary line per partition", action="store_true"),
    _o("sort", "S", R, "sort_list", "sort by these fields", IGNORED),
    _o("states", "t", R, "node_state", "only nodes in these states", aliases=("state",)),
    _o("reservation", "T", N, "", "show reservations", action="store_true"),
    _o("verbose", "v", N, "", "print more messages", action="count"),
    _o("version", "V", N, "", "show the version and exit", action="store_true", immediate=True),
    _o("yaml", None, N, "", "print the report as YAML", IGNORED, action="store_true"),
    _o("help", None, N, "", "show this help and exit", group=HELP, action="store_true", immediate=True),
    _o("usage", None, N, "", "show a short usage summary and exit", group=HELP, action="store_true",
       immediate=True),
)

# SLURM 22.05's long_options[] order (src/sinfo/opts.c).
GETOPT_ORDER: tuple[str, ...] = (
    "all", "dead", "exact", "federation", "noheader", "iterate", "local", "long", "cluster", "clusters",
    "nodes", "Node", "format", "Format", "partition", "partitions", "responding", "list-reasons",
    "summarize", "sort", "states", "state", "reservation", "verbose", "version", "help", "hide", "usage",
    "noconvert", "json", "yaml",
)

SPEC = CommandSpec(
    name="sinfo",
    options=OPTIONS,
    usage_line="sinfo [OPTIONS]",
    positional="",
    stops_at_first_positional=False,
    summary="show the partition and node of the local backend",
    groups=("", HELP),
    bad_option_exit=1,
    try_help=True,
    help_col=34,
    getopt_order=GETOPT_ORDER,
)
