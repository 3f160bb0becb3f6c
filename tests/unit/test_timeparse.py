"""Tests for flowslurm.slurm.timeparse: --time, --begin and the time formats of squeue/sacct/scontrol."""

from __future__ import annotations

import random
import re
import time

import pytest

from flowslurm.engine.model import TIME_LIMIT_INVALID
from flowslurm.errors import SlurmInputError
from flowslurm.slurm.timeparse import (
    SlurmValueError,
    format_duration_sacct,
    format_duration_squeue,
    format_time_limit,
    format_timestamp,
    parse_begin,
    parse_time_limit,
)
from tests.cli.golden import GOLDEN


# From time-limits.txt: --time value -> (squeue -o %l, scontrol TimeLimit=).
TIME_CASES = [
    ("0", "UNLIMITED", "UNLIMITED"),
    ("1", "1:00", "00:01:00"),
    ("5", "5:00", "00:05:00"),
    ("90", "1:30:00", "01:30:00"),
    ("0:05", "1:00", "00:01:00"),
    ("0:30", "1:00", "00:01:00"),
    ("1:30", "2:00", "00:02:00"),
    ("1:00:00", "1:00:00", "01:00:00"),
    ("10:00:00", "10:00:00", "10:00:00"),
    ("1-0", "1-00:00:00", "1-00:00:00"),
    ("1-2", "1-02:00:00", "1-02:00:00"),
    ("1-2:30", "1-02:30:00", "1-02:30:00"),
    ("1-2:30:10", "1-02:31:00", "1-02:31:00"),
    ("2-00:00:00", "2-00:00:00", "2-00:00:00"),
    ("UNLIMITED", "UNLIMITED", "UNLIMITED"),
    ("infinite", "UNLIMITED", "UNLIMITED"),
    ("00:00:59", "1:00", "00:01:00"),
    ("0:61", "2:00", "00:02:00"),
    ("10", "10:00", "00:10:00"),  # time-limits.txt job 209 (--time-min=1 --time=10)
]


def _golden_records(name: str) -> list[tuple[str, str, str, int]]:
    """(command, stdout, stderr, exit code) records of a golden transcript."""
    path = GOLDEN / name
    if not path.exists():
        pytest.skip(f"golden file {path} not present")
    text = path.read_text()
    pattern = re.compile(
        r"^(?:\$|\[root\] #) (.*?)\n--- stdout ---\n(.*?)--- stderr ---\n(.*?)--- exit code: (\d+) ---",
        re.S | re.M,
    )
    return [(m[1], m[2], m[3], int(m[4])) for m in pattern.finditer(text)]


@pytest.mark.parametrize(("value", "squeue", "scontrol"), TIME_CASES)
def test_time_limit_golden_table(value: str, squeue: str, scontrol: str) -> None:
    minutes = parse_time_limit(value)
    assert format_time_limit(minutes) == squeue
    assert format_time_limit(minutes, "scontrol") == scontrol
    assert format_time_limit(minutes, "sacct") == scontrol


def test_time_limit_against_transcript() -> None:
    records = _golden_records("time-limits.txt")
    checked = 0
    for idx, (cmd, _out, _err, _rc) in enumerate(records):
        m = re.search(r"--time=(\S+)", cmd)
        if not cmd.startswith("sbatch") or m is None or "--time-min" in cmd:
            continue
        minutes = parse_time_limit(m.group(1))
        squeue_out = records[idx + 1][1].strip()
        scontrol_out = records[idx + 2][1].strip()
        assert format_time_limit(minutes) == squeue_out, cmd
        assert f"TimeLimit={format_time_limit(minutes, 'scontrol')}" == scontrol_out, cmd
        checked += 1
    assert checked == 18


def test_time_limit_values() -> None:
    assert parse_time_limit("0") is None
    assert parse_time_limit("UnLimited") is None
    assert parse_time_limit("INFINITE") is None
    assert parse_time_limit("-1") is None
    assert parse_time_limit("1-2:30:10") == 1591
    assert parse_time_limit("1-") == 1440  # "days-" means days (real-scripts.md)
    assert parse_time_limit("99:99:99") == 99 * 60 + 99 + 2
    assert parse_time_limit("9-99:99") == 9 * 1440 + 99 * 60 + 99


