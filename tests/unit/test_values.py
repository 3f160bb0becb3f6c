"""Tests for flowslurm.slurm.values: memory, GRES/GPUs, arrays, signals, counts and node ranges."""

from __future__ import annotations

import random
import re

import pytest

from flowslurm.errors import SlurmInputError, SubmitError
from flowslurm.slurm.values import (
    SIGNALS,
    SlurmValueError,
    format_array_tasks,
    format_index_ranges,
    format_memory,
    parse_array,
    parse_count,
    parse_gpus,
    parse_gres,
    parse_index_set,
    parse_memory,
    parse_nodes,
    parse_signal,
    parse_signal_spec,
)
from tests.cli.golden import GOLDEN

ARRAY_ERROR = "Batch job submission failed: Invalid job array specification"  # sbatch-errors.txt


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize(
    ("value", "mib"),
    [
        ("4096", 4096),
        ("4G", 4096),
        ("4g", 4096),
        ("4GB", 4096),  # real-scripts.md: NGB is the second most common form
        ("4gb", 4096),
        ("200M", 200),
        ("200MB", 200),
        ("1T", 1024 * 1024),
        ("1TB", 1024 * 1024),
        ("512K", 1),  # kilobytes round up to whole MiB
        ("1025k", 2),
        ("0", 0),  # "all memory"
    ],
)
def test_memory_forms(value: str, mib: int) -> None:
    assert parse_memory(value) == mib


@pytest.mark.parametrize("value", ["abc", "", "-1", "1.5G", "4 G", "4Gi", "GB", "MaxMemPerNode", "2G\\", "4GBB"])
def test_memory_refused(value: str) -> None:
    # sbatch-errors.txt: "sbatch: error: Invalid --mem specification", exit 255
    with pytest.raises(SlurmInputError) as info:
        parse_memory(value)
    assert info.value.message == "Invalid --mem specification"
    assert info.value.exit_code == 255


def test_memory_option_name_in_message() -> None:
    with pytest.raises(SlurmInputError, match="^Invalid --mem-per-cpu specification$"):
        parse_memory("MaxMemPerCPU", "--mem-per-cpu")


@pytest.mark.parametrize(("mib", "text"), [(1024, "1G"), (954, "954M"), (200, "200M"), (1536, "1536M"), (24105, "24105M"), (2 * 1024 * 1024, "2T"), (0, "0")])
def test_format_memory(mib: int, text: str) -> None:
    # sacct.txt ReqMem "1G"; sinfo-scontrol.txt mem=24105M
    assert format_memory(mib) == text


# ---------------------------------------------------------------- gres / gpus


def test_gres_forms() -> None:
    assert parse_gres("gpu:2") == [("gpu", None, 2)]
    assert parse_gres("gpu:a100:4") == [("gpu", "a100", 4)]
    assert parse_gres("gpu") == [("gpu", None, 1)]
    assert parse_gres("gpu:a100") == [("gpu", "a100", 1)]
    assert parse_gres("gpu:0") == [("gpu", None, 0)]
    assert parse_gres("gpu:tesla:1,mps:100") == [("gpu", "tesla", 1), ("mps", None, 100)]
    assert parse_gres("none") == []


def test_gres_unknown_name_only_with_known_set() -> None:
    # sbatch-errors.txt: --gres=tpu:1 -> "sbatch: error: Invalid generic resource (gres) specification", exit 1
    assert parse_gres("tpu:1") == [("tpu", None, 1)]
    with pytest.raises(SlurmInputError) as info:
        parse_gres("tpu:1", known={"gpu"})
    assert info.value.message == "Invalid generic resource (gres) specification"
    assert info.value.exit_code == 1
    assert parse_gres("gpu:9", known={"gpu"}) == [("gpu", None, 9)]


@pytest.mark.parametrize("value", ["", "gpu:", ":1", "gpu:a:b", "gpu:1:2:3", "gpu:2\u00a0", "gpu:GeForce GTX 1080 Ti:1", "gpu,,mps"])
def test_gres_refused(value: str) -> None:
    with pytest.raises(SlurmInputError, match=r"^Invalid generic resource \(gres\) specification$"):
        parse_gres(value)


