"""Declarative SLURM option tables and a getopt_long-compatible parser driven by them.

Each command (sbatch, squeue, sacct, scancel) describes its options once, as a `CommandSpec` of
`Option`s (see the `opts_<command>` modules). The same table drives:

- `parse_args`: glibc getopt_long semantics as SLURM 22.05 uses them (unique prefixes of long
  names, `--opt=v` / `--opt v`, optional arguments only via `=`, clustered short flags, `--`,
  "+" mode for sbatch, argument permutation for the others) with glibc's exact error texts;
- `optdocs`: --help, --usage, the man pages and the per-backend compatibility table.

Values in `ParsedArgs.values`: a string for an option with an argument (last one wins), a list
of strings for "append", an int for "count", True for "store_true", and None for an
optional-argument option given without an argument. Only options that were given appear.
"""

from __future__ import annotations

from flowslurm.errors import SlurmInputError
from flowslurm.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

    Validator = Callable[["Option", Any], None]

ARG_KINDS = ("none", "required", "optional")
ACTIONS = ("store", "append", "count", "store_true", "store_false")
SUPPORT_LEVELS = ("honoured", "emulated", "warned", "ignored", "refused")
BACKENDS = ("local", "mithril")


class Support(tuple):  # type: ignore[type-arg]
    """How one backend treats an option: a level from SUPPORT_LEVELS and a short note.

    A named tuple written out by hand (`typing.NamedTuple` costs every command start-up time)."""

    __slots__ = ()
    _fields = ("level", "note")

    def __new__(cls, level: str, note: str = "") -> Support:
        return tuple.__new__(cls, (level, note))

    def __getnewargs__(self) -> tuple[str, str]:
        return (self[0], self[1])

    @property
    def level(self) -> str:
        return self[0]  # type: ignore[no-any-return]

    @property
    def note(self) -> str:
        return self[1]  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Support(level={self[0]!r}, note={self[1]!r})"


def support(
    local: str, mithril: str, note: str = "", mithril_note: str | None = None
) -> dict[str, Support]:
    """Build an Option.support mapping; `note` serves both backends unless `mithril_note` says."""
    return {
        "local": Support(local, note),
        "mithril": Support(mithril, note if mithril_note is None else mithril_note),
    }


class Option(FrozenRecord):
    """One command-line option. Equality is identity: aliases share one Option, as in getopt.

    `hidden` options are accepted but left out of --help; `immediate` ones (--help, --version)
    end parsing when met; `extension` marks flowslurm additions, which a prefix reaches only
    when it matches no SLURM option (so SLURM's own prefixes behave exactly as in SLURM).
    Immutable; a plain class rather than a dataclass (see flowslurm.record).
    """

    __slots__ = ("long", "short", "arg", "metavar", "help", "action", "dest", "aliases", "short_aliases", "support",
                 "group", "hidden", "immediate", "extension")
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self,
        long: str | None,
        short: str | None = None,
        arg: str = "none",
        metavar: str = "",
        help: str = "",
        action: str = "store",
        dest: str = "",
        aliases: tuple[str, ...] = (),
        short_aliases: tuple[str, ...] = (),
        support: Mapping[str, Support] | None = None,
        group: str = "",
        hidden: bool = False,
        immediate: bool = False,
        extension: bool = False,
    ) -> None:
        if not dest:
            dest = (long or short or "").replace("-", "_")
        if arg not in ARG_KINDS:
            raise ValueError(f"bad arg kind {arg!r} for {long or short}")
        if action not in ACTIONS:
            raise ValueError(f"bad action {action!r} for {long or short}")
        init = object.__setattr__
        init(self, "long", long)
        init(self, "short", short)
        init(self, "arg", arg)
        init(self, "metavar", metavar)
        init(self, "help", help)
        init(self, "action", action)
        init(self, "dest", dest)
        init(self, "aliases", aliases)
        init(self, "short_aliases", short_aliases)
        init(self, "support", {} if support is None else support)
        init(self, "group", group)
        init(self, "hidden", hidden)
        init(self, "immediate", immediate)
        init(self, "extension", extension)

    if TYPE_CHECKING:
        long: str | None
        short: str | None
        arg: str
        metavar: str
        help: str
        action: str
        dest: str
        aliases: tuple[str, ...]
        short_aliases: tuple[str, ...]
        support: Mapping[str, Support]
        group: str
        hidden: bool
        immediate: bool
        extension: bool

    @property
    def long_names(self) -> tuple[str, ...]:
        """The primary long name followed by the aliases."""
        return ((self.long,) if self.long else ()) + self.aliases

    @property
    def short_names(self) -> tuple[str, ...]:
        """The primary short letter followed by the short aliases."""
        return ((self.short,) if self.short else ()) + self.short_aliases

    @property
    def display(self) -> str:
        """How docs name the option: '-a, --array' or '--bb' or '-U'."""
        parts = [f"-{s}" for s in self.short_names[:1]]
        parts += [f"--{n}" for n in self.long_names[:1]]
        return ", ".join(parts)


