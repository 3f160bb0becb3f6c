"""Tests of the option tables and the getopt_long-compatible parser (flowslurm.slurm.options).

Error texts are checked against the golden transcripts of real SLURM 22.05 where they exist,
and otherwise against outputs recorded from the real 22.05.8 client binaries (Debian
slurm-client 22.05.8-4+deb12u3), quoted literally below.
"""

from __future__ import annotations

import random
import re
import shlex

import pytest

from flowslurm.errors import SlurmInputError
from flowslurm.slurm import opts_sacct, opts_sbatch, opts_scancel, opts_squeue
from flowslurm.slurm.options import (
    BACKENDS,
    SUPPORT_LEVELS,
    CommandSpec,
    Option,
    ParsedArgs,
    parse_args,
)
from flowslurm.slurm.optdocs import render_help, render_man, render_usage, support_matrix
from tests.cli.golden import GOLDEN

SPECS: dict[str, CommandSpec] = {
    "sbatch": opts_sbatch.SPEC,
    "squeue": opts_squeue.SPEC,
    "sacct": opts_sacct.SPEC,
    "scancel": opts_scancel.SPEC,
}
SBATCH = opts_sbatch.SPEC
SQUEUE = opts_squeue.SPEC
SACCT = opts_sacct.SPEC
SCANCEL = opts_scancel.SPEC


def _error(spec: CommandSpec, argv: list[str]) -> SlurmInputError:
    with pytest.raises(SlurmInputError) as info:
        parse_args(spec, argv)
    return info.value


def _try(cmd: str) -> str:
    return f'\nTry "{cmd} --help" for more information'


# ---------------------------------------------------------------- golden transcripts


def _golden_records(name: str) -> list[tuple[str, str, int]]:
    """(command line, stderr, exit code) of every record in a golden file."""
    text = (GOLDEN / name).read_text()
    pattern = re.compile(
        r"^\$ (.*?)\n--- stdout ---\n(.*?)--- stderr ---\n(.*?)--- exit code: (\d+) ---",
        re.S | re.M,
    )
    return [(m.group(1), m.group(3), int(m.group(4))) for m in pattern.finditer(text)]


GETOPT_WORDS = ("unrecognized option", "invalid option --", "requires an argument",
                "is ambiguous", "doesn't allow an argument")


def _golden_getopt_errors() -> list[tuple[str, list[str], str, int]]:
    cases = []
    for name in ("sbatch-errors.txt", "squeue.txt", "sacct.txt", "scancel.txt"):
        for line, err, code in _golden_records(name):
            words = shlex.split(line)
            if words[0] in SPECS and any(w in err for w in GETOPT_WORDS):
                cases.append((words[0], words[1:], err.rstrip("\n"), code))
    return cases


GOLDEN_ERRORS = _golden_getopt_errors() if GOLDEN.exists() else []


def test_golden_cases_found() -> None:
    if not GOLDEN.exists():
        pytest.skip("golden transcripts not available")
    assert {c[0] for c in GOLDEN_ERRORS} == {"sbatch", "squeue", "sacct", "scancel"}


@pytest.mark.parametrize(("cmd", "argv", "stderr", "code"), GOLDEN_ERRORS)
def test_golden_getopt_errors(cmd: str, argv: list[str], stderr: str, code: int) -> None:
    err = _error(SPECS[cmd], argv)
    assert err.message == stderr
    assert err.exit_code == code


def test_golden_directive_unknown_option() -> None:
    """d-unknown.sh: an unknown #SBATCH option fails with the command-line message, exit 255."""
    if not GOLDEN.exists():
        pytest.skip("golden transcripts not available")
    records = {line: (err, code) for line, err, code in _golden_records("sbatch-directives.txt")}
    text = (GOLDEN / "sbatch-directives.txt").read_text()
    script = text.split("$ cat d-unknown.sh\n--- stdout ---\n", 1)[1].split("--- stderr")[0]
    words = [w for ln in script.splitlines() if ln.startswith("#SBATCH")
             for w in shlex.split(ln[len("#SBATCH"):], comments=True)]
    assert words == ["--bogus-option"]
    expected, code = records["sbatch --parsable --hold d-unknown.sh"]
    err = _error(SBATCH, words)
    assert err.message == expected.rstrip("\n")
    assert err.exit_code == code == 255


# ---------------------------------------------------------------- recorded from real 22.05.8


