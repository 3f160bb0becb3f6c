"""Tests for flowslurm.slurm.directives: sbatch's script checks and #SBATCH word splitting.

Expected values come from the real SLURM 22.05 transcripts in /work/shared/slurm-golden
(sbatch-directives.txt, sbatch-errors.txt, sbatch-basic.txt) and from sbatch 22.05.8 itself
(`sbatch -vvv` prints each word it found: 'debug2: Found in script, argument "..."').
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess

from pathlib import Path

import pytest

from flowslurm.errors import SlurmInputError, SubmitError
from flowslurm.slurm.directives import (
    LEGACY_PREFIX_WARNING,
    Directive,
    ScriptFatalError,
    check_script,
    directive_argv,
    extract_directives,
    has_more_components,
    split_directive_words,
    uses_legacy_prefix,
    wrap_script,
)
from tests.cli.golden import GOLDEN



def _records(name: str) -> list[tuple[str, str, str, int]]:
    """(command, stdout, stderr, exit code) of each record of a golden transcript."""
    text = (GOLDEN / name).read_text()
    pattern = re.compile(
        r"^(?:\$ |\[root\] # )([^\n]*)\n--- stdout ---\n(.*?)--- stderr ---\n(.*?)--- exit code: (\d+) ---$",
        re.S | re.M,
    )
    return [(m[1], m[2], m[3], int(m[4])) for m in pattern.finditer(text)]


def _words(text: str) -> list[str]:
    return directive_argv(extract_directives(text))


# ---------------------------------------------------------------- check_script


def _golden_error(script_name: str) -> tuple[str, int]:
    for command, _out, err, code in _records("sbatch-errors.txt"):
        if command in (f"sbatch {script_name}", script_name):
            lines = [line.removeprefix("sbatch: error: ") for line in err.splitlines()]
            return "\n".join(lines), code
    raise AssertionError(f"no golden record for {script_name}")


@pytest.mark.parametrize(
    ("golden_command", "script"),
    [
        ("noshebang.sh", "echo no shebang\n"),  # content shown by `cat noshebang.sh` in the file
        ("empty.sh", ""),
        ("dos.sh", "#!/bin/bash\r\necho dos\r\n"),
        ("blankfirst.sh", "\n#!/bin/bash\necho x\n"),
        ("directivefirst.sh", "#SBATCH -J x\n#!/bin/bash\necho x\n"),
        ("sbatch < /dev/null", ""),
    ],
)
def test_check_script_matches_golden_messages(golden_command: str, script: str) -> None:
    message, code = _golden_error(golden_command)
    with pytest.raises(SubmitError) as info:
        check_script(script)
    assert info.value.message == message
    assert info.value.exit_code == code == 1


def test_golden_noshebang_script_is_the_one_we_test() -> None:
    shown = next(out for cmd, out, _e, _c in _records("sbatch-errors.txt") if cmd == "cat noshebang.sh")
    assert shown == "echo no shebang\n"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        # sbatch.c: whitespace-only test comes before the #! test
        (" \n\t\n", "Batch script contains only whitespace!"),
        ("\n", "Batch script contains only whitespace!"),
        # the whitespace test reads the buffer as a C string, so it stops at a NUL
        ("  \0echo", "Batch script contains only whitespace!"),
        ("#!/bin/sh\necho a\0b\n", "The Slurm controller does not allow scripts that\ncontain a NULL character '\\0'."),
        # the NUL test comes before the CRLF test
        ("#!/bin/sh\r\n\0", "The Slurm controller does not allow scripts that\ncontain a NULL character '\\0'."),
        (" #!/bin/sh\n", "This does not look like a batch script.  The first\n"
                         "line must start with #! followed by the path to an interpreter.\n"
                         "For instance: #!/bin/sh"),
        ("#", "This does not look like a batch script.  The first\n"
              "line must start with #! followed by the path to an interpreter.\n"
              "For instance: #!/bin/sh"),
    ],
)
def test_check_script_other_refusals(script: str, message: str) -> None:
    with pytest.raises(SubmitError) as info:
        check_script(script)
    assert info.value.message == message
    assert info.value.exit_code == 1


@pytest.mark.parametrize("script", ["#!", "#!/bin/sh\n", "#!/bin/bash\necho\rx\n", b"#!/bin/sh\nexit 0\n"])
def test_check_script_accepts(script: str | bytes) -> None:
    check_script(script)  # a lone \r (not followed by \n) is fine


def test_check_script_bytes_dos() -> None:
    with pytest.raises(SubmitError, match="DOS line breaks"):
        check_script(b"#!/bin/sh\r\n")


# ---------------------------------------------------------------- wrap_script


def test_wrap_script_matches_golden_batch_script() -> None:
    records = _records("sbatch-basic.txt")
    scripts = [out for cmd, out, _e, _c in records if cmd.startswith("scontrol write batch_script")]
    assert wrap_script("hostname") == scripts[0]
    assert wrap_script('echo "quoted $HOME"; echo second') == scripts[1]


# ---------------------------------------------------------------- golden directive scripts


def _option_values(words: list[str]) -> dict[str, str]:
    """A tiny stand-in for sbatch's option parser, enough for the golden scripts' options."""
    long_names = {"job-name": "J", "time": "t", "cpus-per-task": "c", "comment": "comment",
                  "output": "o", "array": "a"}
    values: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            key = long_names[name]
            if not eq:
                i += 1
                value = words[i]
        else:
            key, value = word[1], word[2:]
            if not value:
                i += 1
                value = words[i]
        values[key] = value
        i += 1
    return values


def _golden_directive_cases() -> list[tuple[str, str, dict[str, str]]]:
    """(script name, script text, squeue fields) for each golden script that sbatch accepted."""
    records = _records("sbatch-directives.txt")
    cases = []
    for index, (command, out, _err, _code) in enumerate(records):
        match = re.fullmatch(r"cat (d-[\w-]+\.sh)", command)
        if not match:
            continue
        name = match[1]
        submit = records[index + 1]
        if submit[3] != 0:
            continue
        job_id = submit[1].strip()
        query = next(r for r in records[index + 2:] if r[0].startswith(f"squeue -h") and f"-j {job_id} " in r[0])
        fmt = re.search(r"-o '([^']*)'", query[0])[1]  # type: ignore[index]
        fields = dict(zip(fmt.split("|"), query[1].rstrip("\n").split("|")))
        cases.append((name, out, fields))
    return cases


GOLDEN_CASES = _golden_directive_cases()


def test_golden_directive_cases_found() -> None:
    assert len(GOLDEN_CASES) >= 12


@pytest.mark.parametrize(("name", "script", "fields"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_directive_scripts(name: str, script: str, fields: dict[str, str]) -> None:
    values = _option_values(_words(script))
    assert values.get("J", name) == fields["%j"]
    expected_time = "UNLIMITED" if "t" not in values else f"{int(values['t'])}:00"
    assert expected_time == fields["%l"]
    if "%k" in fields:
        assert values.get("comment", "(null)") == fields["%k"]
    if "%C" in fields and "a" not in values:
        assert values.get("c", "1") == fields["%C"]


@pytest.mark.parametrize(
    ("name", "word", "stderr"),
    [
        ("d-bad-time.sh", "--time=abc", "sbatch: error: Invalid --time specification\n"),
        ("d-unknown.sh", "--bogus-option", "sbatch: unrecognized option '--bogus-option'\n"),
    ],
)
def test_golden_refused_directives_reach_the_option_parser(name: str, word: str, stderr: str) -> None:
    records = _records("sbatch-directives.txt")
    index = next(i for i, r in enumerate(records) if r[0] == f"cat {name}")
    assert records[index + 1][3] == 255 and records[index + 1][2].startswith(stderr)
    assert _words(records[index][1]) == [word]


# ---------------------------------------------------------------- exact word splitting


@pytest.mark.parametrize(
    ("script", "words"),
    [
        # sbatch-directives.txt d-basic.sh: scanning stops at the first command
        ("#!/bin/bash\n# a normal comment\n#SBATCH --job-name=first\n\n#SBATCH --time=5\n#SBATCH -c 2\n"
         'echo "first command"\n#SBATCH --job-name=after-command\n#SBATCH --time=99\n',
         ["--job-name=first", "--time=5", "-c", "2"]),
        # d-spaces.sh: several spaces or a tab after the magic word
        ("#!/bin/bash\n#SBATCH     --job-name=spaced\n#SBATCH\t--time=11\n", ["--job-name=spaced", "--time=11"]),
        # d-space-hash.sh: "# SBATCH" and "#sbatch" are comments
        ("#!/bin/bash\n# SBATCH --job-name=space-after-hash\n#sbatch --time=12\n#SBATCH --comment=kept\n",
         ["--comment=kept"]),
        # d-indent.sh: an indented directive is a comment, and does not stop the scan
        ("#!/bin/bash\n  #SBATCH --job-name=indented\n#SBATCH --time=13\n", ["--time=13"]),
        # d-nospace.sh
        ("#!/bin/bash\n#SBATCH--job-name=nospace\n#SBATCH --time=14\n", ["--job-name=nospace", "--time=14"]),
        # d-trailing-comment.sh
        ("#!/bin/bash\n#SBATCH --job-name=tc # this is a comment\n#SBATCH --time=15 # another\n",
         ["--job-name=tc", "--time=15"]),
        # d-multi.sh
        ("#!/bin/bash\n#SBATCH -J multi -t 16 -c 2\n", ["-J", "multi", "-t", "16", "-c", "2"]),
        # d-quoted.sh
        ("#!/bin/bash\n#SBATCH --job-name=\"with space\"\n#SBATCH --comment='single quoted'\n",
         ["--job-name=with space", "--comment=single quoted"]),
        # d-after-set.sh
        ("#!/bin/bash\nset -e\n#SBATCH --job-name=after-set\n", []),
        # real-scripts.md forms: -X value, -Xvalue, -X=value, --opt value, flags, empty value
        ("#!/bin/sh\n#SBATCH -p gpu\n#SBATCH -N4\n#SBATCH -p=gpu\n#SBATCH --mem 4G\n#SBATCH --exclusive\n"
         "#SBATCH --mail-user=\n", ["-p", "gpu", "-N4", "-p=gpu", "--mem", "4G", "--exclusive", "--mail-user="]),
        # blanks around '=' make separate words; trailing blanks vanish
        ("#!/bin/sh\n#SBATCH --time = 1:00   \n", ["--time", "=", "1:00"]),
        # empty directive lines
        ("#!/bin/sh\n#SBATCH\n#SBATCH # only a comment\n#SBATCH -J x\n", ["-J", "x"]),
        # '##SBATCH' and '#SBATCh' are plain comments
        ("#!/bin/sh\n##SBATCH -J a\n#SBATCh -J b\n#SBATCH -J c\n", ["-J", "c"]),
        # $VAR is not expanded
        ("#!/bin/sh\n#SBATCH --output=$HOME/%j.out\n", ["--output=$HOME/%j.out"]),
        # a '#' inside a word ends the line's words
        ("#!/bin/sh\n#SBATCH --job-name=a#b -t 5\n", ["--job-name=a"]),
        # an escaped '#' and a quoted '#' are kept
        ("#!/bin/sh\n#SBATCH --job-name=a\\#b --comment='x # y'\n", ["--job-name=a#b", "--comment=x # y"]),
        # quotes join with neighbouring text, and a quote may open mid-word
        ("#!/bin/sh\n#SBATCH --job-name=a\"b c\"'d'e\n", ["--job-name=ab cde"]),
        # a backslash escapes inside single quotes too, and escapes quotes
        ("#!/bin/sh\n#SBATCH -J 'it\\'s' -o \"q\\\"x\"\n", ["-J", "it's", "-o", 'q"x']),
        # an escaped blank still ends the word (sbatch 22.05 quirk)
        ("#!/bin/sh\n#SBATCH -J a\\ b\n", ["-J", "a", "b"]),
        # an empty word ("" or a lone backslash) ends the line's words
        ("#!/bin/sh\n#SBATCH -J \"\" -t 5\n#SBATCH -c 2\n", ["-J", "-c", "2"]),
        ("#!/bin/sh\n#SBATCH -J x \\ -t 5\n", ["-J", "x"]),
        # a trailing backslash is dropped
        ("#!/bin/sh\n#SBATCH -J x\\\n", ["-J", "x"]),
        # the legacy magic word
        ("#!/bin/sh\n#SLURM -J old\n", ["-J", "old"]),
        # #SBATCH followed directly by text
        ("#!/bin/sh\n#SBATCHES -J x\n", ["ES", "-J", "x"]),
        # blank-ish lines with vertical tab / form feed / CR are not commands
        ("#!/bin/sh\n\v\f\r\t\n#SBATCH -J x\r\t\n", ["-J", "x"]),
        # NBSP is not a blank for sbatch (C isspace)
        ("#!/bin/sh\n#SBATCH --output=a\u00a0b\n", ["--output=a\u00a0b"]),
        # no final newline
        ("#!/bin/sh\n#SBATCH -J last", ["-J", "last"]),
        # a hetjob separator ends the first component; the word is blanked mid-line too
        ("#!/bin/sh\n#SBATCH -J a\n#SBATCH hetjob\n#SBATCH -J b\n", ["-J", "a"]),
        ("#!/bin/sh\n#SBATCH -J hetjob -t 5\n", ["-J"]),
        ("#!/bin/sh\n#SBATCH -J hetjobs\n", ["-J", "hetjobs"]),
        ("#!/bin/sh\n#SBATCH -J x PackJob\n", ["-J", "x"]),
    ],
)
def test_words(script: str, words: list[str]) -> None:
    assert _words(script) == words


def test_directive_records_line_numbers_and_raw_text() -> None:
    script = "#!/bin/sh\n\n# note\n#SBATCH -J x # c\n#SLURM -t 5\n"
    assert extract_directives(script) == [
        Directive(4, ["-J", "x"], "#SBATCH -J x # c", False),
        Directive(5, ["-t", "5"], "#SLURM -t 5", True),
    ]
    assert uses_legacy_prefix(extract_directives(script))
    assert not uses_legacy_prefix(extract_directives("#!/bin/sh\n#SBATCH -t 5\n"))
    assert LEGACY_PREFIX_WARNING.startswith("Change from #SLURM to #SBATCH")


def test_alternate_prefix() -> None:
    script = "#!/bin/sh\n#FLOW --gpus=8 'a b'\n#SBATCH -J x\n#SLURM -t 5\necho\n#FLOW --late\n"
    assert [d.words for d in extract_directives(script, "#FLOW")] == [["--gpus=8", "a b"]]
    # #SLURM is only an alias of #SBATCH
    assert directive_argv(extract_directives(script)) == ["-J", "x", "-t", "5"]


def test_hetjob_components() -> None:
    script = "#!/bin/sh\n#SBATCH -J a\n#SBATCH hetjob\n#SBATCH -J b\n#SBATCH packjob\n#SBATCH -J c\n"
    assert directive_argv(extract_directives(script, component=1)) == ["-J", "b"]
    assert directive_argv(extract_directives(script, component=2)) == ["-J", "c"]
    assert has_more_components(script)
    assert has_more_components(script, component=1)
    assert not has_more_components(script, component=2)
    assert not has_more_components("#!/bin/sh\n#SBATCH -J a\n")


def test_bytes_input() -> None:
    assert directive_argv(extract_directives(b"#!/bin/sh\n#SBATCH -J caf\xc3\xa9\n")) == ["-J", "caf\u00e9"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        # real-scripts.md examples, messages as sbatch 22.05.8 prints them after "sbatch: fatal: "
        ("#SBATCH --gres=gpu: teslat4 :1", "job.sh: line 2: Unexpected `:` in [ :1]"),
        ("#SBATCH -p constraint=\"snb\\|hsw", "job.sh: line 2: Unmatched `\"` in [ constraint=\"snb\\|hsw]"),
        ("#SBATCH --mail-type=END'", "job.sh: line 2: Unmatched `'` in [--mail-type=END']"),
        ("#SBATCH :x", "job.sh: line 2: Unexpected `:` in [:x]"),
    ],
)
def test_fatal_directives(line: str, message: str) -> None:
    with pytest.raises(ScriptFatalError) as info:
        extract_directives(f"#!/bin/sh\n{line}\n", file_name="job.sh")
    assert info.value.message == message
    assert info.value.exit_code == 1
    assert isinstance(info.value, SlurmInputError)


def test_fatal_default_file_name_is_stdin() -> None:
    with pytest.raises(ScriptFatalError, match=r"^stdin: line 3: Unexpected"):
        extract_directives("#!/bin/sh\n\n#SBATCH :\n")


def test_fatal_only_when_scanned() -> None:
    assert _words("#!/bin/sh\necho\n#SBATCH -J 'x\n") == []
    assert _words("#!/bin/sh\n# SBATCH -J 'x\n") == []


def test_split_directive_words_directly() -> None:
    assert split_directive_words('  -J "a b"  -t 5 ') == ["-J", "a b", "-t", "5"]
    assert split_directive_words("") == []


# ---------------------------------------------------------------- fuzz


def test_fuzz_only_slurm_errors() -> None:
    rng = random.Random(20221)
    atoms = ["#SBATCH", "#SLURM", "#!", "#", " ", "\t", "\n", "\r", "\r\n", "\0", "'", '"', "\\", ":",
             "-J", "=", "x", "hetjob", "packjob", "\u00a0", "\u00e9", "#FLOW"]
    for _ in range(4000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 14)))
        for call in (check_script, extract_directives, lambda t: extract_directives(t, "#FLOW"),
                     has_more_components, lambda t: split_directive_words(t)):
            try:
                call(text)
            except SlurmInputError:
                pass


# ---------------------------------------------------------------- against the real sbatch, when present

_CONF = ("ClusterName=scratch\nSlurmctldHost=localhost\nSlurmctldPort=61917\n"
         "NodeName=vm CPUs=1 State=UNKNOWN\nPartitionName=debug Nodes=vm Default=YES\n")


@pytest.fixture()
def sbatch(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """sbatch 22.05 with a private slurm.conf; SBATCH_TIMELIMIT=abc makes it stop before any network."""
    path = shutil.which("sbatch")
    if not path:
        pytest.skip("needs sbatch from SLURM 22.05")
    conf = tmp_path / "slurm.conf"
    conf.write_text(_CONF)
    env = dict(os.environ, SLURM_CONF=str(conf), SBATCH_TIMELIMIT="abc")
    try:
        version = subprocess.run([path, "--version"], env=env, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    if not version.startswith(("slurm 22.05", "slurm-wlm 22.05")):
        pytest.skip("needs sbatch from SLURM 22.05")
    return path, env


@pytest.mark.skipif(not os.environ.get("FLOWSLURM_ORACLE_TESTS"), reason="opt-in: FLOWSLURM_ORACLE_TESTS=1")
def test_against_real_sbatch(sbatch: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """`sbatch -vvv` logs every word it finds; compare words and fatal messages on random scripts.

    Opt-in: it needs SLURM 22.05's sbatch on this machine, and its -vvv log was seen to omit words
    now and then under load (a run-to-run difference of the oracle, not of our parser)."""
    path, env = sbatch
    rng = random.Random(31337)
    atoms = [" ", "\t", '"', "'", "\\", "#", ":", "a", "-J", "--comment=", "x", "=", "hetjob", "\r", "\v",
             "'a b'", '"c d"', "#x", "\\#", "\\ "]
    for _ in range(120):
        lines = ["#!/bin/sh"]
        for _ in range(rng.randint(1, 4)):
            body = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 7)))
            # (the legacy #SLURM magic word is left out: sbatch's -vvv log stops listing words after
            # some of its warnings, so it is no oracle there; tests above pin #SLURM handling)
            lines.append(rng.choice(["#SBATCH", "#SBATCH", "#SBATCH", "#", "  ", "echo "]) + body)
        script = "\n".join(lines) + "\n"
        while "\r\n" in script:
            script = script.replace("\r\n", "\n")
        (tmp_path / "s.sh").write_text(script, newline="")
        real = subprocess.run([path, "-vvv", "s.sh"], cwd=tmp_path, env=env, capture_output=True, timeout=20)
        err = real.stderr.decode()
        fatal = re.search(r"^sbatch: fatal: (.*)$", err, re.M)
        try:
            ours: tuple[str, object] = ("ok", _words_named(script))
        except ScriptFatalError as exc:
            ours = ("fatal", exc.message)
        theirs = ("fatal", fatal[1]) if fatal else (
            "ok", re.findall(r'^sbatch: debug2: Found in script, argument "(.*)"$', err, re.M))
        assert ours == theirs, script


def _words_named(script: str) -> list[str]:
    return directive_argv(extract_directives(script, file_name="s.sh"))