class CommandSpec(FrozenRecord):
    """A command's option table plus what the parser and the help renderer need to know.

    `options` is in --help order; `getopt_order` (all long names) is the order of SLURM's own
    getopt table, which decides how an ambiguous prefix is listed. `stops_at_first_positional`
    is getopt's "+" mode (sbatch). A bad option exits `bad_option_exit`, with SLURM's
    'Try "<cmd> --help"' line when `try_help`. `help_style` is "gnu" or "sacct"; `groups` are
    the --help section titles in order ("" = untitled), `help_col` where help text starts.
    Immutable, equal only to itself; a plain class rather than a dataclass (see flowslurm.record).
    """

    __slots__ = ("name", "options", "usage_line", "positional", "stops_at_first_positional", "summary", "groups",
                 "bad_option_exit", "try_help", "help_style", "help_col", "getopt_order", "help_footer",
                 "_long", "_short")
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self,
        name: str,
        options: tuple[Option, ...],
        usage_line: str,
        positional: str = "",
        stops_at_first_positional: bool = False,
        summary: str = "",
        groups: tuple[str, ...] = ("",),
        bad_option_exit: int = 1,
        try_help: bool = True,
        help_style: str = "gnu",
        help_col: int = 30,
        getopt_order: tuple[str, ...] = (),
        help_footer: str = "",
    ) -> None:
        init = object.__setattr__
        init(self, "name", name)
        init(self, "options", options)
        init(self, "usage_line", usage_line)
        init(self, "positional", positional)
        init(self, "stops_at_first_positional", stops_at_first_positional)
        init(self, "summary", summary)
        init(self, "groups", groups)
        init(self, "bad_option_exit", bad_option_exit)
        init(self, "try_help", try_help)
        init(self, "help_style", help_style)
        init(self, "help_col", help_col)
        init(self, "getopt_order", getopt_order)
        init(self, "help_footer", help_footer)
        by_name: dict[str, Option] = {}
        for opt in options:
            for long in opt.long_names:
                by_name[long] = opt
        order = getopt_order or tuple(by_name)
        init(self, "_long", tuple((n, by_name[n]) for n in order))
        init(self, "_short", {s: o for o in options for s in o.short_names})

    if TYPE_CHECKING:
        name: str
        options: tuple[Option, ...]
        usage_line: str
        positional: str
        stops_at_first_positional: bool
        summary: str
        groups: tuple[str, ...]
        bad_option_exit: int
        try_help: bool
        help_style: str
        help_col: int
        getopt_order: tuple[str, ...]
        help_footer: str
        _long: tuple[tuple[str, Option], ...]
        _short: dict[str, Option]

    def find_long(self, name: str) -> Option | None:
        """The option whose long name (or alias) is exactly `name`."""
        for n, opt in self._long:
            if n == name:
                return opt
        return None

    def find_short(self, letter: str) -> Option | None:
        """The option with short letter `letter` (or a short alias)."""
        return self._short.get(letter)

    def by_dest(self, dest: str) -> Option | None:
        """The first option storing into `dest`."""
        for opt in self.options:
            if opt.dest == dest:
                return opt
        return None


class ParsedArgs:
    """The outcome of parse_args. `stopped_by` is the immediate option (--help...) that ended it.

    A plain class rather than a dataclass: it is built on every command start.
    """

    __slots__ = ("values", "given", "positionals", "stopped_by")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.given: list[tuple[Option, Any]] = []
        self.positionals: list[str] = []
        self.stopped_by: Option | None = None

    def __repr__(self) -> str:
        return (f"ParsedArgs(values={self.values!r}, positionals={self.positionals!r}, "
                f"stopped_by={self.stopped_by and self.stopped_by.display!r})")

    def has(self, dest: str) -> bool:
        """Whether an option storing into `dest` was given."""
        return dest in self.values

    def get(self, dest: str, default: Any = None) -> Any:
        """The value stored for `dest`, or `default` when it was not given."""
        return self.values.get(dest, default)



def _fail(spec: CommandSpec, text: str) -> SlurmInputError:
    """A parse error in SLURM's words: glibc's line, then (for most commands) the hint."""
    message = f"{spec.name}: {text}"
    if spec.try_help:
        message += f'\nTry "{spec.name} --help" for more information'
    return SlurmInputError(message, spec.bad_option_exit)


def record(result: ParsedArgs, opt: Option, value: Any) -> None:
    """Store one occurrence of `opt` according to its action; `given` keeps the raw value."""
    result.given.append((opt, value))
    if opt.action == "count":
        result.values[opt.dest] = int(result.values.get(opt.dest, 0)) + 1
    elif opt.action in ("store_true", "store_false"):
        result.values[opt.dest] = opt.action == "store_true"
    elif opt.action == "append":
        result.values[opt.dest] = [*result.values.get(opt.dest, []), value]
    else:
        result.values[opt.dest] = value