@pytest.mark.parametrize(
    ("cmd", "argv", "first_line"),
    [
        ("sbatch", ["--mem"], "sbatch: option '--mem' requires an argument"),
        ("sbatch", ["--m"], "sbatch: option '--m' is ambiguous; possibilities: '--mail-type' "
         "'--mail-user' '--mcs-label' '--mem' '--mem-bind' '--mem-per-cpu' '--mem-per-gpu' "
         "'--mincpus'"),
        ("sbatch", ["--mem=5", "--m=3"], "sbatch: option '--m=3' is ambiguous; possibilities: "
         "'--mail-type' '--mail-user' '--mcs-label' '--mem' '--mem-bind' '--mem-per-cpu' "
         "'--mem-per-gpu' '--mincpus'"),
        ("sbatch", ["--clus", "x"], "sbatch: option '--clus' is ambiguous; possibilities: "
         "'--cluster-constraint' '--cluster' '--clusters'"),
        ("sbatch", ["--ntasks-per"], "sbatch: option '--ntasks-per' is ambiguous; "
         "possibilities: '--ntasks-per-core' '--ntasks-per-gpu' '--ntasks-per-node' "
         "'--ntasks-per-socket' '--ntasks-per-tres'"),
        ("sbatch", ["--hold=3"], "sbatch: option '--hold' doesn't allow an argument"),
        ("sbatch", ["-o"], "sbatch: option requires an argument -- 'o'"),
        ("sbatch", ["--bogus=3"], "sbatch: unrecognized option '--bogus=3'"),
        ("squeue", ["--no"], "squeue: option '--no' is ambiguous; possibilities: "
         "'--noconvert' '--node' '--nodes' '--nodelist' '--noheader'"),
        ("squeue", ["--s"], "squeue: option '--s' is ambiguous; possibilities: '--sib' "
         "'--sort' '--start' '--steps' '--states'"),
        ("scancel", ["--n"], "scancel: option '--n' is ambiguous; possibilities: '--name' "
         "'--nodelist'"),
    ],
)
def test_recorded_errors(cmd: str, argv: list[str], first_line: str) -> None:
    err = _error(SPECS[cmd], argv)
    assert err.message == first_line + _try(cmd)
    assert err.exit_code == (255 if cmd == "sbatch" else 1)


def test_extensions_do_not_change_slurm_prefixes() -> None:
    err = _error(SBATCH, ["--co"])
    assert err.message == (
        "sbatch: option '--co' is ambiguous; possibilities: '--comment' '--container' "
        "'--context' '--contiguous' '--constraint' '--core-spec' '--cores-per-socket'"
        + _try("sbatch")
    )
    assert parse_args(SBATCH, ["--conta=b"]).values == {"container": "b"}
    assert parse_args(SBATCH, ["--container-i=img"]).values == {"container_image": "img"}
    assert parse_args(SBATCH, ["--container-image", "i"]).values == {"container_image": "i"}
    assert "'--container-image' '--container-mounts'" in _error(SBATCH, ["--container-"]).message


def test_sacct_errors_have_no_hint() -> None:
    err = _error(SACCT, ["--pars"])
    assert err.message == (
        "sacct: option '--pars' is ambiguous; possibilities: '--parsable' '--parsable2'"
    )
    assert err.exit_code == 1


# ---------------------------------------------------------------- parser behaviour


def test_long_forms_and_last_wins() -> None:
    r = parse_args(SBATCH, ["--time=5", "--time", "10", "--job-name=a=b", "x.sh"])
    assert r.values["time"] == "10"
    assert r.values["job_name"] == "a=b"
    assert r.positionals == ["x.sh"]
    assert [(o.long, v) for o, v in r.given] == [("time", "5"), ("time", "10"), ("job-name", "a=b")]


def test_required_argument_takes_next_word_whatever_it_is() -> None:
    r = parse_args(SBATCH, ["-o", "--hold", "--output", "-", "-J", "--"])
    assert r.values["output"] == "-"
    assert r.values["job_name"] == "--"
    assert "hold" not in r.values


def test_empty_value_after_equals() -> None:
    assert parse_args(SBATCH, ["--time="]).values["time"] == ""


def test_prefix_matching() -> None:
    r = parse_args(SBATCH, ["--out=o.txt", "--err", "e.txt", "--tasks=4", "--constrain=a"])
    assert r.values == {"output": "o.txt", "error": "e.txt", "ntasks_per_node": "4",
                        "constraint": "a"}


