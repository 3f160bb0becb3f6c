"""The scontrol option table (SLURM 22.05), in --help order.

scontrol permutes its arguments, so options may follow the command words
(`scontrol show partition debug -o`). Bad options exit 1.
"""

from __future__ import annotations

from flowslurm.slurm.options import CLUSTER, HELP, NO_FED, VIEW, CommandSpec, Option, row_maker, support

N, R, OPT = "none", "required", "optional"

IGNORED = support("ignored", "ignored", "accepted, no effect")


_o = row_maker(VIEW)


OPTIONS: tuple[Option, ...] = (
    _o("all", "a", N, "", "also show hidden partitions and their jobs", action="store_true"),
    _o("details", "d", N, "", "show more details (DerivedExitCode, allocated CPUs)", action="count"),
    _o("federation", None, N, "", "report federated information", NO_FED, action="store_true"),
    _o("future", "F", N, "", "also show nodes in the FUTURE state", IGNORED, action="store_true"),
    _o("hide", None, N, "", "leave out hidden partitions and their jobs", action="store_true"),
    _o("json", None, N, "", "print the records as JSON", IGNORED, action="store_true"),
    _o("local", None, N, "", "only the local cluster", NO_FED, action="store_true"),
    _o("clusters", "M", R, "cluster_name", "cluster to work with", CLUSTER, aliases=("cluster",)),
    _o("oneliner", "o", N, "", "print each record on one line", action="store_true"),
    _o("quiet", "Q", N, "", "print no error messages", action="store_true"),
    _o("sibling", None, N, "", "show sibling jobs of a federation", NO_FED, action="store_true"),
    _o("uid", "u", R, "uid", "act as this user id", IGNORED),
    _o("verbose", "v", N, "", "print more messages", action="count"),
    _o("version", "V", N, "", "show the version and exit", action="store_true", immediate=True),
    _o("yaml", None, N, "", "print the records as YAML", IGNORED, action="store_true"),
    _o("help", "h", N, "", "show this help and exit", group=HELP, action="store_true", immediate=True),
    _o("usage", None, N, "", "show a short usage summary and exit", group=HELP, action="store_true",
       immediate=True),
)

# SLURM 22.05's long_options[] order (src/scontrol/scontrol.c).
GETOPT_ORDER: tuple[str, ...] = (
    "all", "cluster", "clusters", "details", "federation", "future", "help", "hide", "json", "local",
    "oneliner", "quiet", "sibling", "uid", "usage", "verbose", "version", "yaml",
)

SPEC = CommandSpec(
    name="scontrol",
    options=OPTIONS,
    usage_line="scontrol [OPTIONS] COMMAND [ARGUMENTS]",
    positional="COMMAND [ARGUMENTS]",
    stops_at_first_positional=False,
    summary="view and change jobs, partitions, nodes and configuration",
    groups=("", HELP),
    bad_option_exit=1,
    try_help=True,
    help_col=34,
    getopt_order=GETOPT_ORDER,
)
