"""The sacct option table (SLURM 22.05), in --help order, with SLURM's getopt table order.

sacct permutes its arguments; leftover words are an error of sacct itself ("Unknown
arguments:"). A bad option prints only glibc's line (no "Try" hint) and exits 1. Only
--version exits at once; --help, --helpformat and --usage take effect after parsing.
"""

from __future__ import annotations

from flowslurm.slurm.options import CLUSTER, NO_FED, VIEW, CommandSpec, Option, row_maker, support

N, R, OPT = "none", "required", "optional"

NOT_STORED = support("refused", "refused", "scripts and environments are not stored")


_o = row_maker(VIEW)


OPTIONS: tuple[Option, ...] = (
    _o("allusers", "a", N, "", "jobs of every user, not only mine", action="store_true"),
    _o("accounts", "A", R, "accounts", "only jobs charged to these accounts"),
    _o("brief", "b", N, "", "short listing: job id, state and exit code", action="store_true"),
    _o("batch-script", "B", N, "", "print the batch script of the selected job",
       support("honoured", "honoured", "the ledger keeps each job's script"),
       action="store_true"),
    _o("completion", "c", N, "", "read job completion records instead of accounting",
       support("emulated", "emulated", "the same ledger serves both"), action="store_true"),
    _o("constraints", "C", R, "list", "only jobs that asked for these features"),
    _o("delimiter", None, R, "chars", "field separator used with -p and -P"),
    _o("duplicates", "D", N, "", "show every record of a reused or requeued job id",
       action="store_true"),
    _o("helpformat", "e", N, "", "list the field names --format accepts", action="store_true",
       aliases=("help-fields",)),
    _o("endtime", "E", R, "time", "only jobs eligible before this time"),
    _o("env-vars", None, N, "", "print the environment the batch script started with",
       NOT_STORED, action="store_true"),
    _o("federation", None, N, "", "report jobs of the whole federation", NO_FED,
       action="store_true"),
    _o("file", "f", R, "file", "read a jobcomp/filetxt log instead",
       support("refused", "refused", "there is no job completion log file"),),
    _o("flags", "F", R, "flags", "extra selection flags"),
    _o("gid", "g", R, "groups", "only jobs of these groups", aliases=("group",)),
    _o("help", "h", N, "", "show this help", action="store_true"),
    _o("nnodes", "i", R, "min[-max]", "only jobs that ran on this many nodes"),
    _o("ncpus", "I", R, "min[-max]", "only jobs that ran on this many CPUs"),
    _o("jobs", "j", R, "job(.step)", "only these jobs or steps"),
    _o("json", None, N, "", "print the records as JSON", action="store_true"),
    _o("timelimit-min", "k", R, "time", "only jobs with at least this time limit"),
    _o("timelimit-max", "K", R, "time", "with -k: only jobs with at most this time limit"),
    _o("local", None, N, "", "only jobs of the local cluster", NO_FED, action="store_true"),
    _o("long", "l", N, "", "show the long list of fields", action="store_true"),
    _o("allclusters", "L", N, "", "jobs of all clusters", CLUSTER, action="store_true"),
    _o("clusters", "M", R, "names", "only jobs of these clusters", CLUSTER,
       aliases=("cluster",)),
    _o("noheader", "n", N, "", "do not print the header lines", action="store_true"),
    _o("noconvert", None, N, "", "print sizes in their stored unit", action="store_true"),
    _o("nodelist", "N", R, "hosts", "only jobs that ran on these nodes"),
    _o("name", None, R, "names", "only jobs with these names"),
    _o("format", "o", R, "fields", "comma separated fields to print (see --helpformat)",
       aliases=("fields",)),
    _o("parsable", "p", N, "", "'|'-separated output with a trailing '|'",
       action="store_true"),
    _o("parsable2", "P", N, "", "'|'-separated output without a trailing '|'",
       action="store_true"),
    _o("qos", "q", R, "qos", "only jobs with these qualities of service"),
    _o("partition", "r", R, "names", "only jobs in these partitions"),
    # 22.05 maps --reason to 'R' but leaves R out of its short option string: -R is invalid.
    _o("reason", None, R, "reasons", "only jobs pending for these reasons"),
    _o("state", "s", R, "states", "only jobs in these states"),
    _o("starttime", "S", R, "time", "only jobs eligible after this time"),
    _o("truncate", "T", N, "", "clip start and end times to the --starttime/--endtime window",
       action="store_true"),
    _o("user", "u", R, "users", "only jobs of these users", aliases=("uid",)),
    _o("units", None, R, "K|M|G|T|P", "print sizes in this unit"),
    _o("use-local-uid", None, N, "", "resolve user names with this machine's uids",
       action="store_true"),
    _o("usage", "U", N, "", "show a short usage summary", action="store_true"),
    _o("verbose", "v", N, "", "print more messages", action="count"),
    _o("version", "V", N, "", "show the version and exit", action="store_true",
       immediate=True),
    _o("wckeys", "W", R, "wckeys", "only jobs with these wckeys"),
    _o("whole-hetjob", None, OPT, "yes|no", "include every component of a heterogeneous job",
       support("honoured", "honoured", "there are no heterogeneous jobs")),
    _o("associations", "x", R, "ids", "only jobs of these association ids"),
    _o("allocations", "X", N, "", "only the jobs, not their steps", action="store_true",
       short_aliases=("t",)),
    _o("yaml", None, N, "", "print the records as YAML", action="store_true"),
)

# SLURM 22.05's long_options[] order (src/sacct/options.c).
GETOPT_ORDER: tuple[str, ...] = (
    "allusers", "accounts", "allocations", "brief", "batch-script", "completion",
    "constraints", "delimiter", "duplicates", "federation", "helpformat", "help-fields",
    "endtime", "env-vars", "file", "flags", "gid", "group", "help", "local", "name", "nnodes",
    "ncpus", "jobs", "timelimit-min", "timelimit-max", "long", "allclusters", "cluster",
    "clusters", "nodelist", "noconvert", "units", "noheader", "fields", "format", "parsable",
    "parsable2", "qos", "partition", "reason", "state", "starttime", "truncate", "uid",
    "use-local-uid", "usage", "user", "verbose", "version", "wckeys", "whole-hetjob",
    "associations", "json", "yaml",
)

SPEC = CommandSpec(
    name="sacct",
    options=OPTIONS,
    usage_line="sacct [<OPTION>]",
    positional="",
    stops_at_first_positional=False,
    summary="show accounting records of flowslurm jobs",
    bad_option_exit=1,
    try_help=False,
    help_style="sacct",
    getopt_order=GETOPT_ORDER,
)
