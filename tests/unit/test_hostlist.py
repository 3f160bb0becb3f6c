"""Tests for flowslurm.slurm.hostlist.

Expected outputs are what SLURM 22.05.8's `scontrol show hostnames|hostlist|hostlistsorted` print
(checked against the binary; the last test repeats that comparison when scontrol 22.05 is installed).
The golden files show SLURM_JOB_NODELIST=vm (env-vars.txt).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from flowslurm.errors import SlurmInputError
from flowslurm.slurm.hostlist import HostlistError, compress, count, expand, normalize


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("node[1-3,5],other", ["node1", "node2", "node3", "node5", "other"]),
        ("n[001-003]", ["n001", "n002", "n003"]),
        ("vm", ["vm"]),  # env-vars.txt: SLURM_JOB_NODELIST=vm
        ("", []),
        (" , ,\t", []),
        ("a b\tc,,d", ["a", "b", "c", "d"]),
        ("n[9-11]", ["n9", "n10", "n11"]),
        ("n[09-11]", ["n09", "n10", "n11"]),
        ("n[1-010]", ["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10"]),  # width of the low end
        ("n[001-3]", ["n001", "n002", "n003"]),
        ("n[3,1,2,1]", ["n3", "n1", "n2", "n1"]),  # order and duplicates kept
        ("r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]),
        ("r[1-2]-n[01-02]", ["r1-n01", "r1-n02", "r2-n01", "r2-n02"]),
        ("a[1-2]b[1]c[5-6]", ["a1b1c5", "a1b1c6", "a2b1c5", "a2b1c6"]),
        ("n[1-2],m[3]", ["n1", "n2", "m3"]),
        ("n1-3", ["n1-3"]),  # no brackets: a plain name
        ("123", ["123"]),
        ("n[1,  2]", ["n1", "n002"]),  # blanks inside brackets count towards the width
        ("n[+1]", ["n01"]),
        ("n[1-]", ["n1"]),
        ("n[1a-3]", ["n01", "n02", "n03"]),  # junk after the low end is ignored when a high end exists
        ("n[1", ["n]"]),  # SLURM's reading of a "[" without "]"
        ("[1", ["1"]),
        ("n[1,2", ["n]", "2"]),
        ("a[b[1-2]", ["a[b1", "a[b2"]),
        ("n[0-65535]", None),
    ],
)
def test_expand(text: str, names: list[str] | None) -> None:
    result = expand(text)
    if names is None:
        assert len(result) == 65536 and result[-1] == "n65535"
    else:
        assert result == names


@pytest.mark.parametrize(
    ("text", "diagnostics"),
    [
        ("n[5-1]", ["_parse_single_range: Invalid range: `5-1'"]),
        ("n[]", ["_parse_single_range: Invalid range: `'"]),
        ("n[1,]", ["_parse_single_range: Invalid range: `'"]),
        ("n[a]", ["_parse_single_range: Invalid range: `a'"]),
        ("n[1x2]", ["_parse_single_range: Invalid range: `1x2'"]),
        ("n[1--2]", ["_parse_single_range: Invalid range: `1--2'"]),
        ("n[-1]", ["_parse_single_range: Invalid range: `-1'"]),
        ("n[1-2-3]", ["_parse_single_range: Invalid range: `1-2-3'"]),
        ("n[1-70000]", ["_parse_single_range: Too many hosts in range `1-70000'"]),
        ("n[1-2]x", []),  # nothing may follow the last "]"
        ("n[1]]", []),
        ("a[0-70000]b[1]", ["_parse_single_range: Too many hosts in range `0-70000'"]),
        ("a[0-40000,0-40000]b[1]", []),  # more than 64K prefixes
    ],
)
def test_invalid(text: str, diagnostics: list[str]) -> None:
    with pytest.raises(HostlistError) as info:
        expand(text)
    assert info.value.message == f"Invalid hostlist: {text}"
    assert info.value.diagnostics == diagnostics
    assert info.value.exit_code == 1
    assert isinstance(info.value, SlurmInputError)


def test_inner_group_failure_is_logged_not_fatal() -> None:
    logged: list[str] = []
    assert expand("a[5-1]b[1-2]c[3]", logged) == []
    assert logged == ["_parse_single_range: Invalid range: `5-1'"] * 2


def test_too_many_hosts_is_refused() -> None:
    with pytest.raises(HostlistError):
        expand("a[0-65535]b[0-65535]")


def test_count() -> None:
    assert count("n[1-3,5],x") == 5
    assert count("a[0-99]b[0-99]") == 10000


@pytest.mark.parametrize(
    ("names", "text"),
    [
        (["node1", "node2", "node3", "node5", "other"], "node[1-3,5],other"),
        (["vm"], "vm"),
        ([], ""),
        (["n001", "n002", "n003"], "n[001-003]"),
        (["n9", "n10"], "n[9-10]"),
        (["n09", "n10"], "n[09-10]"),
        (["n99", "n100"], "n[99-100]"),
        (["n1", "n02"], "n[1,02]"),
        (["n3", "n1", "n2"], "n[3,1-2]"),  # order is kept
        (["n1", "n1"], "n[1,1]"),
        (["a", "b", "a"], "a,b,a"),
        (["n1", "x", "n2"], "n1,x,n2"),
        (["x1", "x"], "x1,x"),
        (["12", "13"], "[12-13]"),
        (["r1n1", "r1n2", "r2n1"], "r1n[1-2],r2n1"),
    ],
)
def test_compress(names: list[str], text: str) -> None:
    assert compress(names) == text


@pytest.mark.parametrize(
    ("names", "text"),
    [
        (["n3", "n1", "n2"], "n[1-3]"),
        (["n10", "n9", "m1"], "m1,n[9-10]"),
        (["n1", "n1"], "n[1,1]"),
        (["a010", "a99", "a100", "a09", "n01", "n100"], "a[09,99-100,010],n[01,100]"),
    ],
)
def test_compress_sorted(names: list[str], text: str) -> None:
    assert compress(names, sort=True) == text


@pytest.mark.parametrize(
    ("text", "plain", "sorted_text"),
    [
        ("n[1-3],n[4-6],x", "n[1-6],x", "n[1-6],x"),
        ("n[4-6],n[1-3]", "n[4-6,1-3]", "n[1-6]"),
        ("n[1-5],n[3-7]", "n[1-5,3-7]", "n[1-3,3-4,4-5,5-7]"),
        ("n[1-10],n05", "n[1-10,05]", "n[1-10,05]"),
    ],
)
def test_normalize(text: str, plain: str, sorted_text: str) -> None:
    assert normalize(text) == plain
    assert normalize(text, sort=True) == sorted_text


def test_round_trip() -> None:
    rng = random.Random(7)
    for _ in range(300):
        names = [f"{rng.choice(['n', 'gpu', 'a1b'])}{rng.randint(0, 30):0{rng.choice([1, 2, 3])}d}"
                 for _ in range(rng.randint(1, 12))]
        assert expand(compress(names)) == names


def test_compress_rejects_empty_names() -> None:
    with pytest.raises(HostlistError):
        compress(["n1", ""])


def test_fuzz_only_hostlist_errors() -> None:
    rng = random.Random(4242)
    atoms = ["n", "[", "]", ",", "-", "1", "0", "09", "10", " ", "\t", "x", "+", "a", "é", "\n", "999999999999999999999"]
    for _ in range(4000):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 12)))
        for call in (expand, count, normalize, lambda t: normalize(t, sort=True),
                     lambda t: compress(t.split(",")), lambda t: compress(t.split(","), sort=True)):
            try:
                call(text)
            except SlurmInputError:
                pass


_CONF = ("ClusterName=scratch\nSlurmctldHost=localhost\nSlurmctldPort=61917\n"
         "NodeName=vm CPUs=1 State=UNKNOWN\nPartitionName=debug Nodes=vm Default=YES\n")


@pytest.fixture()
def scontrol(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """scontrol 22.05 with a private slurm.conf, which it needs for local commands (no daemon)."""
    path = shutil.which("scontrol")
    if not path:
        pytest.skip("needs scontrol from SLURM 22.05")
    conf = tmp_path / "slurm.conf"
    conf.write_text(_CONF)
    env = dict(os.environ, SLURM_CONF=str(conf))
    try:
        version = subprocess.run([path, "--version"], env=env, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        version = ""
    if not version.startswith("slurm 22.05") and not version.startswith("slurm-wlm 22.05"):
        pytest.skip("needs scontrol from SLURM 22.05")
    return path, env


@pytest.mark.skipif(not os.environ.get("FLOWSLURM_ORACLE_TESTS"), reason="opt-in: FLOWSLURM_ORACLE_TESTS=1")
def test_against_real_scontrol(scontrol: tuple[str, dict[str, str]]) -> None:
    # Opt-in, like the sbatch oracle test: it needs SLURM 22.05's scontrol installed by hand, and
    # the real binary's error prefix was seen to differ between a terminal and CI's environment.
    """Differential check against the real binary on random hostlists."""
    path, env = scontrol
    rng = random.Random(99)
    atoms = ["n", "a", "[", "]", ",", "-", "1", "2", "0", "09", "10", "001", " ", "x", "3-5", "[1-3]",
             "[01-2]", "99", "100", "n[1-5]", "n[3-7],"]
    for _ in range(150):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 8)))
        for sub, ours in (("hostnames", lambda t, d: "".join(h + "\n" for h in expand(t, d))),
                          ("hostlist", lambda t, d: normalize(t, diagnostics=d) + "\n"),
                          ("hostlistsorted", lambda t, d: normalize(t, sort=True, diagnostics=d) + "\n")):
            real = subprocess.run([path, "--", "show", sub, text], env=env,
                                  capture_output=True, text=True, timeout=20)
            logged: list[str] = []
            try:
                out, err = ours(text, logged), ""
            except HostlistError as exc:
                out, err = "", exc.message + "\n"
                logged = exc.diagnostics
            err = "".join(f"scontrol: error: {line}\n" for line in logged) + err
            assert (out, err) == (real.stdout, real.stderr), (sub, text)
