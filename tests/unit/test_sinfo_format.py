"""sinfo report formats against sinfo-scontrol.txt, byte for byte."""

from __future__ import annotations

import random

import pytest

from flowslurm.config import Node
from flowslurm.errors import SlurmInputError
from flowslurm.slurm import sinfo_format as fmt
from flowslurm.slurm.scontrol_format import NodeUsage
from tests.cli.golden import GOLDEN as GOLDEN_DIR

GOLDEN = GOLDEN_DIR / "sinfo-scontrol.txt"
NODE = Node(name="vm", cpus=2, memory_mb=24105, gpus=8, partition="debug", def_mem_per_cpu_mb=1024,
            kill_wait_s=30, cluster="oracle", account="")
IDLE = NodeUsage()
needs_golden = pytest.mark.skipif(not GOLDEN.is_file(), reason="golden transcripts not available")


def _stdout(command: str) -> str:
    text = GOLDEN.read_text()
    head = f"$ {command}\n--- stdout ---\n"
    start = text.index(head) + len(head)
    return text[start:text.index("--- stderr ---", start)]


def _report(fmt_text: str | None = None, long_fmt: str | None = None, *, long: bool = False, node: bool = False,
            summarize: bool = False, header: bool = True, partitions: list[str] | None = None) -> str:
    cols = fmt.choose_format(fmt_text, long_fmt, long=long, node_oriented=node, summarize=summarize, node=NODE)
    return fmt.render(cols, NODE, IDLE, header=header, partitions=partitions, long=long,
                      now_text="Sun Nov 29 01:02:10 2026")


@needs_golden
@pytest.mark.parametrize(("command", "kwargs"), [
    ("sinfo", {}),
    ("sinfo -h -o %P", {"fmt_text": "%P", "header": False}),
    ('sinfo -h -o "%P %a %l %D %t %N"', {"fmt_text": "%P %a %l %D %t %N", "header": False}),
    ('sinfo -o "%P %G %C %m %c"', {"fmt_text": "%P %G %C %m %c"}),
    ("sinfo -N", {"node": True}),
    ("sinfo -N -l", {"node": True, "long": True}),
    ("sinfo -l", {"long": True}),
    ("sinfo -s", {"summarize": True}),
    ("sinfo -p debug", {"partitions": ["debug"]}),
    ("sinfo -p nosuchpart", {"partitions": ["nosuchpart"]}),
    ("sinfo -O Partition,Available,Nodes,StateLong,Gres", {"long_fmt": "Partition,Available,Nodes,StateLong,Gres"}),
])
def test_golden_forms(command: str, kwargs: dict[str, object]) -> None:
    assert _report(**kwargs) == _stdout(command)  # type: ignore[arg-type]


def test_states_follow_running_jobs() -> None:
    cols = fmt.compile_format("%t %T %C %A %F")
    assert fmt.render(cols, NODE, NodeUsage(alloc_cpus=1), header=False) == "mix mixed 1/1/0/2 1/0 1/0/0/1\n"
    assert fmt.render(cols, NODE, NodeUsage(alloc_cpus=2), header=False) == "alloc allocated 2/0/0/2 1/0 1/0/0/1\n"
    assert fmt.render(cols, NODE, IDLE, header=False, states=["alloc"]) == ""


def test_widths_cut_and_justify() -> None:
    assert fmt.render(fmt.compile_format("%3P|%.8N|"), NODE, IDLE, header=False) == "deb|      vm|\n"
    gpuless = Node("n", 1, 10, 0, "p", 1, 1, "c", "")
    assert fmt.render(fmt.compile_format("%G"), gpuless, IDLE, header=False) == "(null)\n"


def test_bad_specifications() -> None:
    with pytest.raises(SlurmInputError):
        fmt.compile_long_format("NoSuchField")
    with pytest.raises(SlurmInputError):
        fmt.parse_states("bogus")


def test_fuzz_formats_raise_only_slurm_errors() -> None:
    rng = random.Random(42)
    alphabet = "%.0123456789aPNtTlDGCcmx:, "
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        for compile_ in (fmt.compile_format, fmt.compile_long_format):
            try:
                cols = compile_(text)
            except SlurmInputError:
                continue
            assert fmt.render(cols, NODE, IDLE).endswith("\n") or not cols