def test_exact_match_beats_longer_names() -> None:
    assert parse_args(SBATCH, ["--mem=4G"]).values == {"mem": "4G"}
    assert parse_args(SACCT, ["--parsable"]).values == {"parsable": True}
    assert parse_args(SBATCH, ["--gpus=2"]).values == {"gpus": "2"}


def test_aliases_of_one_option_are_not_ambiguous() -> None:
    assert parse_args(SQUEUE, ["--nod=n1"]).values == {"nodelist": "n1"}
    assert parse_args(SQUEUE, ["--use=me"]).values == {"user": "me"}
    assert parse_args(SACCT, ["--g=5"]).values == {"gid": "5"}
    assert parse_args(SCANCEL, ["--job=x"]).values == {"name": "x"}


def test_optional_argument_long_only_via_equals() -> None:
    r = parse_args(SQUEUE, ["--jobs", "12"])
    assert r.values == {"jobs": None}
    assert r.positionals == ["12"]
    assert parse_args(SQUEUE, ["--jobs=12"]).values == {"jobs": "12"}
    assert parse_args(SBATCH, ["--exclusive", "x.sh"]).values == {"exclusive": None}


def test_optional_argument_short_only_attached() -> None:
    r = parse_args(SQUEUE, ["-j", "12"])
    assert r.values == {"jobs": None} and r.positionals == ["12"]
    assert parse_args(SQUEUE, ["-j12"]).values == {"jobs": "12"}
    assert parse_args(SBATCH, ["-kfoo"]).values == {"no_kill": "foo"}


def test_clustered_short_flags() -> None:
    r = parse_args(SBATCH, ["-vvHQ", "-vJname", "-o", "out"])
    assert r.values == {"verbose": 3, "hold": True, "quiet": True, "job_name": "name",
                        "output": "out"}
    assert parse_args(SQUEUE, ["-hro%i"]).values == {"noheader": True, "array": True,
                                                      "format": "%i"}


def test_short_aliases() -> None:
    assert parse_args(SQUEUE, ["-U", "acct"]).values == {"accounts": "acct"}
    assert parse_args(SACCT, ["-t"]).values == {"allocations": True}


def test_append_action() -> None:
    opt = Option("define", "d", "required", "k=v", "a definition", action="append")
    spec = CommandSpec("demo", (opt,), "demo [OPTIONS]")
    assert parse_args(spec, ["-da=1", "--define", "b=2"]).values == {"define": ["a=1", "b=2"]}


def test_sbatch_stops_at_script() -> None:
    r = parse_args(SBATCH, ["-J", "x", "job.sh", "--hold", "-v", "--bogus"])
    assert r.values == {"job_name": "x"}
    assert r.positionals == ["job.sh", "--hold", "-v", "--bogus"]


def test_single_dash_is_a_positional() -> None:
    assert parse_args(SBATCH, ["-", "-H"]).positionals == ["-", "-H"]
    assert parse_args(SCANCEL, ["-", "-b"]).positionals == ["-"]


def test_double_dash_ends_options() -> None:
    r = parse_args(SBATCH, ["-H", "--", "--bogus", "a"])
    assert r.values == {"hold": True} and r.positionals == ["--bogus", "a"]
    r = parse_args(SCANCEL, ["1", "--", "-b"])
    assert r.values == {} and r.positionals == ["1", "-b"]


def test_scancel_permutes() -> None:
    r = parse_args(SCANCEL, ["123", "--signal", "USR2", "124_1", "-b"])
    assert r.values == {"signal": "USR2", "batch": True}
    assert r.positionals == ["123", "124_1"]


def test_error_after_positional_in_permuting_commands() -> None:
    err = _error(SCANCEL, ["123", "--bogus"])
    assert err.message == "scancel: unrecognized option '--bogus'" + _try("scancel")


def test_invalid_short_and_missing_short_argument() -> None:
    assert _error(SQUEUE, ["-hZ"]).message == "squeue: invalid option -- 'Z'" + _try("squeue")
    assert _error(SCANCEL, ["-c"]).message == "scancel: invalid option -- 'c'" + _try("scancel")
    err = _error(SQUEUE, ["-ho"])
    assert err.message == "squeue: option requires an argument -- 'o'" + _try("squeue")


