"""A small declarative option parser for `flow` subcommands: one table drives parsing, `--help`
and shell completion.

Why not argparse: it imports `re` and `gettext` (milliseconds on every `flow status`), and its
help and completion would need a second description of the same options. This one reads
`--long=value`, `--long value`, `-s value`, `-svalue`, flags, repeated options, `--` (everything
after it is positional), and options between positionals (`flow logs task-1 -f`). A mistyped
option is a UsageError that names the closest real one.
"""

from __future__ import annotations

from flowslurm.api.errors import UsageError
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Command", "Opt", "Parsed", "parse", "render_help"]

FLAG, VALUE, MULTI = "flag", "value", "multi"


class Opt(FrozenRecord):
    """One option: its spellings ("-i", "--instance-type"), where its value goes, and its help."""

    __slots__ = ("names", "dest", "kind", "metavar", "help", "choices", "number")

    def __init__(self, names: tuple[str, ...], dest: str, kind: str = FLAG, metavar: str = "", help: str = "",
                 choices: tuple[str, ...] = (), number: str = "") -> None:
        for slot, value in zip(self.__slots__, (names, dest, kind, metavar or dest.upper(), help, choices, number)):
            object.__setattr__(self, slot, value)

    if TYPE_CHECKING:
        names: tuple[str, ...]
        dest: str
        kind: str
        metavar: str
        help: str
        choices: tuple[str, ...]
        number: str  # "int" or "float": converted and checked


class Command(FrozenRecord):
    """A subcommand: usage line, summary, options, and examples for its help."""

    __slots__ = ("name", "usage", "summary", "options", "examples", "positionals")

    def __init__(self, name: str, usage: str, summary: str, options: tuple[Opt, ...],
                 examples: tuple[str, ...] = (), positionals: str = "") -> None:
        for slot, value in zip(self.__slots__, (name, usage, summary, options, examples, positionals)):
            object.__setattr__(self, slot, value)

    if TYPE_CHECKING:
        name: str
        usage: str
        summary: str
        options: tuple[Opt, ...]
        examples: tuple[str, ...]
        positionals: str  # what completion offers for positionals: "task", "volume", "file", ""


HELP = Opt(("-h", "--help"), "help", FLAG, help="show this help")
JSON = Opt(("--json",), "json", FLAG, help="print JSON instead of a table")


class Parsed:
    """Option values by dest (absent when not given; lists for MULTI) and the positionals."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.positionals: list[str] = []
        self.after_dashdash: list[str] = []

    def get(self, dest: str, default: Any = None) -> Any:
        return self.values.get(dest, default)


def _convert(cmd: Command, opt: Opt, raw: str) -> Any:
    if opt.choices and raw not in opt.choices:
        raise UsageError(f"flow {cmd.name}: {opt.names[-1]} must be one of {', '.join(opt.choices)} (got {raw!r})")
    if opt.number:
        try:
            value: Any = int(raw) if opt.number == "int" else float(raw)
        except ValueError:
            raise UsageError(f"flow {cmd.name}: {opt.names[-1]} needs a number (got {raw!r})") from None
        return value
    return raw


def _unknown(cmd: Command, word: str) -> UsageError:
    from difflib import get_close_matches

    names = [n for o in cmd.options for n in o.names if n.startswith("--")]
    close = get_close_matches(word.split("=", 1)[0], names, n=1)
    hint = [f"Did you mean {close[0]}?"] if close else []
    return UsageError(f"flow {cmd.name}: unknown option {word}", hint + [f"`flow {cmd.name} --help` lists its options"])


def parse(cmd: Command, argv: list[str]) -> Parsed:
    by_name = {n: o for o in (*cmd.options, HELP) for n in o.names}
    out = Parsed()
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            out.after_dashdash = argv[i:]
            break
        if not word.startswith("-") or word == "-" or (word[1:2].isdigit() and word[1:].replace(".", "").isdigit()):
            out.positionals.append(word)
            continue
        value: str | None = None
        if word.startswith("--"):
            name, eq, rest = word.partition("=")
            if eq:
                value = rest
        else:
            name = word[:2]
            if len(word) > 2:
                value = word[2:]
        opt = by_name.get(name)
        if opt is None:
            raise _unknown(cmd, word)
        if opt.kind == FLAG:
            if value is not None and word.startswith("--"):
                raise UsageError(f"flow {cmd.name}: {name} takes no value")
            if value is not None:  # -fy: a cluster of short flags
                for ch in value:
                    more = by_name.get("-" + ch)
                    if more is None or more.kind != FLAG:
                        raise _unknown(cmd, "-" + ch)
                    out.values[more.dest] = True
            out.values[opt.dest] = True
            continue
        if value is None:
            if i >= len(argv):
                raise UsageError(f"flow {cmd.name}: {name} needs a value ({opt.metavar})")
            value = argv[i]
            i += 1
        converted = _convert(cmd, opt, value)
        if opt.kind == MULTI:
            out.values.setdefault(opt.dest, []).append(converted)
        else:
            out.values[opt.dest] = converted
    return out


def render_help(cmd: Command) -> str:
    lines = [f"usage: {cmd.usage}", "", cmd.summary, ""]
    rows = []
    for opt in (*cmd.options, HELP):
        spell = ", ".join(opt.names)
        if opt.kind != FLAG:
            spell += f" {opt.metavar}"
        rows.append((spell, opt.help + (" (repeatable)" if opt.kind == MULTI else "")))
    width = min(32, max(len(r[0]) for r in rows) + 2)
    lines.append("options:")
    for spell, text in rows:
        if len(spell) + 2 > width:
            lines.append(f"  {spell}")
            lines.append(f"  {'':{width}}{text}")
        else:
            lines.append(f"  {spell:{width}}{text}")
    if cmd.examples:
        lines += ["", "examples:"] + [f"  {e}" for e in cmd.examples]
    return "\n".join(lines) + "\n"
