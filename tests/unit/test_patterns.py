"""Tests for flowslurm.slurm.patterns: SLURM's filename patterns.

Expected names come from /work/shared/slurm-golden/output-patterns.txt (the files real SLURM 22.05
created), plus the StdOut= lines of `scontrol show job` in sbatch-directives.txt, squeue.txt and
sbatch-errors.txt. The remaining cases follow SLURM 22.05's src/slurmd/common/fname.c.
"""

from __future__ import annotations

import random
import re

import pytest

from flowslurm.errors import SlurmInputError
from flowslurm.slurm.patterns import (
    DEFAULT_ARRAY_OUTPUT,
    DEFAULT_OUTPUT,
    NO_VAL,
    default_pattern,
    display_path,
    expand_pattern,
    resolve_output_path,
    single_task,
    unescape,
)
from tests.cli.golden import GOLDEN

WORK = "/tmp/slurm-golden-work"  # the golden files' work dir
# the golden user, node and job name (-J pname)
BATCH = {"job_name": "pname", "user": "golden", "node": "vm"}


def _records(name: str) -> list[tuple[str, str, str, int]]:
    text = (GOLDEN / name).read_text()
    pattern = re.compile(
        r"^(?:\$ |\[root\] # )([^\n]*)\n--- stdout ---\n(.*?)--- stderr ---\n(.*?)--- exit code: (\d+) ---$",
        re.S | re.M,
    )
    return [(m[1], m[2], m[3], int(m[4])) for m in pattern.finditer(text)]


def _submissions() -> list[tuple[str, int, list[str]]]:
    """(sbatch command, job id, `ls pat` listing after it) from output-patterns.txt."""
    records = _records("output-patterns.txt")
    found = []
    for index, (command, out, _err, code) in enumerate(records):
        if "sbatch --parsable" in command and code == 0 and index + 1 < len(records):
            listing = records[index + 1]
            if listing[0] in ("ls pat", "ls -R pat"):
                found.append((command, int(out.split()[0]), listing[1].split()))
    return found


SUBMISSIONS = _submissions()


def _submission(fragment: str) -> tuple[str, int, list[str]]:
    return next(s for s in SUBMISSIONS if fragment in s[0])


def _output_option(command: str) -> str:
    return re.search(r"--output='([^']*)'", command)[1]  # type: ignore[index]


def test_golden_submissions_found() -> None:
    assert len(SUBMISSIONS) >= 7


def test_golden_all_patterns_non_array() -> None:
    # j%j-x%x-A%A-a%a-u%u-N%N-n%n-s%s-t%t-pct%%-5j%5j.out in a batch step
    command, job_id, listing = _submission("-J pname --output=")
    pattern = _output_option(command)
    name = expand_pattern(pattern, job_id=job_id, **BATCH)
    assert [name] == listing
    assert name == "j291-xpname-A291-a4294967294-ugolden-Nvm-n0-sbatch-t0-pct%-5j00291.out"


def test_golden_all_patterns_array() -> None:
    # --array=1-2: the task that ran last (index 2) kept the job id 292, index 1 got 293
    command, job_id, listing = _submission("--array=1-2 --output=")
    pattern = _output_option(command)
    names = sorted(
        expand_pattern(pattern, job_id=task_job, array_job_id=job_id, array_task_id=task, **BATCH)
        for task, task_job in ((2, 292), (1, 293))
    )
    assert names == listing
    assert "j292-xpname-A292-a2-ugolden-Nvm-3a002-b%b.out" in names


def test_golden_default_names() -> None:
    _command, job_id, listing = _submission("--wrap 'echo out; echo err >&2'")
    assert [expand_pattern(default_pattern(False), job_id=job_id)] == listing
    _command, job_id, listing = _submission("--array=0-2 --wrap")
    names = [
        expand_pattern(default_pattern(True), job_id=job_id + task, array_job_id=job_id, array_task_id=task)
        for task in range(3)
    ]
    assert names == listing == ["slurm-288_0.out", "slurm-288_1.out", "slurm-288_2.out"]


def test_golden_output_and_error() -> None:
    _command, job_id, listing = _submission("--output=out-%j.txt --error=err-%j.txt")
    assert sorted([expand_pattern("out-%j.txt", job_id=job_id), expand_pattern("err-%j.txt", job_id=job_id)]) == listing
    _command, job_id, listing = _submission("--error=only-err-%j.txt")
    names = [expand_pattern("only-err-%j.txt", job_id=job_id), expand_pattern(DEFAULT_OUTPUT, job_id=job_id)]
    assert names == listing


