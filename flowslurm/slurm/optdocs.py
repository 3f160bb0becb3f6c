"""Rendering the option tables for people: --help, --usage, man pages and the support matrix.

Split from `options` (the parser) so that a command's start-up never loads it: only `--help`,
`--usage` and `scripts/gen_docs.py` do.
"""

from __future__ import annotations

from operator import itemgetter

from flowslurm.slurm.options import BACKENDS, CommandSpec, Option, Support

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


class SupportRow(tuple):  # type: ignore[type-arg]
    """One line of the compatibility matrix in the docs (a named tuple written out, as `Support`)."""

    __slots__ = ()
    _fields = ("command", "option", "local", "local_note", "mithril", "mithril_note")

    def __new__(cls, command: str, option: str, local: str, local_note: str, mithril: str, mithril_note: str) -> SupportRow:
        return tuple.__new__(cls, (command, option, local, local_note, mithril, mithril_note))

    def __getnewargs__(self) -> tuple[str, ...]:
        return tuple(self)

    command = property(itemgetter(0))
    option = property(itemgetter(1))
    local = property(itemgetter(2))
    local_note = property(itemgetter(3))
    mithril = property(itemgetter(4))
    mithril_note = property(itemgetter(5))

    def __repr__(self) -> str:
        return "SupportRow(" + ", ".join(f"{n}={v!r}" for n, v in zip(self._fields, self)) + ")"


def support_matrix(specs: Iterable[CommandSpec]) -> list[SupportRow]:
    """Rows (command, option, level and note per backend) for every visible option of `specs`."""
    rows: list[SupportRow] = []
    for spec in specs:
        for opt in spec.options:
            loc = opt.support.get("local", Support("refused", "not described"))
            mit = opt.support.get("mithril", Support("refused", "not described"))
            rows.append(
                SupportRow(spec.name, opt.display, loc.level, loc.note, mit.level, mit.note)
            )
    return rows


# ---------------------------------------------------------------- help, usage and man pages


def _with_arg(text: str, opt: Option, sep: str) -> str:
    """`text` followed by the option's argument: '=meta', '[=meta]' (long) or ' meta' (short)."""
    if opt.arg == "required":
        return f"{text}{sep}{opt.metavar}"
    if opt.arg == "optional":
        return f"{text}[={opt.metavar}]" if sep == "=" else f"{text}[{opt.metavar}]"
    return text


def _gnu_left(opt: Option) -> str:
    """The left column of a GNU-style help line: '  -a, --array=indexes'."""
    if opt.long is None:
        return _with_arg(f"  -{opt.short}", opt, " ")
    long = _with_arg(f"--{opt.long}", opt, "=")
    return f"  -{opt.short}, {long}" if opt.short else f"      {long}"


def _gnu_line(spec: CommandSpec, opt: Option) -> str:
    """One help line, the text starting at spec.help_col (or after one blank if too wide)."""
    left = _gnu_left(opt)
    if len(left) < spec.help_col:
        return left.ljust(spec.help_col) + opt.help
    return f"{left} {opt.help}"


def _sacct_lines(opt: Option) -> list[str]:
    """sacct's help layout: '     -a, --allusers:' then the text indented on the next line."""
    names = [f"-{s}" for s in opt.short_names[:1]] + [f"--{n}" for n in opt.long_names]
    head = ", ".join(names)
    if opt.arg != "none":
        head = _with_arg(head, opt, "=")
    indent = "     " if opt.short else "         "
    return [f"{indent}{head}:", f"{'':19}{opt.help}"]


def _visible(spec: CommandSpec, group: str) -> list[Option]:
    """The options shown in --help under `group`, in table order."""
    return [o for o in spec.options if o.group == group and not o.hidden]