def test_negative_time_is_invalid() -> None:
    # sbatch-errors.txt: --time=-5 is accepted and squeue shows INVALID
    assert parse_time_limit("-5") == TIME_LIMIT_INVALID
    assert format_time_limit(parse_time_limit("-5")) == "INVALID"


@pytest.mark.parametrize("value", ["abc", "1:2:3:4", "", ":5", "5:", "1-2-3", "-5:30", "1:-2", " 5", "5m", "1.5"])
def test_bad_time(value: str) -> None:
    # sbatch-errors.txt: "sbatch: error: Invalid --time specification", exit 255
    with pytest.raises(SlurmInputError) as info:
        parse_time_limit(value)
    assert info.value.message == "Invalid --time specification"
    assert info.value.exit_code == 255


def test_bad_time_min_names_option() -> None:
    with pytest.raises(SlurmInputError, match="Invalid --time-min specification"):
        parse_time_limit("x", "--time-min")


def test_durations() -> None:
    assert format_duration_squeue(0) == "0:00"
    assert format_duration_squeue(4) == "0:04"  # squeue.txt "0:04"
    assert format_duration_squeue(67) == "1:07"
    assert format_duration_squeue(3723) == "1:02:03"
    assert format_duration_squeue(2 * 86400 + 3723) == "2-01:02:03"
    assert format_duration_sacct(0) == "00:00:00"  # sacct.txt Elapsed
    assert format_duration_sacct(89) == "00:01:29"  # job-states.txt RunTime=00:01:29
    assert format_duration_sacct(86400 + 7384) == "1-02:03:04"
    assert format_duration_sacct(-1) == "INVALID"


def test_timestamp() -> None:
    t = time.mktime((2026, 11, 29, 1, 15, 32, 0, 0, -1))
    assert format_timestamp(t) == "2026-11-29T01:15:32"
    assert format_timestamp(None) == "Unknown"
    assert format_timestamp(None, "N/A") == "N/A"
    assert format_timestamp(0, "None") == "None"


NOW = time.mktime((2026, 11, 29, 10, 30, 0, 0, 0, -1))


def _local(*fields: int) -> float:
    y, mo, d, h, mi, s = (list(fields) + [0, 0, 0])[:6]
    return time.mktime((y, mo, d, h, mi, s, 0, 0, -1))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("now", NOW),
        ("now+60", NOW + 60),
        ("now+1hour", NOW + 3600),
        ("now+2hours", NOW + 7200),
        ("now+1 minute", NOW + 60),
        ("now+3days", NOW + 3 * 86400),
        ("now+1week", NOW + 7 * 86400),
        ("now-30", NOW - 30),
        ("16:00", _local(2026, 11, 29, 16)),
        ("09:00", _local(2026, 11, 30, 9)),  # already past today -> tomorrow
        ("4:15:30pm", _local(2026, 11, 29, 16, 15, 30)),
        ("12:00am", _local(2026, 11, 30, 0)),
        ("midnight", _local(2026, 11, 30, 0)),
        ("noon", _local(2026, 11, 29, 12)),
        ("fika", _local(2026, 11, 29, 15)),
        ("teatime", _local(2026, 11, 29, 16)),
        ("today", _local(2026, 11, 29)),
        ("tomorrow", _local(2026, 11, 30)),
        ("tomorrow 08:00", _local(2026, 11, 30, 8)),
        ("2026-12-01", _local(2026, 12, 1)),
        ("2026-12-01T08:30", _local(2026, 12, 1, 8, 30)),
        ("2026-12-01T08:30:15", _local(2026, 12, 1, 8, 30, 15)),
        ("12/25", _local(2026, 12, 25)),
        ("01/02", _local(2027, 1, 2)),  # earlier in the year -> next year
        ("12/25/27", _local(2027, 12, 25)),
        ("1225", _local(2026, 12, 25)),
        ("12.25.27", _local(2027, 12, 25)),
        ("uts2000000000", 2000000000.0),
    ],
)
def test_begin_forms(value: str, expected: float) -> None:
    assert parse_begin(value, NOW) == expected