def test_gpus_forms() -> None:
    assert parse_gpus("2") == [("gpu", None, 2)]
    assert parse_gpus("a100:2") == [("gpu", "a100", 2)]
    assert parse_gpus("A100:1") == [("gpu", "A100", 1)]
    assert parse_gpus("a100") == [("gpu", "a100", 1)]
    assert parse_gpus("gpu:2") == [("gpu", None, 2)]
    assert parse_gpus("0") == [("gpu", None, 0)]
    assert parse_gpus("a100:1,v100:2") == [("gpu", "a100", 1), ("gpu", "v100", 2)]
    with pytest.raises(SlurmInputError):
        parse_gpus("a100:x")


# ---------------------------------------------------------------- arrays


def test_array_forms() -> None:
    spec = parse_array("0-3%2")
    assert spec is not None and spec.indices == [0, 1, 2, 3] and spec.throttle == 2
    assert spec.text == "0-3%2"  # arrays-dependencies.txt: squeue shows 255_[0-3%2]
    spec = parse_array("1,3,5-7")
    assert spec is not None and spec.text == "1,3,5-7"  # 260_[1,3,5-7], ArrayTaskId=1,3,5-7
    spec = parse_array("0-10:5")
    assert spec is not None and spec.indices == [0, 5, 10] and spec.text == "0,5,10"  # 261_[0,5,10]
    spec = parse_array("7")
    assert spec is not None and spec.indices == [7]
    spec = parse_array("0-999:2%8")
    assert spec is not None and len(spec.indices) == 500 and spec.throttle == 8 and spec.text == "0-998:2%8"
    spec = parse_array("[1-3]")
    assert spec is not None and spec.indices == [1, 2, 3]
    spec = parse_array("1000")
    assert spec is not None and spec.indices == [1000]


@pytest.mark.parametrize("value", ["0-3%", "0-3%0"])
def test_array_empty_or_zero_throttle(value: str) -> None:
    # sbatch-errors.txt: both accepted, four tasks, no throttle
    spec = parse_array(value)
    assert spec is not None and spec.indices == [0, 1, 2, 3] and spec.throttle == 0 and spec.text == "0-3"


def test_empty_array_is_not_an_array() -> None:
    assert parse_array("") is None  # sbatch-errors.txt: --array= makes a plain job


@pytest.mark.parametrize("value", ["a-b", "5-1", "-1", "0-10:0", "1001", "0-5000", ",", "1-@@NTASKS@@%2", "0-10:1001"])
def test_array_refused(value: str) -> None:
    with pytest.raises(SubmitError) as info:
        parse_array(value)
    assert info.value.message == ARRAY_ERROR
    assert info.value.exit_code == 1


def test_array_max_size_parameter() -> None:
    assert parse_array("0-10", max_array_size=11) is not None
    with pytest.raises(SubmitError):
        parse_array("0-11", max_array_size=11)


def test_array_errors_against_transcript() -> None:
    path = GOLDEN / "sbatch-errors.txt"
    if not path.exists():
        pytest.skip("golden file not present")
    found = re.findall(r"^\$ sbatch --array=(\S*) --wrap true\n--- stdout ---\n(.*?)--- stderr ---\n(.*?)--- exit", path.read_text(), re.S | re.M)
    assert len(found) >= 8
    for value, out, err in found:
        if out.startswith("Submitted"):
            parse_array(value)
        else:
            with pytest.raises(SubmitError) as info:
                parse_array(value)
            assert err.strip() == f"sbatch: error: {info.value.message}"


def test_format_index_ranges() -> None:
    assert format_index_ranges([0, 1, 2, 3, 5, 7, 8, 9]) == "0-3,5,7-9"
    assert format_index_ranges([9, 7, 8, 8]) == "7-9"
    assert format_index_ranges([4]) == "4"
    assert format_index_ranges([]) == ""
    assert format_index_ranges([5, 6]) == "5-6"


def test_format_array_tasks() -> None:
    assert format_array_tasks(range(4, 1000), 8) == "4-999%8"
    assert format_array_tasks([0, 5, 10]) == "0,5,10"  # span not above 10: listed
    assert format_array_tasks(list(range(3, 40, 3))) == "3-39:3"
    long_list = [i for i in range(300) if i % 3]
    text = format_array_tasks(long_list)
    assert len(text) == 63 and text.endswith("...")
    assert format_array_tasks(long_list, bitstr_len=0) == format_index_ranges(long_list)