def test_empty_name_is_ambiguous_over_everything() -> None:
    err = _error(SCANCEL, ["--=x"])
    assert err.message.startswith("scancel: option '--=x' is ambiguous; possibilities: "
                                  "'--account' '--batch' '--ctld'")


def test_immediate_options_stop_parsing() -> None:
    r = parse_args(SBATCH, ["--version", "--bogus"])
    assert r.stopped_by is not None and r.stopped_by.long == "version"
    assert parse_args(SQUEUE, ["--usage", "-Z"]).stopped_by is SQUEUE.find_long("usage")
    with pytest.raises(SlurmInputError):
        parse_args(SQUEUE, ["--bogus", "--version"])
    with pytest.raises(SlurmInputError):
        parse_args(SBATCH, ["--version", "--bogus"], immediate=False)
    # sacct's --help only takes effect after parsing
    with pytest.raises(SlurmInputError):
        parse_args(SACCT, ["--help", "--bogus"])


def test_validate_runs_in_order() -> None:
    seen: list[str] = []

    def check(opt: Option, value: object) -> None:
        seen.append(opt.dest)
        if opt.dest == "time" and value == "abc":
            raise SlurmInputError("sbatch: error: Invalid --time specification", 255)

    with pytest.raises(SlurmInputError) as info:
        parse_args(SBATCH, ["-H", "--time=abc", "--bogus"], validate=check)
    assert info.value.message == "sbatch: error: Invalid --time specification"
    assert seen == ["hold", "time"]


def test_parsed_args_helpers() -> None:
    r = parse_args(SBATCH, ["--nice"])
    assert isinstance(r, ParsedArgs)
    assert r.has("nice") and r.get("nice") is None and r.get("hold", 7) == 7


def test_directive_words_parse_like_the_command_line() -> None:
    words = shlex.split('--job-name="my job" -N1 --time 10', comments=True)
    r = parse_args(SBATCH, words)
    assert r.values == {"job_name": "my job", "nodes": "1", "time": "10"}


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_table_is_complete(spec: CommandSpec) -> None:
    for opt in spec.options:
        assert opt.help and opt.help == opt.help.strip() and "\n" not in opt.help, opt.long
        assert set(opt.support) == set(BACKENDS), opt.long
        for sup in opt.support.values():
            assert sup.level in SUPPORT_LEVELS, opt.long
        if opt.arg != "none":
            assert opt.metavar, opt.long
            assert opt.action in ("store", "append"), opt.long
        else:
            assert opt.action in ("store_true", "store_false", "count"), opt.long


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_no_duplicate_names(spec: CommandSpec) -> None:
    longs = [n for o in spec.options for n in o.long_names]
    shorts = [s for o in spec.options for s in o.short_names]
    assert len(longs) == len(set(longs))
    assert len(shorts) == len(set(shorts))
    assert sorted(spec.getopt_order) == sorted(longs)


def test_sbatch_has_every_22_05_option() -> None:
    wanted = """account acctg-freq array batch bb bbf begin chdir cluster-constraint clusters
    comment constraint container contiguous core-spec cores-per-socket cpu-freq cpus-per-gpu
    cpus-per-task deadline delay-boot dependency distribution error exclude exclusive export
    export-file extra-node-info get-user-env gid gpu-bind gpu-freq gpus gpus-per-node
    gpus-per-socket gpus-per-task gres gres-flags help hint hold ignore-pbs input job-name
    kill-on-invalid-dep licenses mail-type mail-user mcs-label mem mem-bind mem-per-cpu
    mem-per-gpu mincpus network nice no-kill no-requeue nodefile nodelist nodes ntasks
    ntasks-per-core ntasks-per-gpu ntasks-per-node ntasks-per-socket open-mode output
    overcommit oversubscribe parsable partition power prefer priority profile propagate qos
    quiet reboot requeue reservation signal sockets-per-node spread-job switches test-only
    thread-spec threads-per-core time time-min tmp uid usage use-min-nodes verbose version
    wait wait-all-nodes wckey wrap container-image container-mounts container-workdir""".split()
    missing = [n for n in wanted if SBATCH.find_long(n) is None]
    assert missing == []
    shorts = "AaBbCcDdeFGHhiJkLMmNnOopQqSstVvWwx"
    assert [s for s in shorts if SBATCH.find_short(s) is None] == []