def test_golden_chdir_default_output() -> None:
    _command, job_id, listing = _submission("--chdir=sub")
    assert listing == ["pat:", "sub", "pat/sub:", f"slurm-{job_id}.out"]
    path = resolve_output_path(DEFAULT_OUTPUT, f"{WORK}/pat/sub", job_id=job_id)
    assert path == f"{WORK}/pat/sub/slurm-{job_id}.out"


def test_golden_dev_null_and_absolute() -> None:
    assert resolve_output_path("/dev/null", f"{WORK}/pat", job_id=301) == "/dev/null"
    assert resolve_output_path("/nonexistent-dir/x.out", WORK, job_id=91) == "/nonexistent-dir/x.out"


def test_golden_srun_step_pattern() -> None:
    record = next(r for r in _records("output-patterns.txt") if r[0].startswith("srun -o srun-%j-%t.out"))
    listed = record[1].split()[:2]
    names = [expand_pattern("srun-%j-%t.out", job_id=302, step_id=0, task_id=t) for t in range(2)]
    assert names == listed == ["srun-302-0.out", "srun-302-1.out"]


def _scontrol_stdout_lines() -> list[tuple[int, str]]:
    """(job id, StdOut path) from every `scontrol show job` record of the golden files."""
    found = []
    for name in ("sbatch-directives.txt", "squeue.txt", "sbatch-errors.txt"):
        for _command, out, _err, _code in _records(name):
            job = re.search(r"JobId=(\d+)", out)
            path = re.search(r"StdOut=(\S+)", out)
            if job and path:
                found.append((int(job[1]), path[1]))
    return found


def test_golden_scontrol_display_paths() -> None:
    lines = dict(_scontrol_stdout_lines())
    # d-sh.sh: #SBATCH --output=d-sh-%j.log
    assert display_path("d-sh-%j.log", WORK, job_id=333) == lines[333] == f"{WORK}/d-sh-333.log"
    # d-array.sh: a pending array (master record: no task id yet), default name
    assert display_path(None, WORK, job_id=334, array_job_id=334) == lines[334]
    assert lines[334] == f"{WORK}/slurm-334_4294967294.out"
    # plain jobs with the default name
    for job_id in (323, 324, 325, 326, 327, 328, 329, 330, 331, 332):
        assert display_path(None, WORK, job_id=job_id) == lines[job_id]
    # sbatch-errors.txt: --output=/nonexistent-dir/x.out
    assert display_path("/nonexistent-dir/x.out", WORK, job_id=91) == lines[91]


def test_display_path_replacements() -> None:
    got = display_path("%x-%u-%A_%a-%j-%5j-%%-%N.out", "/w", job_id=12, array_job_id=10, array_task_id=2,
                       job_name="nm", user="me")
    assert got == "/w/nm-me-10_2-12-%5j-%%-%N.out"
    assert display_path("/abs/%A.out", "/w", job_id=7) == "/abs/7.out"
    # rescanning: the result of one replacement is searched again
    assert display_path("%%uu", "/w", job_id=1, user="ux") == "/w/uxxu"
    assert display_path("%u", "/w", job_id=1, user="%u") == "/w/%u"  # bounded, where SLURM would loop


def test_defaults() -> None:
    assert default_pattern(False) == DEFAULT_OUTPUT == "slurm-%j.out"
    assert default_pattern(True) == DEFAULT_ARRAY_OUTPUT == "slurm-%A_%a.out"
    assert NO_VAL == 4294967294


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("%j", "77"),
        ("%J", "77"),  # batch step: no ".batch"
        ("%s", "batch"),
        ("%5s", "batch"),
        ("%A_%a", "77_4294967294"),
        ("%3a", "4294967294"),
        ("%b", "%b"),
        ("%%j", "%j"),
        ("%%%j", "%77"),
        ("%", "%"),
        ("a%", "a%"),
        ("%q%j", "%q77"),
        ("%12j", "0000000077"),  # widths are capped at 10
        ("%05j", "00077"),
        ("%0j", "77"),
        ("%3t-%2n-%N-%u-%x", "000-00-vm-golden-pname"),
        # a width before a letter that is not a replacement keeps only its last digit
        ("x%5b", "x5b"),
        ("x%12b", "x2b"),
        ("x%5", "x5"),
        ("x%12b%5%j%", "x2b577%"),
        ("é%jé", "é77é"),
        ("%\u0663j", "%\u0663j"),  # a non-ASCII digit is no width
    ],
)
def test_expand_batch(pattern: str, expected: str) -> None:
    assert expand_pattern(pattern, job_id=77, **BATCH) == expected
    assert expand_pattern(pattern, job_id=77, step_id="batch", **BATCH) == expected