def test_parse_index_set() -> None:
    assert parse_index_set("1-3,5") == [1, 2, 3, 5]
    assert parse_index_set("[1,3-5]") == [1, 3, 4, 5]
    assert parse_index_set("3-1") is None
    assert parse_index_set("a") is None


# ---------------------------------------------------------------- signals


@pytest.mark.parametrize(("value", "num"), [("USR1", 10), ("usr1", 10), ("SIGUSR1", 10), ("sigterm", 15), ("KILL", 9), ("9", 9), ("15", 15), (" TERM ", 15), ("HUP", 1), ("XCPU", 24)])
def test_signal_names(value: str, num: int) -> None:
    assert parse_signal(value) == num


@pytest.mark.parametrize("value", ["FOO", "", "0", "SIG", "USR3", "9x", "-9", "SEGV"])
def test_signal_refused(value: str) -> None:
    # scancel prints this line bare (no "scancel: error:") and exits 1
    with pytest.raises(SlurmValueError) as info:
        parse_signal(value)
    assert info.value.message == f"Unknown job signal: {value}"
    assert info.value.level == "bare"
    assert info.value.exit_code == 1


def test_signals_table() -> None:
    assert SIGNALS["TERM"] == 15 and SIGNALS["USR2"] == 12 and SIGNALS["CONT"] == 18


def test_signal_spec() -> None:
    assert parse_signal_spec("USR1") == (10, 60, "")
    assert parse_signal_spec("B:USR1@120") == (10, 120, "B")
    assert parse_signal_spec("R:TERM@30") == (15, 30, "R")
    assert parse_signal_spec("BR:10@5") == (10, 5, "BR")
    assert parse_signal_spec("SIGINT@0") == (2, 0, "")
    assert parse_signal_spec("USR2@") == (12, 0, "")
    # recorded against sbatch 22.05.8's own parser (get_signal_opts): a number is kept as a uint16,
    # "R" and "B" are peeled off in that order (so "BUS" is "B" + "US"), the seconds allow no blanks after
    assert parse_signal_spec("65") == (65, 60, "")
    assert parse_signal_spec("-1") == (65535, 60, "")
    assert parse_signal_spec("65537") == (1, 60, "")
    assert parse_signal_spec("RB:USR1") == (10, 60, "BR")
    assert parse_signal_spec("busr1@ 5") == (10, 5, "B")
    assert parse_signal_spec(":USR1@+5") == (10, 5, "")


@pytest.mark.parametrize("value", ["", "FOO", "USR1@x", "USR1@70000", "USR1@-1", "B:", "10@5s", "0", "65536", "BUS",
                                   "R:B:USR1", "BB:USR1", "USR1@5 ", "USR1@5@6", "::USR1", "X:USR1", "SIGRTMIN"])
def test_signal_spec_refused(value: str) -> None:
    with pytest.raises(SlurmValueError) as info:
        parse_signal_spec(value)
    assert info.value.message == "Invalid --signal specification"
    assert info.value.exit_code == 255


# ---------------------------------------------------------------- counts and nodes


def test_count() -> None:
    assert parse_count("4", "--ntasks") == 4
    assert parse_count("0", "--core-spec", positive=False) == 0


@pytest.mark.parametrize("value", ["abc", "", "0", "-1", "4x", "1.5"])
def test_count_refused(value: str) -> None:
    # sbatch-errors.txt: sbatch -n abc -> 'sbatch: error: Invalid numeric value "abc" for --ntasks.', exit 1
    with pytest.raises(SubmitError) as info:
        parse_count(value, "--ntasks")
    assert info.value.message == f'Invalid numeric value "{value}" for --ntasks.'
    assert info.value.exit_code == 1