def _match_long(spec: CommandSpec, word: str) -> tuple[str, Option]:
    """Resolve `word` (the text after '--', maybe with '=value') as glibc does."""
    name = word.split("=", 1)[0]
    for full, opt in spec._long:
        if full == name:
            return full, opt
    matches = [(f, o) for f, o in spec._long if f.startswith(name) and not o.extension]
    if not matches:
        matches = [(f, o) for f, o in spec._long if f.startswith(name)]
    if not matches:
        raise _fail(spec, f"unrecognized option '--{word}'")
    first = matches[0]
    # glibc compares each further match with the first one only: rows sharing has_arg, flag
    # and val (one Option here) do not make a prefix ambiguous.
    ambiguous = [first[0]] + [f for f, o in matches[1:] if o is not first[1]]
    if len(ambiguous) > 1:
        listed = " ".join(f"'--{n}'" for n in ambiguous)
        raise _fail(spec, f"option '--{word}' is ambiguous; possibilities: {listed}")
    return first


def _long_option(spec: CommandSpec, argv: list[str], i: int) -> tuple[int, Option, Any]:
    """Process argv[i], a '--name[=value]' word; return the next index, the option and its value."""
    word = argv[i][2:]
    full, opt = _match_long(spec, word)
    i += 1
    if "=" in word:
        if opt.arg == "none":
            raise _fail(spec, f"option '--{full}' doesn't allow an argument")
        return i, opt, word.split("=", 1)[1]
    if opt.arg == "required":
        if i >= len(argv):
            raise _fail(spec, f"option '--{full}' requires an argument")
        return i + 1, opt, argv[i]
    return i, opt, None


def _short_options(
    spec: CommandSpec,
    argv: list[str],
    i: int,
    handle: Callable[[Option, Any], bool],
) -> int:
    """Process a cluster of short options in argv[i]; return the next index to look at."""
    word = argv[i]
    pos = 1
    i += 1
    while pos < len(word):
        letter = word[pos]
        pos += 1
        opt = spec.find_short(letter) if letter not in ":;-" else None
        if opt is None:
            raise _fail(spec, f"invalid option -- '{letter}'")
        value: Any = None
        if opt.arg != "none":
            if pos < len(word):
                value, pos = word[pos:], len(word)
            elif opt.arg == "required":
                if i >= len(argv):
                    raise _fail(spec, f"option requires an argument -- '{letter}'")
                value = argv[i]
                i += 1
        if handle(opt, value):
            return -1
    return i


def parse_args(
    spec: CommandSpec,
    argv: Iterable[str],
    *,
    validate: Validator | None = None,
    immediate: bool = True,
) -> ParsedArgs:
    """Parse `argv` (without the program name) against `spec` like SLURM's getopt_long loop.

    `validate(option, value)` is called for each option as it is met, so a value error raised
    there comes before a getopt error later on the line, as in SLURM. With `immediate`, an
    option marked immediate (--help, --version...) ends parsing at once and is returned in
    `stopped_by`; the rest of argv is not looked at. Raises SlurmInputError.
    """
    args = list(argv)
    result = ParsedArgs()

    def handle(opt: Option, value: Any) -> bool:
        if validate is not None:
            validate(opt, value)
        record(result, opt, value)
        if immediate and opt.immediate:
            result.stopped_by = opt
            return True
        return False

    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            result.positionals.extend(args[i + 1 :])
            break
        if word.startswith("--"):
            i, opt, value = _long_option(spec, args, i)
            if handle(opt, value):
                break
        elif word.startswith("-") and len(word) > 1:
            i = _short_options(spec, args, i, handle)
            if i < 0:
                break
        elif spec.stops_at_first_positional:
            result.positionals.extend(args[i:])
            break
        else:
            result.positionals.append(word)
            i += 1
    return result


def env_argv(spec: CommandSpec, input_env: dict[str, str], environ: dict[str, str],
             skip: frozenset[str] = frozenset()) -> list[str]:
    """A command's input environment variables (SBATCH_*, SLURM_*, SALLOC_*) as the options they stand for."""
    argv = []
    for var, long in input_env.items():
        if var in environ and var not in skip:
            opt = spec.find_long(long)
            argv.append(f"--{long}" if opt is not None and opt.arg == "none" else f"--{long}={environ[var]}")
    return argv


# ---------------------------------------------------------------- building tables

VIEW = support("honoured", "honoured")
NO_FED = support("ignored", "ignored", "no federation: only the local cluster exists")
CLUSTER = support("emulated", "emulated", "only the local cluster exists; its own name is accepted")
HELP = "Help options"


def row_maker(default: dict[str, Support]) -> Callable[..., Option]:
    """A shorthand for a table's rows: (long, short, arg, metavar, help[, support], **keywords)."""

    def row(long: str | None, short: str | None, arg: str, meta: str, text: str,
            sup: dict[str, Support] = default, **kw: Any) -> Option:
        return Option(long, short, arg, meta, text, support=sup, **kw)

    return row