def test_expand_array_and_steps() -> None:
    assert expand_pattern("%A_%4a", job_id=20, array_job_id=15, array_task_id=5) == "15_0005"
    assert expand_pattern("%J|%s|%t|%n", job_id=20, step_id=3, task_id=4, node_index=1) == "20.3|3|4|1"
    assert expand_pattern("%2s", job_id=20, step_id="0") == "00"
    with pytest.raises(SlurmInputError):
        expand_pattern("%s", job_id=20, step_id="extern")


def test_resolve_output_path() -> None:
    kwargs = {"job_id": 5, "user": "u", "job_name": "n"}
    assert resolve_output_path("o-%j.out", "/w", **kwargs) == "/w/o-5.out"
    assert resolve_output_path("o-%j.out", "/w/", **kwargs) == "/w/o-5.out"
    assert resolve_output_path("d/%x.out", "/w", **kwargs) == "/w/d/n.out"
    # a backslash turns expansion off; SLURM 22.05 then adds no "/" after a relative work dir
    assert resolve_output_path("a\\%j", "/w", **kwargs) == "/wa%j"
    assert resolve_output_path("/abs/a\\\\b%j", "/w", **kwargs) == "/abs/a\\b%j"
    # a pattern that is a number names one task; the batch step is task 0
    assert resolve_output_path("0", "/w", **kwargs) == "/w/0"
    assert resolve_output_path("3", "/w", **kwargs) == "/dev/null"
    assert resolve_output_path("3", "/w", task_id=3, **kwargs) == "/w/3"


@pytest.mark.parametrize(
    ("pattern", "task"),
    [("0", 0), ("12", 12), (" 7", 7), ("+7", 7), ("", 0), ("-1", None), ("7x", None), ("x", None),
     ("4294967296", 0), ("  ", None), ("+", None)],
)
def test_single_task(pattern: str, task: int | None) -> None:
    assert single_task(pattern) == task


def test_unescape() -> None:
    assert unescape("plain%j") is None
    assert unescape("a\\b") == "ab"
    assert unescape("a\\\\b") == "a\\b"
    assert unescape("a\\") == "a"


def test_fuzz_patterns_never_raise_foreign_errors() -> None:
    rng = random.Random(5150)
    atoms = ["%", "%%", "j", "J", "A", "a", "b", "s", "t", "n", "N", "u", "x", "1", "12", "0", "\\", "/",
             "é", "-", " ", "99999999999999999999999"]
    for _ in range(4000):
        pattern = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 10)))
        try:
            expanded = expand_pattern(pattern, job_id=rng.randint(1, 10**6), array_job_id=3,
                                      array_task_id=rng.choice([None, 0, 7]), job_name="n", user="u",
                                      node="vm", step_id=rng.choice([None, "batch", 0, "4", "x"]))
            assert isinstance(expanded, str)
            assert isinstance(resolve_output_path(pattern, "/w", job_id=1), str)
            assert isinstance(display_path(pattern, "/w", job_id=1, user="u"), str)
        except SlurmInputError:
            pass


# ---------------------------------------------------------------- regressions found by fuzzing


def test_huge_widths_and_numbers_do_not_reach_int() -> None:
    # thousands of digits once made int() raise ValueError (Python's 4300-digit limit)
    assert expand_pattern("%" + "9" * 5000 + "j", job_id=5) == "0000000005"  # strtoul saturates, width caps at 10
    assert expand_pattern("%" + "0" * 5000 + "3j", job_id=5) == "005"
    assert single_task("9" * 5000) is None  # strtoul saturates at ULONG_MAX, which as an int is -1
    assert single_task("0" * 5000 + "7") == 7
    assert expand_pattern("%J", job_id=5, step_id="0" * 5000 + "3") == "5.3"
    with pytest.raises(SlurmInputError, match="^Invalid step id: "):
        expand_pattern("%J", job_id=5, step_id="9" * 5000)