def render_help(spec: CommandSpec) -> str:
    """The --help text of `spec`, laid out as SLURM lays out that command's help."""
    if spec.help_style == "sacct":
        lines = [spec.usage_line, "    Valid <OPTION> values are:"]
        for opt in (o for o in spec.options if not o.hidden):
            lines += _sacct_lines(opt)
    else:
        lines = [f"Usage: {spec.usage_line}"]
        for title in spec.groups:
            opts = _visible(spec, title)
            if not opts:
                continue
            if title:
                lines += ["", f"{title}:"]
            lines += [_gnu_line(spec, o) for o in opts]
    if spec.help_footer:
        lines += ["", spec.help_footer]
    return "\n".join(lines) + "\n"


def _usage_items(spec: CommandSpec) -> list[str]:
    """The bracketed items of --usage; short flags without arguments are clustered at the end."""
    items: list[str] = []
    flags = ""
    for opt in spec.options:
        if opt.hidden:
            continue
        if opt.short and opt.arg == "none":
            flags += opt.short
        elif opt.short and opt.arg == "required":
            items.append(f"[-{opt.short} {opt.metavar}]")
        elif opt.long:
            items.append(f"[{_with_arg('--' + opt.long, opt, '=')}]")
    if flags:
        items.append(f"[-{flags}]")
    if spec.positional:
        items.append(spec.positional)
    return items


def render_usage(spec: CommandSpec, width: int = 80) -> str:
    """The --usage text: 'Usage: cmd [..] [..]' wrapped under the first item."""
    head = f"Usage: {spec.name} "
    lines: list[str] = []
    line = head
    for item in _usage_items(spec):
        if line.strip() != head.strip() and len(line) + len(item) > width:
            lines.append(line.rstrip())
            line = " " * len(head)
        line += item + " "
    lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def _roff(text: str) -> str:
    """Escape text for troff: backslashes, hyphens, and control characters at line starts."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + ln if ln[:1] in (".", "'") else ln for ln in out.split("\n"))


def _man_tag(opt: Option) -> str:
    """The .TP tag line naming an option and all its spellings."""
    names = [f"\\fB\\-{s}\\fR" for s in opt.short_names]
    names += [f"\\fB\\-\\-{_roff(n)}\\fR" for n in opt.long_names]
    tag = ", ".join(names)
    meta = f"\\fI{_roff(opt.metavar)}\\fR"
    if opt.arg == "required":
        tag += ("=" if opt.long_names else " ") + meta
    elif opt.arg == "optional":
        tag += f"[={meta}]"
    return tag


def _man_support(opt: Option) -> str:
    """'local: honoured (note); mithril: refused (note)' for the man page."""
    parts = []
    for backend in BACKENDS:
        sup = opt.support.get(backend, Support("refused", "not described"))
        parts.append(f"{backend}: {sup.level}" + (f" ({sup.note})" if sup.note else ""))
    return _roff("Backends: " + "; ".join(parts) + ".")


def render_man(spec: CommandSpec, section_intro: str) -> str:
    """A troff man page: NAME, SYNOPSIS, DESCRIPTION (`section_intro`), OPTIONS, BACKEND SUPPORT."""
    out = [
        f'.TH {spec.name.upper()} 1 "" "flowslurm" "flowslurm commands"',
        ".SH NAME",
        f"{spec.name} \\- {_roff(spec.summary)}",
        ".SH SYNOPSIS",
        f"\\fB{spec.name}\\fR [\\fIOPTIONS\\fR...] {_roff(spec.positional)}".rstrip(),
        ".SH DESCRIPTION",
    ]
    paragraphs = [p.strip() for p in section_intro.strip().split("\n\n") if p.strip()]
    for n, para in enumerate(paragraphs):
        if n:
            out.append(".PP")
        out.append(_roff(para))
    out.append(".SH OPTIONS")
    for opt in spec.options:
        out += [".TP", _man_tag(opt), _roff(opt.help or "(no description)"), ".br"]
        out.append(_man_support(opt))
    out += [
        '.SH "BACKEND SUPPORT"',
        _roff(
            "honoured: does what SLURM does; emulated: same visible effect by other means; "
            "warned: accepted with a warning and no effect; ignored: accepted with a warning "
            "(silenced by --quiet), no effect on this backend; refused: the submission fails with an error."
        ),
    ]
    return "\n".join(out) + "\n"
