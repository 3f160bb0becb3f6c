"""sinfo's output for the local backend's one partition and one node, in SLURM 22.05's formats.

Pure: the caller passes `config.Node`, a `NodeUsage` (what running jobs hold) and the clock.
`-o` takes %-codes with SLURM's widths (`%9P` pads on the right, `%.5a` on the left, values longer
than the width are cut); `-O` takes field names (`Partition:12`), 20 columns wide by default.
"""

from __future__ import annotations

from flowslurm.errors import SlurmInputError
from flowslurm.slurm.scontrol_format import VERSION, NodeUsage, node_gres, node_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from flowslurm.config import Node

    Getter = Callable[["Row"], str]

DEFAULT_FORMAT = "%9P %.5a %.10l %.6D %.6t %N"
LONG_FORMAT = "%9P %.5a %.10l %.10s %.4r %.8h %.10g %.6D %.11T %N"
SUMMARIZE_FORMAT = "%9P %.5a %.10l %.16F %N"
NODE_FORMAT = "%{n}N %.6D %.{p}P %6t"
NODE_LONG_FORMAT = "%{n}N %.6D %.{p}P %.11T %4c %.8z %.6m %.8d %.6w %.8f %20E"
LONG_FIELD_WIDTH = 20

_COMPACT = {"IDLE": "idle", "MIXED": "mix", "ALLOCATED": "alloc"}
_LONG = {"IDLE": "idle", "MIXED": "mixed", "ALLOCATED": "allocated"}


class Row:
    """What one output line describes: the partition and node, with the node's usage."""

    __slots__ = ("node", "usage", "state")

    def __init__(self, node: Node, usage: NodeUsage) -> None:
        self.node = node
        self.usage = usage
        self.state = node_state(node, usage)


def _cpus_state(r: Row) -> str:
    alloc = r.usage.alloc_cpus
    return f"{alloc}/{r.node.cpus - alloc}/0/{r.node.cpus}"


def _nodes_ai(r: Row) -> str:
    return "1/0" if r.state != "IDLE" else "0/1"


# letter -> (header, getter)
FIELDS: dict[str, tuple[str, Getter]] = {
    "a": ("AVAIL", lambda r: "up"),
    "A": ("NODES(A/I)", _nodes_ai),
    "b": ("ACTIVE_FEATURES", lambda r: "(null)"),
    "B": ("MAX_CPUS_PER_NODE", lambda r: "UNLIMITED"),
    "c": ("CPUS", lambda r: str(r.node.cpus)),
    "C": ("CPUS(A/I/O/T)", _cpus_state),
    "d": ("TMP_DISK", lambda r: "0"),
    "D": ("NODES", lambda r: "1"),
    "e": ("FREE_MEM", lambda r: str(r.usage.free_mem_mb)),
    "E": ("REASON", lambda r: "none"),
    "f": ("AVAIL_FEATURES", lambda r: "(null)"),
    "F": ("NODES(A/I/O/T)", lambda r: _nodes_ai(r) + "/0/1"),
    "g": ("GROUPS", lambda r: "all"),
    "G": ("GRES", lambda r: node_gres(r.node)),
    "h": ("OVERSUBSCRIBE", lambda r: "NO"),
    "l": ("TIMELIMIT", lambda r: "infinite"),
    "L": ("DEFAULTTIME", lambda r: "n/a"),
    "m": ("MEMORY", lambda r: str(r.node.memory_mb)),
    "n": ("HOSTNAMES", lambda r: r.node.name),
    "N": ("NODELIST", lambda r: r.node.name),
    "o": ("NODE_ADDR", lambda r: r.node.name),
    "O": ("CPU_LOAD", lambda r: f"{r.usage.cpu_load:.2f}"),
    "p": ("PRIO_TIER", lambda r: "1"),
    "P": ("PARTITION", lambda r: r.node.partition + "*"),
    "r": ("ROOT", lambda r: "no"),
    "R": ("PARTITION", lambda r: r.node.partition),
    "s": ("JOB_SIZE", lambda r: "1-infinite"),
    "S": ("ALLOCNODES", lambda r: "all"),
    "t": ("STATE", lambda r: _COMPACT[r.state]),
    "T": ("STATE", lambda r: _LONG[r.state]),
    "v": ("VERSION", lambda r: VERSION),
    "V": ("CLUSTER", lambda r: "N/A"),
    "w": ("WEIGHT", lambda r: "1"),
    "X": ("SOCKETS", lambda r: "1"),
    "Y": ("CORES", lambda r: str(r.node.cpus)),
    "Z": ("THREADS", lambda r: "1"),
    "z": ("S:C:T", lambda r: f"1:{r.node.cpus}:1"),
}

# -O field names (case-insensitive) -> -o letter
LONG_NAMES: dict[str, str] = {
    "available": "a", "nodeai": "A", "features_act": "b", "maxcpuspernode": "B", "cpus": "c", "cpusstate": "C",
    "disk": "d", "tmpdisk": "d", "nodes": "D", "freemem": "e", "reason": "E", "features": "f", "nodeaiot": "F",
    "groups": "g", "gres": "G", "oversubscribe": "h", "time": "l", "defaulttime": "L", "memory": "m",
    "nodehost": "n", "nodelist": "N", "nodeaddress": "o", "cpusload": "O", "prioritytier": "p",
    "partition": "P", "root": "r", "partitionname": "R", "size": "s", "allocnodes": "S", "statecompact": "t",
    "statelong": "T", "version": "v", "cluster": "V", "weight": "w", "sockets": "X", "cores": "Y",
    "threads": "Z", "socketcorethread": "z",
}