def test_short_option_strings_match_slurm() -> None:
    """Each command's short letters and argument kinds equal SLURM 22.05's optstring."""
    def optstring(spec: CommandSpec) -> set[str]:
        kinds = {"none": "", "required": ":", "optional": "::"}
        return {s + kinds[o.arg] for o in spec.options for s in o.short_names}

    def split(text: str) -> set[str]:
        return set(re.findall(r"[A-Za-z](?:::|:)?", text))

    assert optstring(SQUEUE) == split("A:ahi:j::lL:n:M:O:o:p:Pq:R:rs::S:t:u:U:vVw:")
    assert optstring(SACCT) == split("aA:bBcC:DeE:f:F:g:hi:I:j:k:K:lLM:nN:o:pPq:r:s:S:Ttu:UvVW:x:X")
    assert optstring(SCANCEL) == split("A:bfHiM:n:p:Qq:R:s:t:u:vVw:")
    assert optstring(SBATCH) == split(
        "A:a:b:D:M:C:S:c:d:m:e:x:B:G:hHi:J:L:k::F:w:N:n:o:OsQp:q:t:vVW"
    )


def test_find_helpers() -> None:
    assert SBATCH.find_long("tasks-per-node") is SBATCH.find_long("ntasks-per-node")
    assert SBATCH.find_short("t") is SBATCH.find_long("time")
    assert SBATCH.by_dest("job_name") is SBATCH.find_short("J")
    assert SBATCH.find_long("nope") is None and SBATCH.by_dest("nope") is None


# ---------------------------------------------------------------- rendering


def test_render_help_layout() -> None:
    text = render_help(SBATCH)
    lines = text.splitlines()
    assert lines[0] == "Usage: sbatch [OPTIONS(0)...] [ : [OPTIONS(N)...]] script(0) [args(0)...]"
    assert "Parallel run options:" in lines
    array = next(ln for ln in lines if "--array=" in ln)
    assert array.startswith("  -a, --array=indexes ") and array[30] != " " and array[29] == " "
    bb = next(ln for ln in lines if ln.lstrip().startswith("--bb="))
    assert bb.startswith("      --bb=spec")
    assert "--cluster=" not in text and "--context" not in text
    assert text.endswith("\n")
    assert "Valid <OPTION> values are:" in render_help(SACCT)


def test_render_usage_wraps() -> None:
    text = render_usage(SCANCEL)
    lines = text.splitlines()
    assert lines[0].startswith("Usage: scancel [-A account]")
    assert all(len(ln) <= 80 for ln in lines)
    assert all(ln.startswith(" " * len("Usage: scancel ")) for ln in lines[1:])
    assert "[job_id[_array_id][.step_id]]" in text


def test_render_man() -> None:
    page = render_man(SBATCH, "Submit a script.\n\n.A line starting with a dot.")
    assert page.startswith(".TH SBATCH 1")
    for section in (".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS"):
        assert section in page
    assert "\\fB\\-a\\fR, \\fB\\-\\-array\\fR=\\fIindexes\\fR" in page
    assert "\\&.A line" in page
    assert "Backends: local: refused" in page


def test_support_matrix() -> None:
    rows = support_matrix(SPECS.values())
    assert len(rows) == sum(len(s.options) for s in SPECS.values())
    row = next(r for r in rows if r.command == "sbatch" and r.option == "-t, --time")
    assert (row.local, row.mithril) == ("honoured", "honoured")


# ---------------------------------------------------------------- fuzz


def _fuzz_words(spec: CommandSpec) -> list[str]:
    words = ["--", "-", "", "x", "--=", "-:", "--é", "-é", "=", "123"]
    for opt in spec.options:
        for name in opt.long_names:
            words += [f"--{name}", f"--{name}=v", f"--{name[:3]}", f"--{name[:-1]}="]
        for s in opt.short_names:
            words += [f"-{s}", f"-{s}v", f"-v{s}"]
    return words


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_fuzz_only_slurm_input_errors(spec: CommandSpec) -> None:
    rng = random.Random(2205)
    words = _fuzz_words(spec)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(3000):
        argv = [rng.choice(words) for _ in range(rng.randint(0, 6))]
        try:
            result = parse_args(spec, argv)
        except SlurmInputError as err:
            assert err.message.startswith(f"{spec.name}: ")
            assert err.exit_code == spec.bad_option_exit
            outcomes["error"] += 1
        else:
            assert all(isinstance(p, str) for p in result.positionals)
            outcomes["ok"] += 1
    assert outcomes["ok"] > 100 and outcomes["error"] > 100