def test_nodes() -> None:
    assert parse_nodes("2") == (2, 2)
    assert parse_nodes("1-4") == (1, 4)
    assert parse_nodes("-3") == (1, 3)
    assert parse_nodes("2k") == (2048, 2048)
    assert parse_nodes("1-0") == (1, 0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x", '"x" is not a valid node count'),
        ("", '"" is not a valid node count'),
        ("2x-4", '"2x" is not a valid node count'),
        ("2-y", '"y" is not a valid node count'),
        ("4-2", "Maximum node count 2 is less than minimum node count 4"),
        ("2-", "Maximum node count -1 is less than minimum node count 2"),
    ],
)
def test_nodes_refused(value: str, message: str) -> None:
    with pytest.raises(SlurmValueError) as info:
        parse_nodes(value)
    assert info.value.message == message
    assert info.value.exit_code == 255


# ---------------------------------------------------------------- fuzz


def test_fuzz_value_parsers_raise_only_slurm_errors() -> None:
    rng = random.Random(2024)
    alphabet = "0123456789-:,%[]_*+.@ kKmMgGtTbBRSIGUSR:gpuA\u00a0x"
    parsers = [
        parse_memory,
        parse_gres,
        parse_gpus,
        parse_array,
        parse_signal,
        parse_signal_spec,
        lambda s: parse_count(s, "--ntasks"),
        parse_nodes,
        parse_index_set,
    ]
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        for parse in parsers:
            try:
                parse(text)
            except SlurmInputError:
                pass


def test_huge_numbers_raise_only_slurm_errors() -> None:
    # 5000 digits would make a bare int() raise ValueError (Python's digit limit)
    from flowslurm.slurm.jobrefs import parse_dependency, parse_job_ids
    from flowslurm.slurm.timeparse import parse_begin, parse_time_limit

    big = "1" * 5000
    calls = [
        lambda: parse_time_limit(big),
        lambda: parse_memory(big),
        lambda: parse_gres("gpu:" + big),
        lambda: parse_array("1-" + big),
        lambda: parse_index_set("1-" + big),
        lambda: parse_signal(big),
        lambda: parse_signal_spec("1@" + big),
        lambda: parse_count(big, "--ntasks"),
        lambda: parse_nodes(big),
        lambda: parse_job_ids(["1_[" + big + "]"]),
        lambda: parse_job_ids([big], "sacct"),
        lambda: parse_dependency("afterok:" + big),
        lambda: parse_begin("uts" + big, 0.0),
    ]
    for call in calls:
        try:
            call()
        except SlurmInputError:
            pass
    with pytest.raises(SubmitError):
        parse_array("1-" + big)
    with pytest.raises(SlurmInputError):
        parse_memory(big)


# ---------------------------------------------------------------- regressions found by fuzzing


def test_counts_are_c_ints() -> None:
    # SLURM's parse_int() returns its C long as an int; sbatch refuses a negative -n later on
    assert parse_count("4294967297", "--ntasks") == 1
    assert parse_count("2147483648", "--ntasks") == -(2**31)
    assert parse_count("4611686018427387904", "--ntasks") == 0
    with pytest.raises(SubmitError, match=r"^Numeric argument \(9223372036854775807\) to big for --ntasks\.$"):
        parse_count("9" * 5000, "--ntasks")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("4294967297", (1, 1)), ("4194304k", (0, 0)), ("1-4294967298", (1, 2)), ("2097152m", (0, 0))],
)
def test_node_counts_are_c_ints(value: str, expected: tuple[int, int]) -> None:
    # _str_to_nodes() multiplies a C long and returns it as an int: node counts always fit 32 bits
    assert parse_nodes(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2147483648", '"2147483648" is not a valid node count'),
        ("9999999999999999999k", '"9999999999999999999k" is not a valid node count'),
        ("1-2147483648", "Maximum node count -2147483648 is less than minimum node count 1"),
    ],
)
def test_node_counts_that_wrap_negative(value: str, message: str) -> None:
    with pytest.raises(SlurmValueError) as info:
        parse_nodes(value)
    assert (info.value.message, info.value.exit_code) == (message, 255)


def test_index_set_saturates_like_strtol() -> None:
    # a task id past LONG_MAX once reached SQLite and crashed scancel ("1_[99999999999999999999]")
    assert parse_index_set("99999999999999999999") == [2**63 - 1]
    assert parse_index_set("[1," + "9" * 5000 + "]") == [1, 2**63 - 1]