class Column:
    """One output column: a field (or literal text when `letter` is empty), its width and side."""

    __slots__ = ("letter", "width", "right", "text")

    def __init__(self, letter: str, width: int = 0, right: bool = False, text: str = "") -> None:
        self.letter = letter
        self.width = width
        self.right = right
        self.text = text


def compile_format(fmt: str) -> list[Column]:
    """Split an -o format into literal text and %[.][width]<letter> fields."""
    cols: list[Column] = []
    i = 0
    literal = ""
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            literal += ch
            i += 1
            continue
        i += 1
        right = i < len(fmt) and fmt[i] == "."
        if right:
            i += 1
        digits = ""
        while i < len(fmt) and fmt[i].isdigit() and fmt[i].isascii():
            digits += fmt[i]
            i += 1
        if i >= len(fmt):
            literal += "%"
            break
        letter = fmt[i]
        i += 1
        if letter not in FIELDS:
            raise SlurmInputError(f"Invalid node format specification: {letter}", 1)
        if literal:
            cols.append(Column("", text=literal))
            literal = ""
        cols.append(Column(letter, min(int(digits[:6]), 99999) if digits else 0, right))
    if literal:
        cols.append(Column("", text=literal))
    return cols


def compile_long_format(spec: str) -> list[Column]:
    """-O: comma separated names, each with an optional ":width" (":." would right-justify)."""
    cols: list[Column] = []
    for item in spec.split(","):
        if not item:
            continue
        name, _, width_text = item.partition(":")
        right = width_text.startswith(".")
        width_text = width_text.lstrip(".")
        letter = LONG_NAMES.get(name.lower())
        if letter is None:
            raise SlurmInputError(f"Invalid node format specification: {name}", 1)
        width = LONG_FIELD_WIDTH
        if width_text:
            if not (width_text.isdigit() and width_text.isascii()):
                raise SlurmInputError(f"Invalid node format specification: {item}", 1)
            width = min(int(width_text[:6]), 99999)
        cols.append(Column(letter, width, right))
    return cols


def _cell(text: str, col: Column) -> str:
    if col.width <= 0:
        return text
    text = text[:col.width]
    return text.rjust(col.width) if col.right else text.ljust(col.width)


def render_line(cols: list[Column], row: Row | None) -> str:
    """One line: the header (row None) or the values of `row`."""
    parts = []
    for col in cols:
        if not col.letter:
            parts.append(col.text)
            continue
        header, getter = FIELDS[col.letter]
        parts.append(_cell(header if row is None else getter(row), col))
    return "".join(parts)


def choose_format(fmt: str | None, long_fmt: str | None, *, long: bool, node_oriented: bool, summarize: bool,
                  node: Node) -> list[Column]:
    """The columns for the options given, as sinfo picks them."""
    if long_fmt is not None:
        return compile_long_format(long_fmt)
    if fmt is not None:
        return compile_format(fmt)
    if summarize:
        return compile_format(SUMMARIZE_FORMAT)
    if node_oriented:
        template = NODE_LONG_FORMAT if long else NODE_FORMAT
        return compile_format(template.format(n=max(9, len(node.name)), p=max(9, len(node.partition) + 1)))
    return compile_format(LONG_FORMAT if long else DEFAULT_FORMAT)


def render(cols: list[Column], node: Node, usage: NodeUsage, *, header: bool = True, partitions: list[str] | None = None,
           nodes: list[str] | None = None, states: list[str] | None = None, long: bool = False,
           now_text: str = "") -> str:
    """The whole report: the date line for -l, the header, and the partition's line when it is selected."""
    row = Row(node, usage)
    out = []
    if long and now_text:
        out.append(now_text)
    if header:
        out.append(render_line(cols, None))
    wanted = True
    if partitions is not None and node.partition not in partitions:
        wanted = False
    if nodes is not None and node.name not in nodes:
        wanted = False
    if states is not None and not {_COMPACT[row.state], _LONG[row.state]} & {s.lower() for s in states}:
        wanted = False
    if wanted:
        out.append(render_line(cols, row))
    return "".join(line + "\n" for line in out)


def parse_states(text: str) -> list[str]:
    """-t/--states: node state names; unknown ones are refused as sinfo does."""
    known = {"alloc", "allocated", "idle", "mix", "mixed", "down", "drain", "drained", "draining", "fail",
             "future", "maint", "resv", "reserved", "unk", "unknown", "comp", "completing", "cloud", "power_down",
             "powered_down", "power_up", "planned", "inval", "no_respond", "all", "reboot", "perfctrs", "power_down"}
    states = [s for s in text.split(",") if s]
    for s in states:
        if s.lower() not in known:
            raise SlurmInputError(f"Bad node state specification: {s}", 1, label="bare")
    if any(s.lower() == "all" for s in states):
        return ["idle", "mixed", "allocated"]
    return states
