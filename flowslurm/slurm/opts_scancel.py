"""The scancel option table (SLURM 22.05), in --help order, with SLURM's getopt table order.

scancel permutes its arguments, so job ids may come before options (`scancel 12 -s USR2`).
Bad options exit 1. SLURM 22.05 scancel has no -c/--cron (that came later).
"""

from __future__ import annotations

from flowslurm.slurm.options import CLUSTER, HELP, NO_FED, VIEW, CommandSpec, Option, row_maker, support

N, R, OPT = "none", "required", "optional"

SIGNAL = support("honoured", "emulated", "", "delivered over SSH")


_o = row_maker(VIEW)


OPTIONS: tuple[Option, ...] = (
    _o("account", "A", R, "account", "only jobs charged to this account"),
    _o("batch", "b", N, "", "signal only the batch shell of the job", SIGNAL,
       action="store_true"),
    _o("ctld", None, N, "", "send the request through the controller",
       support("ignored", "ignored", "requests always go through the flowslurm engine"),
       action="store_true"),
    _o("full", "f", N, "", "signal the batch shell and every step of the job", SIGNAL,
       action="store_true"),
    _o("hurry", "H", N, "", "skip burst buffer stage-out",
       support("ignored", "ignored", "no burst buffers on this backend"), action="store_true"),
    _o("interactive", "i", N, "", "ask before cancelling each job", action="store_true"),
    _o("clusters", "M", R, "names", "clusters to send the request to", CLUSTER,
       aliases=("cluster",)),
    _o("me", None, N, "", "only my own jobs", action="store_true"),
    _o("name", "n", R, "job_name", "only jobs with this name", aliases=("jobname",)),
    _o("partition", "p", R, "partition", "only jobs in this partition"),
    _o("quiet", "Q", N, "", "do not warn about jobs that are already gone",
       action="store_true"),
    _o("qos", "q", R, "qos", "only jobs with this quality of service"),
    _o("reservation", "R", R, "reservation", "only jobs in this reservation"),
    _o("sibling", None, R, "cluster_name", "remove one sibling of a federated job", NO_FED),
    _o("signal", "s", R, "name|number", "send this signal instead of cancelling", SIGNAL),
    _o("state", "t", R, "states", "only jobs in these states (PENDING, RUNNING, SUSPENDED)"),
    _o("user", "u", R, "user_name", "only jobs of this user"),
    _o("version", "V", N, "", "show the version and exit", action="store_true",
       immediate=True),
    _o("verbose", "v", N, "", "print more messages", action="count"),
    _o("nodelist", "w", R, "hosts", "only jobs running on these nodes"),
    _o("wckey", None, R, "wckey", "only jobs with this wckey"),
    _o("help", None, N, "", "show this help and exit", group=HELP, action="store_true",
       immediate=True),
    _o("usage", None, N, "", "show a short usage summary and exit", group=HELP,
       action="store_true", immediate=True),
)

# SLURM 22.05's long_options[] order (src/scancel/opt.c).
GETOPT_ORDER: tuple[str, ...] = (
    "account", "batch", "ctld", "full", "help", "hurry", "interactive", "cluster", "clusters",
    "jobname", "me", "name", "nodelist", "partition", "qos", "quiet", "reservation", "sibling",
    "signal", "state", "usage", "user", "verbose", "version", "wckey",
)

SPEC = CommandSpec(
    name="scancel",
    options=OPTIONS,
    usage_line="scancel [OPTIONS] [job_id[_array_id][.step_id]]",
    positional="[job_id[_array_id][.step_id]]",
    stops_at_first_positional=False,
    summary="cancel or signal flowslurm jobs",
    groups=("", HELP),
    bad_option_exit=1,
    try_help=True,
    help_col=34,
    getopt_order=GETOPT_ORDER,
)