def test_begin_garbage_golden() -> None:
    # sbatch-errors.txt: "Invalid time specification (pos=0): garbage" then
    # "sbatch: error: Invalid --begin specification", exit 255
    with pytest.raises(SlurmValueError) as info:
        parse_begin("garbage", NOW)
    assert info.value.preamble == "Invalid time specification (pos=0): garbage"
    assert info.value.message == "Invalid --begin specification"
    assert info.value.exit_code == 255


@pytest.mark.parametrize(
    ("value", "pos"),
    [("now+", 3), ("now+1h", 4), ("25:00", 0), ("9:5", 3), ("Today", 1), ("4pm", 1), ("13/01", 0), ("xnow", 0)],
)
def test_begin_errors_with_position(value: str, pos: int) -> None:
    with pytest.raises(SlurmValueError) as info:
        parse_begin(value, NOW)
    assert info.value.preamble == f"Invalid time specification (pos={pos}): {value}"


@pytest.mark.parametrize("value", ["", "T", " ", "-"])
def test_begin_empty_has_no_preamble(value: str) -> None:
    with pytest.raises(SlurmValueError) as info:
        parse_begin(value, NOW)
    assert info.value.preamble is None
    assert info.value.message == "Invalid --begin specification"


def _random_text(rng: random.Random, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))


def test_fuzz_time_parsers_raise_only_slurm_errors() -> None:
    rng = random.Random(1234)
    alphabet = "0123456789:-+ TtnowdayhurmisecpkAPM/.\n\u00a0xU"
    for _ in range(4000):
        text = _random_text(rng, alphabet)
        try:
            minutes = parse_time_limit(text)
            format_time_limit(minutes)
            format_time_limit(minutes, "scontrol")
        except SlurmInputError:
            pass
        try:
            format_timestamp(parse_begin(text, NOW))
        except SlurmInputError:
            pass


@pytest.mark.parametrize(
    "value", ["now+99999999999999999weeks", "uts99999999999999999999", "now-9999999999999", "99999-01-01"]
)
def test_begin_out_of_range_is_a_slurm_error(value: str) -> None:
    with pytest.raises(SlurmValueError):
        parse_begin(value, NOW)


def test_timestamp_out_of_range_is_missing() -> None:
    assert format_timestamp(1e20) == "Unknown"


def test_fuzz_begin_with_long_numbers() -> None:
    rng = random.Random(99)
    heads = ["now+", "now-", "uts", "", "12/", "2026-", "tomorrow "]
    for _ in range(3000):
        text = rng.choice(heads) + "".join(rng.choice("0123456789:-/T ") for _ in range(rng.randint(0, 25)))
        text += rng.choice(["", "weeks", "days", "pm", "am", "hours"])
        try:
            format_timestamp(parse_begin(text, NOW))
        except SlurmInputError:
            pass


# ---------------------------------------------------------------- regressions found by fuzzing


def test_deadline_errors_name_deadline() -> None:
    # sbatch 22.05 arg_set_deadline(): error("Invalid --deadline specification"), exit 255
    with pytest.raises(SlurmValueError) as info:
        parse_begin("xyz", NOW, "--deadline")
    assert (info.value.message, info.value.exit_code) == ("Invalid --deadline specification", 255)
    assert info.value.preamble == "Invalid time specification (pos=0): xyz"
    with pytest.raises(SlurmValueError, match="^Invalid --deadline specification$"):
        parse_begin("", NOW, "--deadline")


@pytest.mark.parametrize("blank", ["\u00a0", "\u2003", "\u3000"])
def test_begin_delta_skips_only_c_blanks(blank: str) -> None:
    # _get_delta() skips C isspace() characters only: a Unicode blank is a bad character
    assert parse_begin("now+1 \t hour", NOW) == NOW + 3600
    with pytest.raises(SlurmValueError) as info:
        parse_begin(f"now+1{blank}hour", NOW)
    assert info.value.preamble == f"Invalid time specification (pos=4): now+1{blank}hour"
    with pytest.raises(SlurmValueError):
        parse_begin(f"4:00{blank}pm", NOW)


def test_begin_long_values_are_refused_not_slow() -> None:
    # a 100000-digit delta once took quadratic time (whole-rest slices and big-int growth)
    for text in ("now+" + "9" * 100_000, "T" * 100_000 + "x", "now+" + "1" * 50_000 + "hours"):
        with pytest.raises(SlurmValueError):
            parse_begin(text, NOW)
